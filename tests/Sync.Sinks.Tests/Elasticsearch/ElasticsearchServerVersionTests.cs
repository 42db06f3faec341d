using Sync.Sinks;

namespace Sync.Sinks.Tests.Elasticsearch;

/// <summary>The 9.x client sends compatible-with=9 (elastic-transport-net
/// src/Elastic.Transport/Products/Elasticsearch/ElasticsearchProductRegistration.cs); a server accepts
/// only its own major and the one before (elasticsearch
/// server/src/main/java/org/elasticsearch/rest/RestCompatibleVersionHelper.java), so an 8.x cluster
/// refuses every request: the sink says so when it opens, with the version and the way out.</summary>
public sealed class ElasticsearchServerVersionTests
{
    [Fact]
    public async Task An_8x_cluster_is_refused_at_open_with_its_version_and_what_to_do()
    {
        await using var fake = FakeElasticsearch.Start(new FakeElasticsearchOptions { ServerVersion = "8.19.3" });
        var options = new ElasticsearchSinkOptions { Urls = [fake.Url.ToString()] };

        var refused = await Assert.ThrowsAsync<SinkFatalException>(() => ElasticsearchSink.OpenAsync("es", options, CancellationToken.None));

        Assert.Contains("is Elasticsearch 8.x", refused.Message, StringComparison.Ordinal);
        Assert.Contains("but found 9", refused.Message, StringComparison.Ordinal);
        Assert.Contains("use an Elasticsearch 9.x cluster", refused.Message, StringComparison.Ordinal);
        Assert.Equal(["GET /"], fake.Requests);
        Assert.Empty(fake.IndexNames);
    }

    [Fact]
    public async Task A_9x_cluster_opens_and_the_version_is_asked_once()
    {
        await using var fake = FakeElasticsearch.Start(new FakeElasticsearchOptions { ServerVersion = "9.0.0" });

        // The idle probe asks GET / as well, later (ElasticsearchReconnectSignalTests): off here.
        var options = new ElasticsearchSinkOptions { Urls = [fake.Url.ToString()], IdleProbeInterval = TimeSpan.Zero };

        await using var sink = await ElasticsearchSink.OpenAsync("es", options, CancellationToken.None);

        Assert.Equal("GET /", fake.Requests[0]);
        Assert.Single(fake.Requests, r => r == "GET /");
    }
}
