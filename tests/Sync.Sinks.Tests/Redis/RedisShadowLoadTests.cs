using FsCheck.Xunit;
using StackExchange.Redis;
using StreamPosition = Sync.Engine.Changes.StreamPosition;
using Sync.Sinks.Redis;

namespace Sync.Sinks.Tests.Redis;

/// <summary>The bulk load of a shadow key generation (<c>bulkShadow: true</c>) against the
/// compare-and-set path (<c>bulkShadow: false</c>): the same history, the same swap, the same keys —
/// rows, index sets, version states, delete and erasure markers, truncate marker, metadata, checkpoint,
/// and which keys carry a TTL.</summary>
public sealed class RedisShadowLoadTests
{
    [Fact]
    public async Task Held_changes_reach_the_generation_only_when_written_out_and_the_swap_writes_them()
    {
        await using var redis = await RedisTestContext.CreateAsync(configure: o => o.BulkShadow = true);
        var shadow = await redis.Sink.BeginShadowAsync(RedisTestContext.Materializer, redis.Target, CancellationToken.None);
        var sink = new ShadowWritingSink(redis.Sink, shadow);

        var first = await ApplyAsync(sink, [Change.Upsert(("id", 1), 10, ("name", "a")).At(1), Change.Upsert(("id", 2), 11, ("name", "b")).At(2)]);
        var second = await ApplyAsync(sink, [Change.Upsert(("id", 1), 12, ("name", "a2")).At(3), Change.Upsert(("id", 2), 5, ("name", "stale")).At(4), Change.Delete(("id", 2), 13).At(5)]);

        Assert.Equal((2, 0), (first.Upserted, first.Stale));
        Assert.Equal((1, 1, 1), (second.Upserted, second.Stale, second.Deleted));
        Assert.False(await redis.Db.KeyExistsAsync($"{redis.Table}@1:{redis.Table}:1"));
        Assert.Empty(await redis.Sink.LoadCheckpointAsync(ShadowTarget.CheckpointNameOf(RedisTestContext.Materializer), CancellationToken.None));

        await redis.Sink.SwapShadowAsync(shadow, keepOld: false, CancellationToken.None);

        Assert.Equal("a2", (string?)await redis.Db.HashGetAsync($"{redis.Table}@1:{redis.Table}:1", "name"));
        Assert.False(await redis.Db.KeyExistsAsync($"{redis.Table}@1:{redis.Table}:2"));
        Assert.Equal(new StreamPosition(0, 5), (await redis.Sink.LoadCheckpointAsync(RedisTestContext.Materializer, CancellationToken.None))[Change.DefaultTopic]);
    }

    /// <summary>A held change is encoded only at the write-out, so what can refuse a newer one is checked
    /// when it arrives: refused there, as the compare-and-set path refuses it, it does not replace the
    /// held change. Refused here: a row image without its key's value (hash), and a JSON column whose
    /// text is not JSON, which <c>Utf8JsonWriter.WriteRawValue</c> rejects when it validates its input
    /// (System.Text.Json's documented behaviour; JSON format).</summary>
    [Theory]
    [InlineData(RedisValueFormat.Hash)]
    [InlineData(RedisValueFormat.Json)]
    public async Task A_newer_change_refused_on_arrival_leaves_the_held_change_to_be_written_out(RedisValueFormat format)
    {
        await using var redis = await RedisTestContext.CreateAsync(_ => new RedisTargetOptions { Format = format }, o => o.BulkShadow = true);
        var shadow = await redis.Sink.BeginShadowAsync(RedisTestContext.Materializer, redis.Target, CancellationToken.None);
        var sink = new ShadowWritingSink(redis.Sink, shadow);
        var refused = format == RedisValueFormat.Hash
            ? Change.Upsert(("id", 1), 12, ("name", "b")).WithAfter(Change.RowOf(("id", null), ("name", "b")))
            : Change.Upsert(("id", 1), 12, ("name", "b"), ("doc", FieldValue.FromJson("{not json")));

        var result = await ApplyAsync(sink, [Change.Upsert(("id", 1), 10, ("name", "a")).At(1), refused.At(2)]);
        await redis.Sink.SwapShadowAsync(shadow, keepOld: false, CancellationToken.None);

        Assert.Equal(1, result.Upserted);
        Assert.Equal([2L], result.Rejected.Select(r => r.Change.Origin.Position.Entry));
        var row = $"{redis.Table}@1:{redis.Table}:1";
        Assert.Equal("a", format == RedisValueFormat.Hash
            ? (string?)await redis.Db.HashGetAsync(row, "name")
            : JsonDocument.Parse((string)(await redis.Db.StringGetAsync(row))!).RootElement.GetProperty("name").GetString());
    }

