using StackExchange.Redis;
using Xunit.Abstractions;
using StreamPosition = Sync.Engine.Changes.StreamPosition;

namespace Sync.Sinks.Tests.Redis;

/// <summary>The Redis sink through cluster events, each on a cluster of the test's own
/// (<see cref="RedisOwnCluster"/>): a resharding while batches are written, a primary killed mid-run
/// and failed over to its replica, and a primary killed before its replica received the last writes —
/// on a primary holding rows (the batch is not checkpointed until every other primary's replicas hold
/// it) and on the checkpoint's own primary (a sink gone back in time, which the rollback check finds).
/// Batches are applied as the runtime applies them: with their checkpoint, again after the sink gave
/// up on one, and from the stored checkpoint after a rollback.</summary>
public sealed class RedisClusterEventTests(ITestOutputHelper output)
{
    private const string Materializer = "events";

    [RedisClusterFact]
    public async Task A_resharding_while_batches_are_written_ends_in_the_exact_state_with_bounded_retries()
    {
        await using var cluster = await RedisOwnCluster.StartAsync();
        await using var run = await Run.StartAsync(cluster);
        for (var i = 0; i < 20; i++)
        {
            await run.ApplyAsync(run.NextBatch());
        }

        var primaries = (await cluster.TopologyAsync()).Where(n => n.IsPrimary).OrderBy(n => n.Address, StringComparer.Ordinal).ToArray();
        var reshard = cluster.ReshardAsync(primaries[0].Id, primaries[1].Id, slots: 2000);
        var during = 0;
        while (!reshard.IsCompleted)
        {
            await run.ApplyAsync(run.NextBatch());
            during++;
        }

        var resharded = await reshard;
        Assert.True(resharded.ExitCode == 0, resharded.ToString());
        for (var i = 0; i < 10; i++)
        {
            await run.ApplyAsync(run.NextBatch());
        }

        var after = await cluster.TopologyAsync();
        Assert.Equal(primaries[1].Slots + 2000, after.Single(n => n.Id == primaries[1].Id).Slots);
        Assert.True(during > 0, "no batch was written while the slots moved");
        await run.AssertExactAsync();
        output.WriteLine($"{during} batches of 20 written while 2000 slots moved; {run.Retries.Count} retries reported");
    }

    [RedisClusterFact]
    public async Task A_node_added_and_given_slots_while_batches_are_written_serves_its_rows_and_the_state_ends_exact()
    {
        await using var cluster = await RedisOwnCluster.StartAsync();
        await using var run = await Run.StartAsync(cluster);
        for (var i = 0; i < 10; i++)
        {
            await run.ApplyAsync(run.NextBatch());
        }

        var added = await cluster.AddNodeAsync();
        for (var i = 0; i < 10; i++)
        {
            await run.ApplyAsync(run.NextBatch());
        }

        var topology = await cluster.TopologyAsync();
        var from = topology.Where(n => n.IsPrimary && n.Slots > 0).OrderBy(n => n.Address, StringComparer.Ordinal).First();
        var reshard = cluster.ReshardAsync(from.Id, topology.Single(n => n.Address == added).Id, slots: 1000);
        while (!reshard.IsCompleted)
        {
            await run.ApplyAsync(run.NextBatch());
        }

        var resharded = await reshard;
        Assert.True(resharded.ExitCode == 0, resharded.ToString());
        await run.ApplyAsync(run.NextBatch());
        Assert.Equal(1000, (await cluster.TopologyAsync()).Single(n => n.Address == added).Slots);
        Assert.NotEmpty(await run.ServedByAsync(added));
        await run.AssertExactAsync();
    }

