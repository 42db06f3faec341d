using Sync.Testing.Process;

namespace Sync.Sinks.Tests.Elasticsearch;

/// <summary>The Elasticsearch sink's reconnect signal (<see cref="IReconnectingSink"/>): raised when
/// the cluster answers again after a request got no answer or a 502-504, which is what a node
/// restarted (perhaps restored from a snapshot) looks like from the client; the materializers then
/// read their checkpoint back at once. The 503 is the fake's <c>unavailable_shards_exception</c>,
/// the answer of a node whose primaries are not active yet (FakeElasticsearchFaults).</summary>
public sealed class ElasticsearchReconnectSignalTests
{
    [Fact]
    public async Task A_cluster_answering_again_after_a_503_raises_the_signal_once()
    {
        await using var h = await ElasticsearchTestHarness.CreateAsync();
        var signals = 0;
        h.ElasticsearchSink.Reconnected += () => Interlocked.Increment(ref signals);
        h.Fake.Faults.FailNextRequests(1, 503, "/_doc/");

        await h.Sink.LoadCheckpointAsync("m1", CancellationToken.None);
        await Poll.UntilAsync(() => Volatile.Read(ref signals) == 1, TimeSpan.FromSeconds(30));
        await h.Sink.LoadCheckpointAsync("m1", CancellationToken.None);

        Assert.Equal(1, h.Fake.Faults.Fired("request"));
        Assert.Equal(1, Volatile.Read(ref signals));
    }

    [Fact]
    public async Task A_busy_cluster_is_answering_and_raises_no_signal()
    {
        await using var h = await ElasticsearchTestHarness.CreateAsync();
        var signals = 0;
        h.ElasticsearchSink.Reconnected += () => Interlocked.Increment(ref signals);
        h.Fake.Faults.FailNextRequests(2, 429, "/_doc/");

        // The outcome of every request is seen before the call returns.
        await h.Sink.LoadCheckpointAsync("m1", CancellationToken.None);

        Assert.Equal(2, h.Fake.Faults.Fired("request"));
        Assert.Equal(0, Volatile.Read(ref signals));
    }

    [Fact]
    public async Task An_idle_sink_asks_a_cluster_that_stopped_answering_until_it_answers()
    {
        await using var h = await ElasticsearchTestHarness.CreateAsync(o =>
        {
            o.Retry = o.Retry with { MaxAttempts = 1 };
            return o;
        });
        var signals = 0;
        h.ElasticsearchSink.Reconnected += () => Interlocked.Increment(ref signals);
        h.Fake.Faults.FailNextRequests(3, 503);

        // One request of the sink's, which gives up at once; the two other failures and the answer
        // are the sink's own probes.
        await Assert.ThrowsAsync<SinkUnavailableException>(async () => await h.Sink.LoadCheckpointAsync("m1", CancellationToken.None));
        await Poll.UntilAsync(() => Volatile.Read(ref signals) == 1, TimeSpan.FromSeconds(30));

        Assert.Equal(3, h.Fake.Faults.Fired("request"));
        Assert.Contains(h.Fake.Requests, r => r == "GET /" || r.StartsWith("GET /?", StringComparison.Ordinal));
    }
}
