namespace Sync.Sinks.Tests.Redis;

/// <summary>The shadow capability of the Redis sink: a new key generation, switched in by the pointer
/// key that readers resolve; the old generation is unlinked after the switch.</summary>
public sealed class RedisShadowTests
{
    private static async Task ApplyToShadowAsync(RedisTestContext redis, ShadowTarget shadow, params ChangeEvent[] changes)
    {
        var checkpoint = changes.GroupBy(c => c.Origin.Topic).ToDictionary(g => g.Key, g => g.Max(c => c.Origin.Position));
        await new ShadowWritingSink(redis.Sink, shadow).ApplyAsync(new SinkBatch(RedisTestContext.Materializer, redis.Target, changes, checkpoint), CancellationToken.None);
    }

    private static Task<ShadowTarget> BeginAsync(RedisTestContext redis) =>
        redis.Sink.BeginShadowAsync(RedisTestContext.Materializer, redis.Target, CancellationToken.None).AsTask();

    /// <summary>The documented read pattern: the live prefix from the pointer key (none when absent), then the key.</summary>
    private static async Task<string?> ReadNameAsync(RedisTestContext redis, int id)
    {
        var prefix = (string?)await redis.Db.StringGetAsync(redis.Keys.Generation(redis.Table)) ?? string.Empty;
        return await redis.Db.HashGetAsync($"{prefix}{redis.Table}:{id}", "name");
    }

    [Fact]
    public async Task Readers_see_the_old_generation_until_the_switch_and_the_new_one_after_it()
    {
        await using var redis = await RedisTestContext.CreateAsync();
        await redis.ApplyAsync(Change.Upsert(("id", 1), 10, ("name", "old")), Change.Upsert(("id", 2), 11, ("name", "gone")));
        var shadow = await BeginAsync(redis);
        await ApplyToShadowAsync(redis, shadow, Change.Upsert(("id", 1), 10, ("name", "new")), Change.Upsert(("id", 3), 12, ("name", "c")));

        Assert.Equal("old", await ReadNameAsync(redis, 1));
        Assert.Equal("gone", await ReadNameAsync(redis, 2));
        Assert.Null(await ReadNameAsync(redis, 3));

        var swap = await redis.Sink.SwapShadowAsync(shadow, keepOld: false, CancellationToken.None);

        Assert.Equal($"{redis.Table}@1:", (string?)await redis.Db.StringGetAsync(redis.Keys.Generation(redis.Table)));
        Assert.Equal("new", await ReadNameAsync(redis, 1));
        Assert.Null(await ReadNameAsync(redis, 2));
        Assert.Equal("c", await ReadNameAsync(redis, 3));
        Assert.StartsWith("deleted (2 keys", swap.Old, StringComparison.Ordinal);
        Assert.False(await redis.Db.KeyExistsAsync($"{redis.Table}:1"));
        Assert.False(await redis.Db.KeyExistsAsync(redis.Keys.State(redis.Table, $"{redis.Table}:1")));
    }

    [Fact]
    public async Task A_run_after_the_switch_writes_the_live_generation_and_resumes_from_the_shadows_checkpoint()
    {
        await using var redis = await RedisTestContext.CreateAsync();
        await redis.ApplyAsync(Change.Upsert(("id", 1), 10, ("name", "a")));
        var shadow = await BeginAsync(redis);
        await ApplyToShadowAsync(redis, shadow, Change.Upsert(("id", 1), 10, ("name", "a")), Change.Upsert(("id", 2), 20, ("name", "b")));
        await redis.Sink.SwapShadowAsync(shadow, keepOld: false, CancellationToken.None);

        var checkpoint = await redis.Sink.LoadCheckpointAsync(RedisTestContext.Materializer, CancellationToken.None);
        await redis.ApplyAsync(Change.Upsert(("id", 4), 40, ("name", "d")), Change.Upsert(("id", 1), 5, ("name", "older")));

        Assert.Equal(new StreamPosition(0, 20), checkpoint[Change.DefaultTopic]);
        Assert.Equal("d", await ReadNameAsync(redis, 4));
        Assert.Equal("a", await ReadNameAsync(redis, 1));
        Assert.False(await redis.Db.KeyExistsAsync($"{redis.Table}:4"));
    }