    [RedisClusterFact]
    public async Task A_primary_killed_mid_batch_is_failed_over_to_its_replica_and_the_run_ends_in_the_exact_state()
    {
        await using var cluster = await RedisOwnCluster.StartAsync();
        await using var run = await Run.StartAsync(cluster);
        for (var i = 0; i < 10; i++)
        {
            await run.ApplyAsync(run.NextBatch());
        }

        // A primary other than the checkpoint's: the batch's WAIT on the other primaries is what keeps
        // its rows. Losing the checkpoint's own primary takes the checkpoint back with the rows, which
        // the run's rollback check heals (the test of the checkpoint's primary below); this test has
        // no run to heal it, so killing that primary here made it fail whenever replication lagged.
        var topology = await cluster.TopologyAsync();
        var checkpointPrimary = await run.CheckpointPrimaryAsync();
        var primary = topology.Where(n => n.IsPrimary && n.Address != checkpointPrimary).OrderBy(n => n.Address, StringComparer.Ordinal).First();
        var replica = topology.Single(n => n.PrimaryId == primary.Id);
        var inFlight = run.ApplyAsync(run.NextBatch());
        await cluster.SignalAsync(primary.Address, "KILL");
        await inFlight;

        // The cluster promotes the replica by itself (node timeout 2 s, scripts/lib/redis-cluster.sh).
        var failover = cluster.WaitForPrimaryAsync(replica.Address);
        while (!failover.IsCompleted)
        {
            await run.ApplyAsync(run.NextBatch());
        }

        await failover;
        for (var i = 0; i < 10; i++)
        {
            await run.ApplyAsync(run.NextBatch());
        }

        await run.AssertExactAsync();
        Assert.NotEmpty(run.Retries);
        output.WriteLine($"{run.Retries.Count} retries reported, {run.GaveUp} batches given up by the sink and sent again");
    }

    [RedisClusterFact]
    public async Task A_primary_killed_before_its_replica_had_the_batch_leaves_the_batch_unacknowledged_and_its_retry_restores_the_rows()
    {
        await using var cluster = await RedisOwnCluster.StartAsync();
        await using var run = await Run.StartAsync(cluster, maxAttempts: 2);
        for (var i = 0; i < 5; i++)
        {
            await run.ApplyAsync(run.NextBatch());
        }

        var checkpointPrimary = await run.CheckpointPrimaryAsync();
        var topology = await cluster.TopologyAsync();
        var primary = topology.Where(n => n.IsPrimary && n.Address != checkpointPrimary).OrderBy(n => n.Address, StringComparer.Ordinal).First();
        var replica = topology.Single(n => n.PrimaryId == primary.Id);
        var stored = await run.Sink.LoadCheckpointAsync(Materializer, CancellationToken.None);

        await cluster.CutOffAsync(replica.Address, primary.Address);
        var batch = run.NextBatch();
        var e = await Assert.ThrowsAsync<SinkUnavailableException>(async () => await run.Sink.ApplyAsync(run.Batch(batch), CancellationToken.None));
        Assert.Contains($"WAIT on {primary.Address}: 0 of its 1 replicas acknowledged", e.Message, StringComparison.Ordinal);
        Assert.Equal(stored, await run.Sink.LoadCheckpointAsync(Materializer, CancellationToken.None));

        await cluster.SignalAsync(primary.Address, "KILL");
        await cluster.SignalAsync(replica.Address, "CONT");
        await Poll.UntilAsync(async () => (await cluster.TakeOverAsync(replica.Address)).Output.StartsWith("OK", StringComparison.Ordinal)
            || (await cluster.TopologyAsync(replica.Address)).Single(n => n.Address == replica.Address).IsPrimary);
        await cluster.WaitForPrimaryAsync(replica.Address);

        // The promoted replica never had the batch's rows of its slots: without the wait they would be
        // gone behind a checkpoint that covers them.
        Assert.NotEmpty(await run.OlderThanAsync(batch, replica.Address));

        // What the runtime does next: the batch, unacknowledged, is applied again.
        await run.ApplyAsync(batch);
        await run.ApplyAsync(run.NextBatch());
        await run.AssertExactAsync();
    }