    /// <summary>Two changes held for one Redis key: one of the same source key replaces the held change
    /// if it is newer; one of another source key that the key template renders alike is refused, as the
    /// compare-and-set path refuses it (<c>collision</c>), and the held change is what is written out.</summary>
    [Fact]
    public async Task A_held_row_key_takes_a_newer_change_of_its_key_and_refuses_a_key_rendered_alike()
    {
        await using var redis = await RedisTestContext.CreateAsync(ns => new RedisTargetOptions { KeyTemplate = ns + "{a}:{b}" }, o => o.BulkShadow = true);
        var shadow = await redis.Sink.BeginShadowAsync(RedisTestContext.Materializer, redis.Target, CancellationToken.None);
        var sink = new ShadowWritingSink(redis.Sink, shadow);

        var result = await ApplyAsync(sink,
        [
            Change.Create([("a", "x:y"), ("b", "z")], 10, ("name", "first")).At(1),
            Change.Update([("a", "x:y"), ("b", "z")], 11, ("name", "newer")).At(2),
            Change.Create([("a", "x"), ("b", "y:z")], 12, ("name", "other")).At(3),
        ]);
        await redis.Sink.SwapShadowAsync(shadow, keepOld: false, CancellationToken.None);

        Assert.Equal(2, result.Upserted);
        var rejected = Assert.Single(result.Rejected);
        Assert.Equal(3L, rejected.Change.Origin.Position.Entry);
        Assert.Contains("already holds the row of another key", rejected.Reason, StringComparison.Ordinal);
        Assert.Equal("newer", (string?)await redis.Db.HashGetAsync($"{redis.Table}@1:{redis.Namespace}x:y:z", "name"));
    }

    /// <summary>A write-out of more held rows than go out together (<c>RedisWriter.WriteOutRows</c>, 1,000)
    /// sends them in several pipelines; every row, state and index entry arrives, as the compare-and-set
    /// load leaves them.</summary>
    [Fact]
    public async Task A_write_out_of_several_pages_of_rows_leaves_the_keys_of_the_compare_and_set_load()
    {
        const int rows = 2017;
        var changes = Enumerable.Range(0, rows)
            .Select(i => i % 10 == 3 ? Change.Delete(("id", (long)i), 100 + i) : Change.Upsert(("id", (long)i), 100 + i, ("name", "n" + (i % 7))))
            .Select((c, i) => c.At(i + 1))
            .ToList();
        RedisTargetOptions Target(string ns) => new() { Indexes = [ns + "by-name:{name}"] };
        await using var bulk = await RedisTestContext.CreateAsync(Target, o => o.BulkShadow = true);
        await using var guarded = await RedisTestContext.CreateAsync(Target);

        foreach (var redis in new[] { bulk, guarded })
        {
            var shadow = await redis.Sink.BeginShadowAsync(RedisTestContext.Materializer, redis.Target, CancellationToken.None);
            var sink = new ShadowWritingSink(redis.Sink, shadow);
            foreach (var batch in changes.Chunk(700))
            {
                Assert.Empty((await ApplyAsync(sink, batch)).Rejected);
            }

            await redis.Sink.SwapShadowAsync(shadow, keepOld: false, CancellationToken.None);
        }

        var keys = await KeyspaceAsync(bulk);
        Assert.Equal(await KeyspaceAsync(guarded), keys);
        Assert.Equal(rows - (rows / 10) - (rows % 10 > 3 ? 1 : 0), keys.Count(k => k.Contains(" Hash ", StringComparison.Ordinal) && k.Contains("|name=", StringComparison.Ordinal)));
    }

