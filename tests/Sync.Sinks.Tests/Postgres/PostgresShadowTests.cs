namespace Sync.Sinks.Tests.Postgres;

/// <summary>The shadow capability of the PostgreSQL sink: what the swap carries over and what it replaces.</summary>
public sealed class PostgresShadowTests
{
    private static async Task<ShadowTarget> BeginAsync(PostgresTestDb db, string table) =>
        await db.Sink.BeginShadowAsync(PostgresTestDb.Materializer, db.Target(table), CancellationToken.None);

    private static async Task ApplyToShadowAsync(PostgresTestDb db, ShadowTarget shadow, params ChangeEvent[] changes)
    {
        var checkpoint = changes.GroupBy(c => c.Origin.Topic).ToDictionary(g => g.Key, g => g.Max(c => c.Origin.Position));
        await new ShadowWritingSink(db.Sink, shadow).ApplyAsync(new SinkBatch(PostgresTestDb.Materializer, db.Target("ignored"), changes, checkpoint), CancellationToken.None);
    }

    [Fact]
    public async Task A_subject_erased_from_the_live_table_while_the_shadow_was_built_stays_erased_after_the_swap()
    {
        await using var db = await PostgresTestDb.OpenAsync();
        await db.ApplyAsync("users", Change.Upsert(("id", 1), 10, ("name", "a")), Change.Upsert(("id", 2), 11, ("name", "b")), Change.Upsert(("id", 3), 12, ("name", "c")));
        var shadow = await BeginAsync(db, "users");
        await ApplyToShadowAsync(db, shadow, Change.Upsert(("id", 1), 10, ("name", "a")), Change.Upsert(("id", 2), 11, ("name", "b")));

        // The erasure reaches the live table after the shadow already holds the subject's row.
        Assert.Equal(1, await db.Sink.EraseAsync(db.Target("users"), new SubjectMatch("id", FieldValue.FromInt64(2)), CancellationToken.None));
        await ApplyToShadowAsync(db, shadow, Change.Upsert(("id", 3), 12, ("name", "c")));
        var swap = await db.Sink.SwapShadowAsync(shadow, keepOld: false, CancellationToken.None);

        Assert.Equal(1, swap.ErasureMarkersCarried);
        Assert.Equal(["id=1|name=a", "id=3|name=c"], await db.CanonicalRowsAsync("users"));
        // The marker is still there: a late change of the erased key is stale.
        var late = await db.ApplyAsync("users", Change.Upsert(("id", 2), 99, ("name", "back")));
        Assert.Equal(1, late.Stale);
        Assert.Equal(["id=1|name=a", "id=3|name=c"], await db.CanonicalRowsAsync("users"));
    }

    [Fact]
    public async Task The_swap_moves_the_shadows_checkpoint_to_the_materializer()
    {
        await using var db = await PostgresTestDb.OpenAsync();
        await db.ApplyAsync("users", Change.Upsert(("id", 1), 10, ("name", "a")));
        var shadow = await BeginAsync(db, "users");
        await ApplyToShadowAsync(db, shadow, Change.Upsert(("id", 1), 10, ("name", "a")), Change.Upsert(("id", 2), 20, ("name", "b")));

        await db.Sink.SwapShadowAsync(shadow, keepOld: false, CancellationToken.None);

        var checkpoint = await db.Sink.LoadCheckpointAsync(PostgresTestDb.Materializer, CancellationToken.None);
        Assert.Equal(new StreamPosition(0, 20), checkpoint[Change.DefaultTopic]);
        Assert.Empty(await db.Sink.LoadCheckpointAsync(shadow.CheckpointName, CancellationToken.None));
    }

    [Fact]
    public async Task Keep_old_keeps_the_replaced_table_under_its_old_name()
    {
        await using var db = await PostgresTestDb.OpenAsync();
        await db.ApplyAsync("users", Change.Upsert(("id", 1), 10, ("name", "old")));
        var shadow = await BeginAsync(db, "users");
        await ApplyToShadowAsync(db, shadow, Change.Upsert(("id", 1), 10, ("name", "new")));

        var swap = await db.Sink.SwapShadowAsync(shadow, keepOld: true, CancellationToken.None);

        Assert.Equal($"kept as {db.Table("users__old")}", swap.Old);
        Assert.Equal(["id=1|name=new"], await db.CanonicalRowsAsync("users"));
        Assert.Equal(["id=1|name=old"], await db.CanonicalRowsAsync("users__old"));
    }

    [Fact]
    public async Task Beginning_again_starts_from_an_empty_shadow()
    {
        await using var db = await PostgresTestDb.OpenAsync();
        await db.ApplyAsync("users", Change.Upsert(("id", 1), 10, ("name", "a")));
        var first = await BeginAsync(db, "users");
        await ApplyToShadowAsync(db, first, Change.Upsert(("id", 7), 70, ("name", "left over")));

        var second = await BeginAsync(db, "users");

        Assert.Empty(await db.CanonicalRowsAsync("users__shadow"));
        Assert.Empty(await db.Sink.LoadCheckpointAsync(second.CheckpointName, CancellationToken.None));
        Assert.Equal(["id=1|name=a"], await db.CanonicalRowsAsync("users"));
    }

    [Fact]
    public async Task A_shadow_of_a_table_that_never_existed_becomes_the_table()
    {
        await using var db = await PostgresTestDb.OpenAsync();
        var shadow = await BeginAsync(db, "fresh");
        await ApplyToShadowAsync(db, shadow, Change.Upsert(("id", 1), 10, ("name", "a")));

        var swap = await db.Sink.SwapShadowAsync(shadow, keepOld: false, CancellationToken.None);

        Assert.Equal("absent", swap.Old);
        Assert.Equal(["id=1|name=a"], await db.CanonicalRowsAsync("fresh"));
    }
}
