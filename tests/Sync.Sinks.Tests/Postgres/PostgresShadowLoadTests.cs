using FsCheck.Xunit;

namespace Sync.Sinks.Tests.Postgres;

/// <summary>The bulk load of a shadow table (<c>bulkShadow: true</c>) against the guarded path
/// (<c>bulkShadow: false</c>): the same history, the same swap, the same table, row by row with its
/// versions, the same delete markers, indexes and checkpoint.</summary>
public sealed class PostgresShadowLoadTests
{
    private const string Table = "items";

    [Fact]
    public async Task A_shadow_fills_its_staging_log_and_gets_its_rows_and_keys_at_the_swap()
    {
        await using var db = await PostgresTestDb.OpenAsync(o => o.BulkShadow = true);
        await db.ApplyAsync(Table, Change.Upsert(("id", 1), 5, ("name", "old")));
        var shadow = await db.Sink.BeginShadowAsync(PostgresTestDb.Materializer, db.Target(Table), CancellationToken.None);
        var sink = new ShadowWritingSink(db.Sink, shadow);

        var first = await ApplyAsync(sink, [Change.Upsert(("id", 1), 10, ("name", "a")), Change.Upsert(("id", 2), 11, ("name", "b"))]);
        await ApplyAsync(sink, [Change.Upsert(("id", 1), 12, ("name", "a2")).At(12), Change.Delete(("id", 2), 13).At(13), Change.Upsert(("id", 3), 14, ("name", "c")).At(14)]);

        Assert.Equal(2, first.Upserted);
        Assert.Empty(await db.CanonicalRowsAsync(Table + "__shadow"));
        Assert.Empty(await IndexesAsync(db, Table + "__shadow"));

        await db.Sink.SwapShadowAsync(shadow, keepOld: false, CancellationToken.None);

        Assert.Equal(["id=1|name=a2", "id=3|name=c"], await db.CanonicalRowsAsync(Table));
        Assert.Equal([$"CREATE UNIQUE INDEX items__shadow_pkey ON S.items USING btree (id)"], await IndexesAsync(db, Table));
        Assert.Equal(["{\"id\":2}|13"], await PostgresTestDb.RowsAsync($"SELECT key_text, lsn FROM {PostgresTestDb.Q(db.StateSchema)}.delete_markers ORDER BY key_text"));
        Assert.Equal(0L, await PostgresTestDb.ScalarAsync($"SELECT count(*) FROM pg_tables WHERE schemaname = '{db.StateSchema}' AND tablename LIKE 'shadow_log_%'"));
    }

    [Fact]
    public async Task A_batch_that_does_not_fit_the_log_builds_the_shadow_and_takes_the_guarded_path()
    {
        await using var db = await PostgresTestDb.OpenAsync(o => o.BulkShadow = true);
        var shadow = await db.Sink.BeginShadowAsync(PostgresTestDb.Materializer, db.Target(Table), CancellationToken.None);
        var sink = new ShadowWritingSink(db.Sink, shadow);
        await ApplyAsync(sink, [Change.Upsert(("id", 1), 10, ("name", "a")), Change.Upsert(("id", 2), 11, ("name", "b"))]);

        // A tombstone carries no LSN: the guarded path orders it by position.
        await ApplyAsync(sink, [Change.Tombstone(("id", 1), 20)]);

        Assert.Equal(["id=2|name=b"], await db.CanonicalRowsAsync(Table + "__shadow"));
        Assert.Single(await IndexesAsync(db, Table + "__shadow"));
        var late = await ApplyAsync(sink, [Change.Upsert(("id", 2), 3, ("name", "stale"))]);
        Assert.Equal(1, late.Stale);
    }

    /// <summary>Random histories: upserts with repeated and stale LSNs, deletes, tombstones and changes
    /// without an LSN, truncates, a new column, subjects erased from the live table while the shadow
    /// fills, reads of the shadow in between, in batches of random size.</summary>
    [Property(MaxTest = 30)]
    public async Task Bulk_and_guarded_shadow_loads_leave_the_same_table(int seed)
    {
        var steps = ShadowHistories.Generate(new Random(seed), maxChanges: 50, maxBatch: 9, refusedValues: false);
        await using var bulk = await PostgresTestDb.OpenAsync(o => o.BulkShadow = true);
        await using var guarded = await PostgresTestDb.OpenAsync(o => o.BulkShadow = false);

        var bulkRejected = await RunAsync(bulk, steps);
        var guardedRejected = await RunAsync(guarded, steps);

        Assert.Equal(guardedRejected, bulkRejected);
        Assert.Equal(await StateAsync(guarded), await StateAsync(bulk));
    }

