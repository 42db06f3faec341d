using StackExchange.Redis;
using StreamPosition = Sync.Engine.Changes.StreamPosition;
using Sync.Sinks.Redis;
using Sync.Sinks.Tests.Conformance;

namespace Sync.Sinks.Tests.Redis;

/// <summary>`sync backfill --shadow` on a real Redis Cluster (SYNC_TEST_REDIS_CLUSTER): the generation pointer
/// carries the hash tag of the materializer's checkpoint key, so one script in that slot checks and
/// switches; readers find the pointer through the table's locator key.</summary>
public sealed class RedisClusterShadowTests
{
    private const string Materializer = "m";
    private const int Rows = 60;

    private static Dictionary<string, StreamPosition> CheckpointOf(IEnumerable<ChangeEvent> changes) =>
        changes.GroupBy(c => c.Origin.Topic).ToDictionary(g => g.Key, g => g.Max(c => c.Origin.Position));

    private static Task<ApplyResult> ApplyLiveAsync(RedisHarness h, TargetSpec target, params ChangeEvent[] changes) =>
        h.Sink.ApplyAsync(new SinkBatch(Materializer, target, changes, CheckpointOf(changes)), CancellationToken.None).AsTask();

    private static Task<ApplyResult> ApplyShadowAsync(RedisHarness h, ShadowTarget shadow, params ChangeEvent[] changes) =>
        new ShadowWritingSink(h.Sink, shadow).ApplyAsync(new SinkBatch(Materializer, shadow.Live, changes, CheckpointOf(changes)), CancellationToken.None).AsTask();

    private static ChangeEvent[] Named(string name, long lsnBase) =>
        [.. Enumerable.Range(1, Rows).Select(i => Change.Upsert(("id", (object?)i), lsnBase + i, ("name", (object?)name)))];

    /// <summary>Every row "old" in the live keys, then a shadow begun with every row "new".</summary>
    private static async Task<ShadowTarget> OldLiveAndNewShadowAsync(RedisHarness h, TargetSpec target)
    {
        await ApplyLiveAsync(h, target, Named("old", 0));
        var shadow = await Sink(h).BeginShadowAsync(Materializer, target, CancellationToken.None);
        await ApplyShadowAsync(h, shadow, Named("new", 0));
        return shadow;
    }

    private static RedisSink Sink(RedisHarness h) => (RedisSink)h.Sink;

    private static RedisKeys Keys(RedisHarness h) => new(RedisClusterTestServer.Options(h.Namespace).KeyPrefix, cluster: true);

    /// <summary>The documented read on a cluster: the locator names the pointer, the pointer holds the
    /// live prefix (none when either is absent), then every row key, read in one pipeline.</summary>
    private static async Task<(string Prefix, string?[] Names)> ReadAllAsync(IDatabase db, RedisKeys keys, string table)
    {
        var pointer = (string?)await db.StringGetAsync(keys.GenerationLocator(table));
        var prefix = pointer is null ? string.Empty : (string?)await db.StringGetAsync(pointer) ?? string.Empty;
        var names = await Task.WhenAll(Enumerable.Range(1, Rows).Select(i => db.HashGetAsync($"{prefix}{table}:{i}", "name")));
        return (prefix, [.. names.Select(n => (string?)n)]);
    }

    private static async Task<List<string>> KeysOnEveryPrimaryAsync(ConnectionMultiplexer connection, string pattern)
    {
        var found = new List<string>();
        foreach (var server in RedisClusterTestServer.Primaries(connection))
        {
            await foreach (var key in server.KeysAsync(pattern: pattern, pageSize: 1000))
            {
                found.Add(key.ToString());
            }
        }

        return found;
    }

    [RedisClusterFact]
    public async Task Readers_see_the_whole_old_generation_or_the_whole_new_one_while_the_swap_happens_and_the_old_keys_go_from_every_primary()
    {
        await using var h = await RedisHarness.CreateAsync(RedisValueFormat.Hash, cluster: true);
        var target = h.Target("users");
        var shadow = await OldLiveAndNewShadowAsync(h, target);

        await using var connection = await RedisClusterTestServer.ConnectAsync();
        var db = connection.GetDatabase();
        var keys = Keys(h);
        var reads = new List<(string Prefix, string?[] Names)> { await ReadAllAsync(db, keys, target.Table) };
        using var swapped = new CancellationTokenSource();
        var readers = Task.Run(async () =>
        {
            var seen = new List<(string, string?[])>();
            while (!swapped.IsCancellationRequested)
            {
                seen.Add(await ReadAllAsync(db, keys, target.Table));
            }

            return seen;
        });
        var swap = await Sink(h).SwapShadowAsync(shadow, keepOld: false, CancellationToken.None);
        await swapped.CancelAsync();
        reads.AddRange(await readers);
        reads.Add(await ReadAllAsync(db, keys, target.Table));

        Assert.All(reads, read =>
        {
            if (read.Prefix.Length == 0)
            {
                // The old generation, or (read just before its keys were unlinked) nothing, as a read racing a delete.
                Assert.All(read.Names, name => Assert.True(name is null or "old", $"old generation read {name}"));
            }
            else
            {
                Assert.Equal($"{target.Table}@1:", read.Prefix);
                Assert.All(read.Names, name => Assert.Equal("new", name));
            }
        });
        Assert.All(reads[0].Names, name => Assert.Equal("old", name));
        Assert.Equal($"{target.Table}@1:", reads[^1].Prefix);
        Assert.StartsWith($"deleted ({Rows} keys", swap.Old, StringComparison.Ordinal);
        Assert.Empty(await KeysOnEveryPrimaryAsync(connection, RedisKeys.EscapePattern($"{target.Table}:") + "*"));
        Assert.Empty(await KeysOnEveryPrimaryAsync(connection, keys.StatePattern(target.Table)));
        Assert.Equal(Rows, (await KeysOnEveryPrimaryAsync(connection, keys.StatePattern($"{target.Table}@1:{target.Table}"))).Count);
    }