    /// <summary>Random histories (<see cref="ShadowHistories"/>: upserts with repeated and stale LSNs,
    /// deletes, tombstones and changes without an LSN, truncates, a column that appears midway, subjects
    /// erased from the live generation while the shadow fills, reads of the shadow between batches), in
    /// hash or JSON, with or without an index set and a row TTL, holding all keys or writing out every
    /// three.</summary>
    [Property(MaxTest = 40)]
    public async Task Bulk_and_compare_and_set_shadow_loads_leave_the_same_keys(int seed)
    {
        var random = new Random(seed);
        var steps = ShadowHistories.Generate(random, maxChanges: 50, maxBatch: 9, refusedValues: false);
        var format = random.Next(2) == 0 ? RedisValueFormat.Hash : RedisValueFormat.Json;
        var indexed = random.Next(2) == 0;
        TimeSpan? ttl = random.Next(3) == 0 ? TimeSpan.FromHours(1) : null;
        var maxKeys = random.Next(2) == 0 ? 3 : 100_000;
        RedisTargetOptions Target(string ns) => new() { Format = format, Ttl = ttl, Indexes = indexed ? [ns + "by-name:{name}"] : null };
        await using var bulk = await RedisTestContext.CreateAsync(Target, o => (o.BulkShadow, o.BulkShadowMaxKeys) = (true, maxKeys));
        await using var guarded = await RedisTestContext.CreateAsync(Target);

        var bulkRejected = await RunAsync(bulk, steps);
        var guardedRejected = await RunAsync(guarded, steps);

        Assert.Equal(guardedRejected, bulkRejected);
        Assert.Equal(await KeyspaceAsync(guarded), await KeyspaceAsync(bulk));
    }

    /// <summary>Fills the live generation, loads the shadow generation with the history and swaps it in;
    /// returns the positions of the rejected changes.</summary>
    private static async Task<List<string>> RunAsync(RedisTestContext redis, List<ShadowHistories.Step> steps)
    {
        await redis.ApplyAsync([.. Enumerable.Range(1, 6).Select(i => Change.Upsert(("id", (long)i), 1, ("name", "live"), ("n", i)).At(i))]);
        var shadow = await redis.Sink.BeginShadowAsync(RedisTestContext.Materializer, redis.Target, CancellationToken.None);
        var rejected = await ShadowHistories.ReplayAsync(steps, redis.Sink, shadow);
        await redis.Sink.SwapShadowAsync(shadow, keepOld: false, CancellationToken.None);
        return rejected;
    }

    private static async Task<ApplyResult> ApplyAsync(ISink sink, ChangeEvent[] changes)
    {
        var checkpoint = changes.GroupBy(c => c.Origin.Topic).ToDictionary(g => g.Key, g => g.Max(c => c.Origin.Position));
        return await sink.ApplyAsync(new SinkBatch(RedisTestContext.Materializer, new TargetSpec("ignored"), changes, checkpoint), CancellationToken.None);
    }

    /// <summary>Every key of the test's namespace (the namespace replaced by <c>N:</c>) with its type, its value
    /// (hash fields and set members sorted) and whether it expires.</summary>
    private static async Task<List<string>> KeyspaceAsync(RedisTestContext redis)
    {
        var server = redis.Reader.GetServers()[0];
        var keys = new List<string>();
        await foreach (var key in server.KeysAsync(pattern: RedisKeys.EscapePattern(redis.Namespace) + "*", pageSize: 1000))
        {
            keys.Add(key.ToString());
        }

        var described = new List<string>();
        foreach (var key in keys.Order(StringComparer.Ordinal))
        {
            var type = await redis.Db.KeyTypeAsync(key);
            var value = type switch
            {
                RedisType.Hash => string.Join("|", (await redis.Db.HashGetAllAsync(key)).Select(e => $"{e.Name}={e.Value}".Replace(redis.Namespace, "N:", StringComparison.Ordinal)).Order(StringComparer.Ordinal)),
                RedisType.Set => string.Join("|", (await redis.Db.SetMembersAsync(key)).Select(m => m.ToString().Replace(redis.Namespace, "N:", StringComparison.Ordinal)).Order(StringComparer.Ordinal)),
                _ => ((string?)await redis.Db.StringGetAsync(key))!.Replace(redis.Namespace, "N:", StringComparison.Ordinal),
            };
            var expires = await redis.Db.KeyTimeToLiveAsync(key) is not null;
            described.Add($"{key.Replace(redis.Namespace, "N:", StringComparison.Ordinal)} {type} {value} expires={expires}");
        }

        return described;
    }
}