    /// <summary>Fills the live table, loads its shadow with the history and swaps it in; returns the
    /// positions of the rejected changes.</summary>
    private static async Task<List<string>> RunAsync(PostgresTestDb db, List<ShadowHistories.Step> steps)
    {
        await db.ApplyAsync(Table, [.. Enumerable.Range(1, 6).Select(i => Change.Upsert(("id", (long)i), 1, ("name", "live"), ("n", i)).At(i))]);
        await PostgresTestDb.ScalarAsync($"CREATE INDEX ON {db.Table(Table)} (name)");
        var shadow = await db.Sink.BeginShadowAsync(PostgresTestDb.Materializer, db.Target(Table), CancellationToken.None);
        var sink = new ShadowWritingSink(db.Sink, shadow);
        var rejected = new List<string>();
        foreach (var step in steps)
        {
            switch (step)
            {
                case ShadowHistories.Batch batch:
                    rejected.AddRange((await ApplyAsync(sink, batch.Changes)).Rejected.Select(r => r.Change.Origin.Position.ToString()));
                    break;
                case ShadowHistories.Erase erase:
                    await db.Sink.EraseAsync(db.Target(Table), new SubjectMatch("id", FieldValue.FromInt64(erase.Id)), CancellationToken.None);
                    break;
                case ShadowHistories.Count read:
                    await sink.CountAsync(db.Target(Table), new SubjectMatch("id", FieldValue.FromInt64(read.Id)), CancellationToken.None);
                    break;
            }
        }

        await db.Sink.SwapShadowAsync(shadow, keepOld: false, CancellationToken.None);
        return rejected;
    }

    private static async Task<ApplyResult> ApplyAsync(ISink sink, ChangeEvent[] changes)
    {
        var checkpoint = changes.GroupBy(c => c.Origin.Topic).ToDictionary(g => g.Key, g => g.Max(c => c.Origin.Position));
        return await sink.ApplyAsync(new SinkBatch(PostgresTestDb.Materializer, new TargetSpec("ignored"), changes, checkpoint), CancellationToken.None);
    }

    /// <summary>The live table's rows (every column, versions included), its indexes, the sink's delete
    /// markers and checkpoints, with the test's schema names replaced by <c>S</c>.</summary>
    private static async Task<List<string>> StateAsync(PostgresTestDb db)
    {
        var state = new List<string>();
        state.AddRange(await PostgresTestDb.RowsAsync($"SELECT to_jsonb(t)::text FROM {db.Table(Table)} t ORDER BY 1"));
        state.AddRange(await IndexesAsync(db, Table));
        state.AddRange(await PostgresTestDb.RowsAsync(
            $"SELECT replace(target, '{db.Schema}', 'S'), key_text, lsn, stream, position::text FROM {PostgresTestDb.Q(db.StateSchema)}.delete_markers ORDER BY 1, 2"));
        state.AddRange(await PostgresTestDb.RowsAsync($"SELECT materializer, stream, position FROM {PostgresTestDb.Q(db.StateSchema)}.checkpoints ORDER BY 1, 2"));
        state.AddRange(await PostgresTestDb.RowsAsync($"SELECT tablename FROM pg_tables WHERE schemaname IN ('{db.Schema}', '{db.StateSchema}') AND tablename NOT IN ('delete_markers', 'checkpoints', 'targets', 'dead_letters') ORDER BY 1"));
        return state;
    }

    private static Task<List<string>> IndexesAsync(PostgresTestDb db, string table) =>
        PostgresTestDb.RowsAsync($"SELECT replace(indexdef, '{db.Schema}', 'S') FROM pg_indexes WHERE schemaname = '{db.Schema}' AND tablename = '{table}' ORDER BY 1");
}
