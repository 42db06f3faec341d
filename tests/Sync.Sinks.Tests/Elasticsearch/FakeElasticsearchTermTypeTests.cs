using System.Net;
using System.Text.Json.Nodes;

namespace Sync.Sinks.Tests.Elasticsearch;

/// <summary>A term query whose value the field's mapped type cannot parse: Elasticsearch cannot build
/// the query on the shard and answers 400 (query_shard_exception "failed to create query", caused by
/// number_format_exception "For input string: …", under search_phase_execution_exception "all shards
/// failed"; bodies quoted in elastic/elasticsearch#16638 and Smile-SA/elasticsuite#1034). Valid values,
/// and fields the index does not map, are answered as before.</summary>
public sealed class FakeElasticsearchTermTypeTests
{
    private static async Task<(HttpStatusCode Status, JsonNode? Body)> SendAsync(FakeElasticsearch fake, HttpMethod method, string path, string? json = null)
    {
        using var http = new HttpClient { BaseAddress = fake.Url };
        using var request = new HttpRequestMessage(method, path) { Content = json is null ? null : new StringContent(json, Encoding.UTF8, "application/json") };
        using var response = await http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, string.IsNullOrEmpty(text) ? null : JsonNode.Parse(text));
    }

    [Theory]
    [InlineData("_search")]
    [InlineData("_count")]
    [InlineData("_delete_by_query")]
    public async Task A_terms_query_with_text_on_a_long_field_is_a_400_that_names_the_value(string endpoint)
    {
        await using var fake = FakeElasticsearch.Start();
        await SendAsync(fake, HttpMethod.Put, "people", """{"mappings":{"properties":{"id":{"type":"long"},"name":{"type":"keyword"}}}}""");
        await SendAsync(fake, HttpMethod.Put, "people/_doc/1?refresh=true", """{"id":1,"name":"ada"}""");

        var (status, body) = await SendAsync(fake, HttpMethod.Post, $"people/{endpoint}", """{"query":{"terms":{"id":[1,"ada@example.com"]}}}""");

        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal(400, body!["status"]!.GetValue<int>());
        Assert.Equal("search_phase_execution_exception", body["error"]!["type"]!.GetValue<string>());
        var root = body["error"]!["root_cause"]![0]!;
        Assert.Equal("query_shard_exception", root["type"]!.GetValue<string>());
        Assert.StartsWith("failed to create query", root["reason"]!.GetValue<string>(), StringComparison.Ordinal);
        var shard = body["error"]!["failed_shards"]![0]!["reason"]!;
        Assert.Equal("number_format_exception", shard["caused_by"]!["type"]!.GetValue<string>());
        Assert.Equal("For input string: \"ada@example.com\"", shard["caused_by"]!["reason"]!.GetValue<string>());
    }

    [Fact]
    public async Task An_empty_index_refuses_the_query_too_and_valid_or_unmapped_terms_still_answer_200()
    {
        await using var fake = FakeElasticsearch.Start();
        await SendAsync(fake, HttpMethod.Put, "flags", """{"mappings":{"properties":{"on":{"type":"boolean"},"n":{"type":"integer"}}}}""");

        Assert.Equal(HttpStatusCode.BadRequest, (await SendAsync(fake, HttpMethod.Post, "flags/_count", """{"query":{"term":{"on":"yes"}}}""")).Status);
        Assert.Equal(HttpStatusCode.BadRequest, (await SendAsync(fake, HttpMethod.Post, "flags/_count", """{"query":{"bool":{"filter":[{"term":{"n":{"value":"x"}}}]}}}""")).Status);
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(fake, HttpMethod.Post, "flags/_count", """{"query":{"terms":{"n":["7",8]}}}""")).Status);
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(fake, HttpMethod.Post, "flags/_count", """{"query":{"term":{"on":"true"}}}""")).Status);
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(fake, HttpMethod.Post, "flags/_count", """{"query":{"term":{"unmapped":"x"}}}""")).Status);
    }
}