    [Fact]
    public async Task A_subject_erased_from_the_live_generation_while_the_shadow_was_built_stays_erased_after_the_switch()
    {
        await using var redis = await RedisTestContext.CreateAsync();
        await redis.ApplyAsync(Change.Upsert(("id", 1), 10, ("name", "a")), Change.Upsert(("id", 2), 11, ("name", "b")));
        var shadow = await BeginAsync(redis);
        await ApplyToShadowAsync(redis, shadow, Change.Upsert(("id", 1), 10, ("name", "a")), Change.Upsert(("id", 2), 11, ("name", "b")));
        Assert.Equal(1, await redis.Sink.EraseAsync(redis.Target, new SubjectMatch("id", FieldValue.FromInt64(2)), CancellationToken.None));

        var swap = await redis.Sink.SwapShadowAsync(shadow, keepOld: false, CancellationToken.None);
        var late = await redis.ApplyAsync(Change.Upsert(("id", 2), 99, ("name", "back")));

        Assert.Equal(1, swap.ErasureMarkersCarried);
        Assert.Null(await ReadNameAsync(redis, 2));
        Assert.Equal(1, late.Stale);
        Assert.Null(await ReadNameAsync(redis, 2));
        Assert.Equal("a", await ReadNameAsync(redis, 1));
    }

    [Fact]
    public async Task After_the_switch_an_erase_finds_and_removes_subjects_in_the_live_generation()
    {
        await using var redis = await RedisTestContext.CreateAsync();
        await redis.ApplyAsync(Change.Upsert(("id", 1), 10, ("name", "a")));
        var shadow = await BeginAsync(redis);
        await ApplyToShadowAsync(redis, shadow, Change.Upsert(("id", 1), 10, ("name", "a")), Change.Upsert(("id", 2), 11, ("name", "b")), Change.Upsert(("id", 3), 12, ("name", "c")));
        await redis.Sink.SwapShadowAsync(shadow, keepOld: false, CancellationToken.None);
        var two = new SubjectMatches("id", [FieldValue.FromInt64(2), FieldValue.FromInt64(3)]) { IsKey = true };

        Assert.Equal([1L, 1L], await redis.Sink.CountManyAsync(redis.Target, two, CancellationToken.None));
        Assert.Equal(1, await redis.Sink.EraseAsync(redis.Target, new SubjectMatch("id", FieldValue.FromInt64(1)), CancellationToken.None));
        Assert.Equal([1L, 1L], await redis.Sink.EraseManyAsync(redis.Target, two, CancellationToken.None));

        Assert.Equal([0L, 0L], await redis.Sink.CountManyAsync(redis.Target, two, CancellationToken.None));
        Assert.Null(await ReadNameAsync(redis, 1));
        Assert.Null(await ReadNameAsync(redis, 2));
        Assert.Null(await ReadNameAsync(redis, 3));
    }

    [Fact]
    public async Task Beginning_again_unlinks_what_an_unfinished_generation_held_and_keep_old_keeps_the_old_keys()
    {
        await using var redis = await RedisTestContext.CreateAsync();
        await redis.ApplyAsync(Change.Upsert(("id", 1), 10, ("name", "a")));
        var first = await BeginAsync(redis);
        await ApplyToShadowAsync(redis, first, Change.Upsert(("id", 7), 70, ("name", "left over")));

        var second = await BeginAsync(redis);
        Assert.False(await redis.Db.KeyExistsAsync($"{redis.Table}@1:{redis.Table}:7"));

        await ApplyToShadowAsync(redis, second, Change.Upsert(("id", 1), 10, ("name", "a2")));
        await redis.Sink.SwapShadowAsync(second, keepOld: true, CancellationToken.None);
        Assert.Equal("a2", await ReadNameAsync(redis, 1));
        Assert.Equal("a", (string?)await redis.Db.HashGetAsync($"{redis.Table}:1", "name"));
    }

    [Fact]
    public async Task The_switch_is_refused_when_the_live_checkpoint_moved()
    {
        await using var redis = await RedisTestContext.CreateAsync();
        await redis.ApplyAsync(Change.Upsert(("id", 1), 10, ("name", "a")));
        var shadow = await BeginAsync(redis);
        await ApplyToShadowAsync(redis, shadow, Change.Upsert(("id", 1), 10, ("name", "new")));
        await redis.ApplyAsync(Change.Upsert(("id", 5), 50, ("name", "from a run")));

        var refused = await Assert.ThrowsAsync<ShadowSwapException>(() => redis.Sink.SwapShadowAsync(shadow, keepOld: false, CancellationToken.None).AsTask());

        Assert.Contains("changed during the backfill", refused.Message, StringComparison.Ordinal);
        Assert.Equal("a", await ReadNameAsync(redis, 1));
        Assert.Equal("from a run", await ReadNameAsync(redis, 5));
    }
}
