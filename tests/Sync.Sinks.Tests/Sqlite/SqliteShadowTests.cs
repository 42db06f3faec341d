namespace Sync.Sinks.Tests.Sqlite;

/// <summary>The shadow capability of the SQLite sink: what the swap carries over and what it replaces.</summary>
public sealed class SqliteShadowTests
{
    private static async Task<ShadowTarget> BeginAsync(SqliteTestDb db, string table) =>
        await db.Sink.BeginShadowAsync(SqliteTestDb.Materializer, new TargetSpec(table), CancellationToken.None);

    private static async Task ApplyToShadowAsync(SqliteTestDb db, ShadowTarget shadow, params ChangeEvent[] changes)
    {
        var checkpoint = changes.GroupBy(c => c.Origin.Topic).ToDictionary(g => g.Key, g => g.Max(c => c.Origin.Position));
        await new ShadowWritingSink(db.Sink, shadow).ApplyAsync(new SinkBatch(SqliteTestDb.Materializer, new TargetSpec("ignored"), changes, checkpoint), CancellationToken.None);
    }

    [Fact]
    public async Task A_subject_erased_from_the_live_table_while_the_shadow_was_built_stays_erased_after_the_swap()
    {
        await using var db = await SqliteTestDb.OpenAsync();
        await db.ApplyAsync("users", Change.Upsert(("id", 1), 10, ("name", "a")), Change.Upsert(("id", 2), 11, ("name", "b")), Change.Upsert(("id", 3), 12, ("name", "c")));
        var shadow = await BeginAsync(db, "users");
        await ApplyToShadowAsync(db, shadow, Change.Upsert(("id", 1), 10, ("name", "a")), Change.Upsert(("id", 2), 11, ("name", "b")));

        Assert.Equal(1, await db.Sink.EraseAsync(new TargetSpec("users"), new SubjectMatch("id", FieldValue.FromInt64(2)), CancellationToken.None));
        await ApplyToShadowAsync(db, shadow, Change.Upsert(("id", 3), 12, ("name", "c")));
        var swap = await db.Sink.SwapShadowAsync(shadow, keepOld: false, CancellationToken.None);

        Assert.Equal(1, swap.ErasureMarkersCarried);
        Assert.Equal(["1|a", "3|c"], db.Table("users"));
        var late = await db.ApplyAsync("users", Change.Upsert(("id", 2), 99, ("name", "back")));
        Assert.Equal(1, late.Stale);
        Assert.Equal(["1|a", "3|c"], db.Table("users"));
    }

    [Fact]
    public async Task The_swap_keeps_the_live_tables_own_indexes_and_moves_the_checkpoint()
    {
        await using var db = await SqliteTestDb.OpenAsync();
        await db.ApplyAsync("users", Change.Upsert(("id", 1), 10, ("name", "a")));
        db.Rows("CREATE INDEX users_name ON users (name)");
        var shadow = await BeginAsync(db, "users");
        await ApplyToShadowAsync(db, shadow, Change.Upsert(("id", 1), 10, ("name", "a")), Change.Upsert(("id", 2), 20, ("name", "b")));

        await db.Sink.SwapShadowAsync(shadow, keepOld: false, CancellationToken.None);

        Assert.Equal(["1|a", "2|b"], db.Table("users"));
        Assert.Equal(["users"], db.Rows("SELECT tbl_name FROM sqlite_master WHERE name = 'users_name'"));
        Assert.Equal(["users"], db.Rows("SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'users%'"));
        var checkpoint = await db.Sink.LoadCheckpointAsync(SqliteTestDb.Materializer, CancellationToken.None);
        Assert.Equal(new StreamPosition(0, 20), checkpoint[Change.DefaultTopic]);
    }

    [Fact]
    public async Task Keep_old_keeps_the_replaced_table_under_its_old_name()
    {
        await using var db = await SqliteTestDb.OpenAsync();
        await db.ApplyAsync("users", Change.Upsert(("id", 1), 10, ("name", "old")));
        var shadow = await BeginAsync(db, "users");
        await ApplyToShadowAsync(db, shadow, Change.Upsert(("id", 1), 10, ("name", "new")));

        var swap = await db.Sink.SwapShadowAsync(shadow, keepOld: true, CancellationToken.None);

        Assert.StartsWith("kept as \"users__old\"", swap.Old, StringComparison.Ordinal);
        Assert.Equal(["1|new"], db.Table("users"));
        Assert.Equal(["1|old"], db.Table("users__old"));
    }

    [Fact]
    public async Task The_swap_is_refused_and_changes_nothing_when_the_live_checkpoint_moved()
    {
        await using var db = await SqliteTestDb.OpenAsync();
        await db.ApplyAsync("users", Change.Upsert(("id", 1), 10, ("name", "a")));
        var shadow = await BeginAsync(db, "users");
        await ApplyToShadowAsync(db, shadow, Change.Upsert(("id", 1), 10, ("name", "a")));
        await db.ApplyAsync("users", Change.Upsert(("id", 5), 50, ("name", "from a run")));

        var refused = await Assert.ThrowsAsync<ShadowSwapException>(() => db.Sink.SwapShadowAsync(shadow, keepOld: false, CancellationToken.None).AsTask());

        Assert.Contains("moved during the backfill", refused.Message, StringComparison.Ordinal);
        Assert.Equal(["1|a", "5|from a run"], db.Table("users"));
        Assert.Equal(["1|a"], db.Table("users__shadow"));
    }
}