    [RedisClusterFact]
    public async Task The_checkpoints_primary_killed_before_its_replica_had_the_checkpoint_is_found_by_the_rollback_check_and_resuming_ends_in_the_exact_state()
    {
        await using var cluster = await RedisOwnCluster.StartAsync();
        await using var run = await Run.StartAsync(cluster);
        for (var i = 0; i < 5; i++)
        {
            await run.ApplyAsync(run.NextBatch());
        }

        var held = await run.Sink.LoadCheckpointAsync(Materializer, CancellationToken.None);
        var checkpointPrimary = await run.CheckpointPrimaryAsync();
        var topology = await cluster.TopologyAsync();
        var replica = topology.Single(n => n.PrimaryId == topology.Single(p => p.Address == checkpointPrimary).Id);

        // The replica holds the checkpoint of these batches before it is cut off: only the next one is lost.
        await cluster.WaitForReplicaAsync(checkpointPrimary, replica.Address);
        await cluster.CutOffAsync(replica.Address, checkpointPrimary);
        var lost = run.NextBatch();
        var result = await run.Sink.ApplyAsync(run.Batch(lost) with { ExpectedCheckpoint = held }, CancellationToken.None);
        Assert.Empty(result.Rejected);
        var committed = run.CheckpointOf(lost);

        await cluster.SignalAsync(checkpointPrimary, "KILL");
        await cluster.SignalAsync(replica.Address, "CONT");
        await Poll.UntilAsync(async () => (await cluster.TakeOverAsync(replica.Address)).Output.StartsWith("OK", StringComparison.Ordinal)
            || (await cluster.TopologyAsync(replica.Address)).Single(n => n.Address == replica.Address).IsPrimary);
        await cluster.WaitForPrimaryAsync(replica.Address);

        // The next batch, written on condition that the sink still holds the checkpoint just committed
        // (what the runtime passes), finds the sink gone back in time.
        var next = run.NextBatch();
        await Assert.ThrowsAsync<SinkCheckpointChangedException>(async () => await run.ApplyAsync(next, expected: committed));
        var now = await run.Sink.LoadCheckpointAsync(Materializer, CancellationToken.None);
        Assert.Equal(held, now);

        // Resuming from the checkpoint the sink holds, as the rollback check makes the runtime do.
        await run.ApplyAsync(lost, expected: now);
        await run.ApplyAsync(next, expected: run.CheckpointOf(lost));
        await run.AssertExactAsync();
    }

    /// <summary>A run of numbered changes over 300 keys (every ninth a delete), 20 to a batch, each batch
    /// with its checkpoint; <see cref="ApplyAsync"/> applies one as the runtime does, again when the sink
    /// gave up on it (bounded), and records the retries the sink reported.</summary>
    private sealed class Run : IAsyncDisposable
    {
        private const int Keys = 300;
        private readonly RedisOwnCluster _cluster;
        private readonly RedisSinkOptions _options;
        private readonly List<ChangeEvent> _all = [];
        private long _lsn;

        private Run(RedisOwnCluster cluster, RedisSinkOptions options, RedisSink sink, TargetSpec target)
        {
            _cluster = cluster;
            _options = options;
            Sink = sink;
            Target = target;
        }

        public RedisSink Sink { get; }

        public TargetSpec Target { get; }

        public List<string> Retries { get; } = [];

        public int GaveUp { get; private set; }

        public static async Task<Run> StartAsync(RedisOwnCluster cluster, int maxAttempts = 8)
        {
            var ns = RedisTestServer.NewNamespace();
            var options = cluster.Options(ns);
            options.Retry = options.Retry with { MaxAttempts = maxAttempts };
            var sink = await RedisSink.OpenAsync("events", options, CancellationToken.None);
            return new Run(cluster, options, sink, new TargetSpec(ns + "items") { Options = new RedisTargetOptions { Format = RedisValueFormat.Hash } });
        }

        public List<ChangeEvent> NextBatch()
        {
            var batch = new List<ChangeEvent>();
            for (var i = 0; i < 20; i++)
            {
                var lsn = ++_lsn;
                var key = ("id", (object?)(lsn % Keys));
                batch.Add(lsn % 9 == 0 ? Change.Delete(key, lsn) : Change.Upsert(key, lsn, ("name", $"v{lsn}")));
            }

            _all.AddRange(batch);
            return batch;
        }

