using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Sync.Testing.Pulsar;

namespace Sync.Sinks.Tests.Elasticsearch;

/// <summary>The fake's points in time, in the points the real server defines them
/// (https://www.elastic.co/docs/api/doc/elasticsearch/operation/operation-open-point-in-time,
/// https://www.elastic.co/docs/api/doc/elasticsearch/operation/operation-close-point-in-time,
/// https://www.elastic.co/docs/reference/elasticsearch/rest-apis/paginate-search-results#search-after).</summary>
public sealed class FakeElasticsearchPointInTimeTests : IAsyncLifetime
{
    private readonly ManualTimeProvider _clock = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
    private FakeElasticsearch _fake = null!;
    private HttpClient _http = null!;

    public async Task InitializeAsync()
    {
        _fake = FakeElasticsearch.Start(new FakeElasticsearchOptions { Time = _clock });
        _http = new HttpClient { BaseAddress = _fake.Url };
        for (var id = 1; id <= 5; id++)
        {
            (await _http.PutAsJsonAsync($"items/_doc/{id}?refresh=true", new { id })).EnsureSuccessStatusCode();
        }
    }

    public async Task DisposeAsync()
    {
        _http.Dispose();
        await _fake.DisposeAsync();
    }

    private async Task<(HttpStatusCode Status, JsonObject Body)> SendAsync(HttpMethod method, string path, object? body = null)
    {
        using var request = new HttpRequestMessage(method, path) { Content = body is null ? null : JsonContent.Create(body) };
        using var response = await _http.SendAsync(request);
        return (response.StatusCode, JsonNode.Parse(await response.Content.ReadAsStringAsync())!.AsObject());
    }

    private async Task<string> OpenAsync(string keepAlive = "1m")
    {
        var (status, body) = await SendAsync(HttpMethod.Post, $"items/_pit?keep_alive={keepAlive}");
        Assert.Equal(HttpStatusCode.OK, status);
        return body["id"]!.GetValue<string>();
    }

    private static object Page(string pit, long? after, int size = 2) => after is { } a
        ? new { size, pit = new { id = pit, keep_alive = "1m" }, sort = new object[] { new { _shard_doc = "asc" } }, search_after = new[] { a } }
        : new { size, pit = new { id = pit, keep_alive = "1m" }, sort = new object[] { new { _shard_doc = "asc" } } };

    [Fact]
    public async Task Search_after_pages_through_the_view_the_point_in_time_kept()
    {
        var pit = await OpenAsync();
        (await _http.PutAsJsonAsync("items/_doc/6?refresh=true", new { id = 6 })).EnsureSuccessStatusCode();
        (await _http.DeleteAsync("items/_doc/1?refresh=true")).EnsureSuccessStatusCode();

        var ids = new List<string>();
        long? after = null;
        while (true)
        {
            var (status, body) = await SendAsync(HttpMethod.Post, "_search", Page(pit, after));
            Assert.Equal(HttpStatusCode.OK, status);
            Assert.Equal(pit, body["pit_id"]!.GetValue<string>());
            var hits = body["hits"]!["hits"]!.AsArray();
            if (hits.Count == 0)
            {
                break;
            }

            Assert.All(hits, hit => Assert.Null(hit!["_score"]));
            ids.AddRange(hits.Select(hit => hit!["_id"]!.GetValue<string>()));
            after = hits[^1]!["sort"]![0]!.GetValue<long>();
        }

        Assert.Equal(["1", "2", "3", "4", "5"], ids);
    }

    [Fact]
    public async Task A_search_of_a_point_in_time_may_not_name_an_index()
    {
        var pit = await OpenAsync();

        var (status, body) = await SendAsync(HttpMethod.Post, "items/_search", Page(pit, null));

        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal("action_request_validation_exception", body["error"]!["type"]!.GetValue<string>());
        Assert.Contains("[indices] cannot be used with point in time", body["error"]!["reason"]!.GetValue<string>(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_point_in_time_expires_after_its_keep_alive_which_each_search_extends_and_is_gone_once_closed()
    {
        var pit = await OpenAsync("1m");
        _clock.Advance(TimeSpan.FromSeconds(50));
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Post, "_search", Page(pit, null))).Status);
        _clock.Advance(TimeSpan.FromSeconds(50));
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Post, "_search", Page(pit, null))).Status);
        _clock.Advance(TimeSpan.FromSeconds(61));

        var (status, body) = await SendAsync(HttpMethod.Post, "_search", Page(pit, null));

        Assert.Equal(HttpStatusCode.NotFound, status);
        Assert.Equal("search_context_missing_exception", body["error"]!["type"]!.GetValue<string>());
        var closed = await OpenAsync();
        Assert.Equal(1, _fake.OpenPointsInTime);
        var (closeStatus, close) = await SendAsync(HttpMethod.Delete, "_pit", new { id = closed });
        Assert.Equal(HttpStatusCode.OK, closeStatus);
        Assert.Equal(1, close["num_freed"]!.GetValue<int>());
        Assert.True(close["succeeded"]!.GetValue<bool>());
        Assert.Equal(0, (await SendAsync(HttpMethod.Delete, "_pit", new { id = closed })).Body["num_freed"]!.GetValue<int>());
        Assert.Equal(HttpStatusCode.NotFound, (await SendAsync(HttpMethod.Post, "_search", Page(closed, null))).Status);
        Assert.Equal(0, _fake.OpenPointsInTime);
    }

    [Fact]
    public async Task Opening_needs_a_keep_alive_and_an_existing_index_unless_unavailable_ones_are_ignored()
    {
        Assert.Equal(HttpStatusCode.BadRequest, (await SendAsync(HttpMethod.Post, "items/_pit")).Status);
        Assert.Equal(HttpStatusCode.NotFound, (await SendAsync(HttpMethod.Post, "absent/_pit?keep_alive=1m")).Status);
        var (status, body) = await SendAsync(HttpMethod.Post, "absent/_pit?keep_alive=1m&ignore_unavailable=true");
        Assert.Equal(HttpStatusCode.OK, status);
        var (_, page) = await SendAsync(HttpMethod.Post, "_search", Page(body["id"]!.GetValue<string>(), null));
        Assert.Empty(page["hits"]!["hits"]!.AsArray());
    }
}