    [RedisClusterFact]
    public async Task An_interrupted_backfill_leaves_the_live_keys_untouched_and_a_rerun_completes_and_a_run_resumes_from_its_end()
    {
        await using var h = await RedisHarness.CreateAsync(RedisValueFormat.Hash, cluster: true);
        var target = h.Target("users");
        await ApplyLiveAsync(h, target, Named("old", 0));
        var interrupted = await Sink(h).BeginShadowAsync(Materializer, target, CancellationToken.None);
        await ApplyShadowAsync(h, interrupted, [.. Named("half", 0).Take(Rows / 2)]);

        await using var connection = await RedisClusterTestServer.ConnectAsync();
        var db = connection.GetDatabase();
        var keys = Keys(h);
        var live = await ReadAllAsync(db, keys, target.Table);
        Assert.Equal(string.Empty, live.Prefix);
        Assert.All(live.Names, name => Assert.Equal("old", name));

        var rerun = await Sink(h).BeginShadowAsync(Materializer, target, CancellationToken.None);
        Assert.Empty(await KeysOnEveryPrimaryAsync(connection, RedisKeys.EscapePattern($"{target.Table}@1:") + "*"));
        await ApplyShadowAsync(h, rerun, Named("new", 100));
        await Sink(h).SwapShadowAsync(rerun, keepOld: false, CancellationToken.None);
        var after = await ReadAllAsync(db, keys, target.Table);
        Assert.All(after.Names, name => Assert.Equal("new", name));

        // `sync run` goes on from the backfill's end: the checkpoint is the shadow's, and its writes land in the live generation.
        var checkpoint = await h.Sink.LoadCheckpointAsync(Materializer, CancellationToken.None);
        Assert.Equal(new StreamPosition(0, 100 + Rows), checkpoint[Change.DefaultTopic]);
        var run = await ApplyLiveAsync(h, target, Change.Upsert(("id", (object?)1), 5, ("name", (object?)"older")), Change.Upsert(("id", (object?)2), 1000, ("name", (object?)"later")));
        Assert.Equal(1, run.Stale);
        var resumed = await ReadAllAsync(db, keys, target.Table);
        Assert.Equal(["new", "later"], resumed.Names.Take(2));
        Assert.False(await db.KeyExistsAsync($"{target.Table}:2"));
        Assert.False(await db.KeyExistsAsync(keys.Checkpoint(ShadowTarget.CheckpointNameOf(Materializer))));
    }

    [RedisClusterFact]
    public async Task The_swap_is_refused_when_a_run_moved_the_live_checkpoint_meanwhile()
    {
        await using var h = await RedisHarness.CreateAsync(RedisValueFormat.Json, cluster: true);
        var target = h.Target("users");
        var shadow = await OldLiveAndNewShadowAsync(h, target);
        await ApplyLiveAsync(h, target, Change.Upsert(("id", (object?)1), 500, ("name", (object?)"from a run")));

        var refused = await Assert.ThrowsAsync<ShadowSwapException>(() => Sink(h).SwapShadowAsync(shadow, keepOld: false, CancellationToken.None).AsTask());

        Assert.Contains("changed during the backfill", refused.Message, StringComparison.Ordinal);
        var rows = await h.ReadAsync(target);
        Assert.Equal(Rows, rows.Count);
        Assert.Contains(rows, row => row.Contains("from a run", StringComparison.Ordinal));
        Assert.Equal(new StreamPosition(0, 500), (await h.Sink.LoadCheckpointAsync(Materializer, CancellationToken.None))[Change.DefaultTopic]);
    }

    [RedisClusterFact]
    public async Task Another_materializers_shadow_backfill_of_the_same_table_and_bulk_shadow_are_refused()
    {
        await using var h = await RedisHarness.CreateAsync(RedisValueFormat.Hash, cluster: true);
        var target = h.Target("users");
        await Sink(h).BeginShadowAsync(Materializer, target, CancellationToken.None);

        var other = await Assert.ThrowsAsync<SinkFatalException>(async () => await Sink(h).BeginShadowAsync("other", target, CancellationToken.None));
        Assert.Contains("shadow-backfill this table through that materializer", other.Message, StringComparison.Ordinal);

        var options = RedisClusterTestServer.Options(h.Namespace);
        options.Cluster = null;
        options.BulkShadow = true;
        await using var bulk = await RedisSink.OpenAsync("bulk", options, CancellationToken.None);
        var refused = await Assert.ThrowsAsync<SinkFatalException>(async () => await bulk.BeginShadowAsync(Materializer, target, CancellationToken.None));
        Assert.Contains("bulkShadow is not supported on a Redis Cluster", refused.Message, StringComparison.Ordinal);
    }
}