        public Dictionary<string, StreamPosition> CheckpointOf(List<ChangeEvent> batch) =>
            new(StringComparer.Ordinal) { [Change.DefaultTopic] = batch.Max(c => c.Origin.Position) };

        public SinkBatch Batch(List<ChangeEvent> batch) => new(Materializer, Target, batch, CheckpointOf(batch)) { Retrying = Retries.Add };

        public async Task ApplyAsync(List<ChangeEvent> batch, IReadOnlyDictionary<string, StreamPosition>? expected = null)
        {
            for (var attempt = 1; ; attempt++)
            {
                try
                {
                    var result = await Sink.ApplyAsync(Batch(batch) with { ExpectedCheckpoint = expected }, CancellationToken.None);
                    Assert.Empty(result.Rejected);
                    return;
                }
                catch (SinkUnavailableException) when (attempt < 20)
                {
                    GaveUp++;
                }
            }
        }

        /// <summary>The primary that serves the checkpoint key's slot now.</summary>
        public async Task<string> CheckpointPrimaryAsync()
        {
            await using var connection = await _cluster.ConnectAsync();
            return (await connection.GetDatabase().IdentifyEndpointAsync(new RedisKeys(_options.KeyPrefix, cluster: true).Checkpoint(Materializer)))!.ToString()!;
        }

        /// <summary>The keys of the batch, among those served by <paramref name="node"/>, whose stored state
        /// is older than the batch's change (or absent).</summary>
        public async Task<List<string>> OlderThanAsync(List<ChangeEvent> batch, string node)
        {
            await using var connection = await _cluster.ConnectAsync();
            var db = connection.GetDatabase();
            var keys = new RedisKeys(_options.KeyPrefix, cluster: true);
            var older = new List<string>();
            foreach (var change in batch)
            {
                var rowKey = $"{Target.Table}:{change.Key.Values[0].AsInt64}";
                if ((await db.IdentifyEndpointAsync(rowKey))!.ToString() != node)
                {
                    continue;
                }

                var state = RedisState.TryParse((byte[]?)await db.StringGetAsync(keys.State(Target.Table, rowKey)));
                if (state is null || state.Version.Lsn < change.Version.Lsn)
                {
                    older.Add(rowKey);
                }
            }

            return older;
        }

        /// <summary>The row keys of the run that <paramref name="node"/> serves now.</summary>
        public async Task<List<string>> ServedByAsync(string node)
        {
            await using var connection = await _cluster.ConnectAsync();
            var db = connection.GetDatabase();
            var served = new List<string>();
            foreach (var id in _all.Select(c => c.Key.Values[0].AsInt64).Distinct())
            {
                var rowKey = $"{Target.Table}:{id}";
                if ((await db.IdentifyEndpointAsync(rowKey))!.ToString() == node)
                {
                    served.Add(rowKey);
                }
            }

            return served;
        }

        /// <summary>Every key holds the last change made to it, read through a fresh connection, and the
        /// checkpoint is the last batch's.</summary>
        public async Task AssertExactAsync()
        {
            var expected = new Dictionary<long, string?>();
            foreach (var change in _all)
            {
                expected[change.Key.Values[0].AsInt64] = change.IsDelete ? null : change.After!.Values[change.After.IndexOf("name")].AsText;
            }

            await using var connection = await _cluster.ConnectAsync();
            var db = connection.GetDatabase();
            var wrong = new List<string>();
            foreach (var (id, name) in expected)
            {
                var row = await db.HashGetAllAsync($"{Target.Table}:{id}");
                var stored = row.FirstOrDefault(e => e.Name == "name").Value;
                if (name is null ? row.Length != 0 : stored != name)
                {
                    wrong.Add($"{id}: expected {name ?? "(deleted)"}, found {(row.Length == 0 ? "(none)" : stored.ToString())}");
                }
            }

            Assert.Empty(wrong);
            Assert.Equal(_all.Max(c => c.Origin.Position), (await Sink.LoadCheckpointAsync(Materializer, CancellationToken.None))[Change.DefaultTopic]);
        }

        public async ValueTask DisposeAsync() => await Sink.DisposeAsync();
    }
}
