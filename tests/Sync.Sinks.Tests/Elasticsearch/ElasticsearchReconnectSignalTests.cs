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

    /// <summary>Another cluster answers at the sink's address (a new cluster a snapshot was restored
    /// into): no request fails, but <c>GET /</c> gives another <c>cluster_uuid</c>, "the responding
    /// cluster's uuid as confirmed by cluster state"
    /// (https://www.elastic.co/guide/en/elasticsearch/reference/current/rest-api-root.html). The idle
    /// sink asks it on its own, on its clock (moved here).</summary>
    [Fact]
    public async Task An_idle_sink_signals_another_cluster_answering_at_its_address()
    {
        await using var fake = FakeElasticsearch.Start();
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 12, 7, 1, 0, 0, TimeSpan.Zero));
        await using var sink = await ElasticsearchSink.OpenAsync("es", IdleProbing(fake), time, CancellationToken.None);
        var signals = 0;
        sink.Reconnected += () => Interlocked.Increment(ref signals);

        fake.ClusterUuid = "YW5vdGhlci1jbHVzdGVy";
        await Poll.UntilAsync(
            () =>
            {
                time.Advance(TimeSpan.FromSeconds(5));
                return Volatile.Read(ref signals) == 1;
            },
            TimeSpan.FromSeconds(60));

        Assert.True(fake.Requests.Count(r => r == "GET /") >= 2, "asked at open and by the idle probe");
    }

    /// <summary>The node goes down while the sink is idle (every connection reset, no HTTP status) and
    /// comes back at the same address: the idle probe finds it gone, the sink asks until it answers,
    /// and the answer is the signal.</summary>
    [Fact]
    public async Task An_idle_sink_signals_a_node_that_went_down_and_came_back()
    {
        await using var fake = FakeElasticsearch.Start();
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 12, 7, 1, 0, 0, TimeSpan.Zero));
        await using var sink = await ElasticsearchSink.OpenAsync("es", IdleProbing(fake), time, CancellationToken.None);
        var signals = 0;
        sink.Reconnected += () => Interlocked.Increment(ref signals);

        await fake.GoDownAsync();
        await Poll.UntilAsync(
            () =>
            {
                time.Advance(TimeSpan.FromSeconds(5));
                return fake.ResetConnections >= 2;
            },
            TimeSpan.FromSeconds(60));
        Assert.Equal(0, Volatile.Read(ref signals));
        await fake.ComeBackAsync();
        await Poll.UntilAsync(
            () =>
            {
                time.Advance(TimeSpan.FromSeconds(5));
                return Volatile.Read(ref signals) >= 1;
            },
            TimeSpan.FromSeconds(60));

        Assert.Equal(1, Volatile.Read(ref signals));
    }

    private static ElasticsearchSinkOptions IdleProbing(FakeElasticsearch fake) => new()
    {
        Urls = [fake.Url.ToString()],
        Retry = new RetryPolicy { InitialDelay = TimeSpan.FromSeconds(1), MaxDelay = TimeSpan.FromSeconds(4), MaxAttempts = 3 },
        IdleProbeInterval = TimeSpan.FromSeconds(5),
    };
}
