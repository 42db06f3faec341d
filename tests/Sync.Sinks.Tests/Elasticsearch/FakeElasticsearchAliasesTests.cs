using System.Net;

namespace Sync.Sinks.Tests.Elasticsearch;

/// <summary>The fake's <c>POST /_aliases</c> behaves as the documented API: all actions or none,
/// <c>remove_index</c> first, alias and index names never shared.</summary>
public sealed class FakeElasticsearchAliasesTests
{
    private static async Task<HttpStatusCode> SendAsync(FakeElasticsearch fake, HttpMethod method, string path, string? json = null)
    {
        using var http = new HttpClient { BaseAddress = fake.Url };
        using var request = new HttpRequestMessage(method, path) { Content = json is null ? null : new StringContent(json, Encoding.UTF8, "application/json") };
        using var response = await http.SendAsync(request);
        return response.StatusCode;
    }

    [Fact]
    public async Task Remove_index_runs_before_add_so_an_index_can_become_an_alias_of_its_own_name()
    {
        await using var fake = FakeElasticsearch.Start();
        await SendAsync(fake, HttpMethod.Put, "users");
        await SendAsync(fake, HttpMethod.Put, "users-g1");

        var status = await SendAsync(fake, HttpMethod.Post, "_aliases", """{"actions":[{"add":{"index":"users-g1","alias":"users"}},{"remove_index":{"index":"users"}}]}""");

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(["users-g1"], fake.IndexNames);
        Assert.Equal(["users"], fake.Aliases("users-g1"));
    }

    [Fact]
    public async Task A_failing_action_leaves_every_alias_and_index_as_it_was()
    {
        await using var fake = FakeElasticsearch.Start();
        await SendAsync(fake, HttpMethod.Put, "users-g1");
        await SendAsync(fake, HttpMethod.Put, "users-g2");
        await SendAsync(fake, HttpMethod.Post, "_aliases", """{"actions":[{"add":{"index":"users-g1","alias":"users"}}]}""");

        var status = await SendAsync(fake, HttpMethod.Post, "_aliases", """{"actions":[{"remove":{"index":"users-g1","alias":"users"}},{"add":{"index":"users-g2","alias":"users"}},{"remove_index":{"index":"missing"}}]}""");

        Assert.Equal(HttpStatusCode.NotFound, status);
        Assert.Equal(["users"], fake.Aliases("users-g1"));
        Assert.Empty(fake.Aliases("users-g2"));
    }

    [Fact]
    public async Task An_alias_cannot_take_the_name_of_an_index_and_an_index_cannot_take_the_name_of_an_alias()
    {
        await using var fake = FakeElasticsearch.Start();
        await SendAsync(fake, HttpMethod.Put, "users");
        await SendAsync(fake, HttpMethod.Put, "users-g1");

        Assert.Equal(HttpStatusCode.BadRequest, await SendAsync(fake, HttpMethod.Post, "_aliases", """{"actions":[{"add":{"index":"users-g1","alias":"users"}}]}"""));
        Assert.Equal(HttpStatusCode.OK, await SendAsync(fake, HttpMethod.Post, "_aliases", """{"actions":[{"add":{"index":"users-g1","alias":"people"}}]}"""));
        Assert.Equal(HttpStatusCode.BadRequest, await SendAsync(fake, HttpMethod.Put, "people"));
        Assert.Equal(HttpStatusCode.BadRequest, await SendAsync(fake, HttpMethod.Post, "_aliases", """{"actions":[{"remove_index":{"index":"people"}}]}"""));
    }
}
