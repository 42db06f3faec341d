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
    /// <remarks>The bulk load holds at most 1 to 7 keys (or the default) before it writes them to the
    /// staging log, so that a history's keys (1 to 8) span several write-outs.</remarks>
    [Property(MaxTest = 30)]
    public async Task Bulk_and_guarded_shadow_loads_leave_the_same_table(int seed)
    {
        var steps = ShadowHistories.Generate(new Random(seed), maxChanges: 50, maxBatch: 9, refusedValues: false);
        var maxHeld = MaxHeldOf(seed);
        await using var bulk = await PostgresTestDb.OpenAsync(o => Bulk(o, maxHeld));
        await using var guarded = await PostgresTestDb.OpenAsync(o => o.BulkShadow = false);

        var bulkRejected = await RunAsync(bulk, steps);
        var guardedRejected = await RunAsync(guarded, steps);

        Assert.Equal(guardedRejected, bulkRejected);
        Assert.Equal(await StateAsync(guarded), await StateAsync(bulk));

        // Held keys are written out once a batch (fewer than 9 changes) reaches the bound.
        Assert.True(bulk.Sink.PeakHeldShadowKeys < maxHeld + 9, $"held {bulk.Sink.PeakHeldShadowKeys} keys with a bound of {maxHeld}");
    }

    /// <summary>Histories of upserts and deletes that all fit the log (keys 1 to 8, repeated and stale
    /// LSNs), so that the whole history is held and written out in bounds: a backfill stopped midway
    /// (the process ends with changes held and a checkpoint past them), then run again as
    /// <c>sync backfill --shadow</c> runs it, leaves the table of one uninterrupted guarded backfill.</summary>
    [Property(MaxTest = 15)]
    public async Task A_collapsed_shadow_backfill_stopped_midway_and_run_again_leaves_every_row(int seed)
    {
        var random = new Random(seed);
        var batches = PlainHistory(random);
        var stopAfter = random.Next(1, batches.Count + 1);
        var maxHeld = MaxHeldOf(seed);
        await using var bulk = await PostgresTestDb.OpenAsync(o => Bulk(o, maxHeld));
        await using var guarded = await PostgresTestDb.OpenAsync(o => o.BulkShadow = false);

        var stopped = await bulk.Sink.BeginShadowAsync(PostgresTestDb.Materializer, bulk.Target(Table), CancellationToken.None);
        foreach (var batch in batches.Take(stopAfter))
        {
            await ApplyAsync(new ShadowWritingSink(bulk.Sink, stopped), batch);
        }

        // The checkpoint covers changes that only the ended process held.
        var stoppedAt = await bulk.Sink.LoadCheckpointAsync(stopped.CheckpointName, CancellationToken.None);
        Assert.Equal(batches.Take(stopAfter).SelectMany(b => b).Max(c => c.Origin.Position), stoppedAt[Change.DefaultTopic]);
        await bulk.ReopenAsync();

        // A rerun begins the shadow again and reads its checkpoint from there: nothing, so from the start.
        var rerun = await bulk.Sink.BeginShadowAsync(PostgresTestDb.Materializer, bulk.Target(Table), CancellationToken.None);
        Assert.Empty(await new ShadowWritingSink(bulk.Sink, rerun).LoadCheckpointAsync(PostgresTestDb.Materializer, CancellationToken.None));
        await LoadAndSwapAsync(bulk, batches, rerun);
        await LoadAndSwapAsync(guarded, batches, await guarded.Sink.BeginShadowAsync(PostgresTestDb.Materializer, guarded.Target(Table), CancellationToken.None));

        Assert.Equal(await StateAsync(guarded), await StateAsync(bulk));
    }

    /// <summary>The sink's connection is killed in the middle of a collapsed load, with changes held and
    /// some already in the log: the sink reconnects, the held changes outlive the connection, and the
    /// table is the guarded one.</summary>
    [Property(MaxTest = 10)]
    public async Task A_killed_connection_in_the_middle_of_a_collapsed_shadow_backfill_loses_no_change(int seed)
    {
        var random = new Random(seed);
        var batches = PlainHistory(random);
        var killAfter = random.Next(1, batches.Count + 1);
        await using var bulk = await PostgresTestDb.OpenAsync(o => Bulk(o, MaxHeldOf(seed)));
        await using var guarded = await PostgresTestDb.OpenAsync(o => o.BulkShadow = false);

        var shadow = await bulk.Sink.BeginShadowAsync(PostgresTestDb.Materializer, bulk.Target(Table), CancellationToken.None);
        var sink = new ShadowWritingSink(bulk.Sink, shadow);
        for (var i = 0; i < batches.Count; i++)
        {
            await ApplyAsync(sink, batches[i]);
            if (i + 1 == killAfter)
            {
                await bulk.KillSinkConnectionAsync();
            }
        }

        await bulk.Sink.SwapShadowAsync(shadow, keepOld: false, CancellationToken.None);
        await LoadAndSwapAsync(guarded, batches, await guarded.Sink.BeginShadowAsync(PostgresTestDb.Materializer, guarded.Target(Table), CancellationToken.None));

        Assert.True(bulk.Sink.DiscardedConnections >= 1);
        Assert.Equal(await StateAsync(guarded), await StateAsync(bulk));
    }

    /// <summary>Histories of numbers (plain decimal texts of up to 30 digits before and 12 after the point,
    /// leading and trailing zeros, negative zeros; rarely an exponent, which <c>numeric</c> reads but the
    /// direct write does not encode), JSON documents and texts, held whole (the default bound) or written out
    /// in bounds of 1 to 7 keys: the table, versions and delete markers are the guarded path's. Held whole,
    /// the changes go straight into the shadow with each type's binary form; through the log, the server casts their text.
    /// A history whose first batch holds deletes only takes the guarded path throughout.</summary>
    [Property(MaxTest = 30)]
    public async Task Numbers_and_documents_held_whole_go_straight_into_the_shadow_as_the_guarded_path_leaves_them(int seed)
    {
        var random = new Random(seed);
        var exponents = seed % 4 == 0;
        var batches = History(random, maxBatches: 9, deleteOneIn: 5, (key, lsn) => Change.Upsert(key, lsn, ("name", $"n{random.Next(4)}"), ("price", DecimalOf(random, exponents)), ("doc", DocumentOf(random))));
        var maxHeld = MaxHeldOf(seed | (seed % 3 == 0 ? 7 : 0));
        await using var bulk = await PostgresTestDb.OpenAsync(o => Bulk(o, maxHeld));
        await using var guarded = await PostgresTestDb.OpenAsync(o => o.BulkShadow = false);
        foreach (var db in new[] { bulk, guarded })
        {
            await db.ApplyAsync(Table, Change.Upsert(("id", 1L), 1, ("name", "live"), ("price", FieldValue.FromDecimalText("1.5")), ("doc", FieldValue.FromJson("{}"))));
            await LoadAndSwapAsync(db, batches, await db.Sink.BeginShadowAsync(PostgresTestDb.Materializer, db.Target(Table), CancellationToken.None));
        }

        Assert.Equal(await StateAsync(guarded), await StateAsync(bulk));
        var changes = batches.SelectMany(b => b).ToList();
        var plain = changes.All(c => c.IsDelete || !c.After!.Values[Array.IndexOf(c.After.Names, "price")].ToText()!.Contains('E', StringComparison.Ordinal));
        if (batches[0].All(c => c.IsDelete))
        {
            // The load takes its columns from the first batch's row images: without one, the whole backfill takes the guarded path.
            Assert.Equal(0, bulk.Sink.DirectShadowBuilds);
        }
        else if (maxHeld == new PostgresSinkOptions().BulkShadowMaxKeys && plain)
        {
            Assert.Equal(1, bulk.Sink.DirectShadowBuilds);
        }
        else if (changes.Select(c => c.KeyText).Distinct().Count() >= maxHeld)
        {
            // A write-out reached the log: the shadow is built from it.
            Assert.Equal(0, bulk.Sink.DirectShadowBuilds);
        }
    }

    /// <summary>A plain decimal text, or with <paramref name="exponents"/> now and then one with an exponent.</summary>
    private static FieldValue DecimalOf(Random random, bool exponents)
    {
        string[] edges = ["0", "-0", "-0.00", "0.0001", "10000", "9999", "99999999.99990000", "00012.3400", "-1", "100000000.0000"];
        if (random.Next(4) == 0)
        {
            return FieldValue.FromDecimalText(edges[random.Next(edges.Length)]);
        }

        if (exponents && random.Next(6) == 0)
        {
            return FieldValue.FromDecimalText($"{random.Next(1, 99)}.{random.Next(10)}E+{random.Next(1, 9)}");
        }

        var digits = (int count) => new string([.. Enumerable.Range(0, count).Select(_ => (char)('0' + random.Next(10)))]);
        var whole = digits(random.Next(1, 31));
        var fraction = random.Next(3) == 0 ? string.Empty : "." + digits(random.Next(1, 13));
        return FieldValue.FromDecimalText((random.Next(3) == 0 ? "-" : string.Empty) + whole + fraction);
    }

    /// <summary>A JSON document, spaced and ordered as a producer might send it (jsonb normalizes both).</summary>
    private static FieldValue DocumentOf(Random random)
    {
        string[] documents = ["{}", "{\"b\": 1, \"a\": [1, 2.50, null]}", "{ \"a\" : \"x\\u00e9\" }", "[true, false]", "\"text\"", "12.0", "{\"a\": {\"a\": 1}, \"a\": 2}"];
        return random.Next(6) == 0 ? FieldValue.Null : FieldValue.FromJson(documents[random.Next(documents.Length)]);
    }

    [Fact]
    public async Task A_batch_whose_transaction_rolls_back_is_no_longer_held()
    {
        await using var db = await PostgresTestDb.OpenAsync(o => o.BulkShadow = true);
        var shadow = await db.Sink.BeginShadowAsync(PostgresTestDb.Materializer, db.Target(Table), CancellationToken.None);
        var sink = new ShadowWritingSink(db.Sink, shadow);
        await ApplyAsync(sink, [Change.Upsert(("id", 1), 10, ("name", "kept")).At(1), Change.Upsert(("id", 2), 11, ("name", "kept")).At(2)]);

        // The dead letters handed over before the commit cannot be written: the batch rolls back whole.
        var failing = new SinkBatch(PostgresTestDb.Materializer, new TargetSpec("ignored"), [Change.Upsert(("id", 1), 12, ("name", "rolled back")).At(3), Change.Upsert(("id", 3), 13, ("name", "rolled back")).At(4)], new Dictionary<string, StreamPosition> { [Change.DefaultTopic] = new(0, 4) })
        {
            BeforeCommit = (_, _) => throw new InvalidOperationException("the dead-letter target refused"),
        };
        await Assert.ThrowsAnyAsync<Exception>(async () => await sink.ApplyAsync(failing, CancellationToken.None));
        await db.Sink.SwapShadowAsync(shadow, keepOld: false, CancellationToken.None);

        Assert.Equal(["id=1|name=kept", "id=2|name=kept"], await db.CanonicalRowsAsync(Table));
    }

    private static void Bulk(PostgresSinkOptions options, int maxHeld)
    {
        options.BulkShadow = true;
        options.BulkShadowMaxKeys = maxHeld;
    }

    /// <summary>1 to 7 keys held before a write-out, or the default (more than any history's keys).</summary>
    private static int MaxHeldOf(int seed) => (seed & 7) == 7 ? new PostgresSinkOptions().BulkShadowMaxKeys : (seed & 7) + 1;

    /// <summary>Batches of 1 to 8 upserts and deletes, each with an LSN (1 to 39, repeated and out of order), positions 1, 2, ….</summary>
    private static List<ChangeEvent[]> PlainHistory(Random random) =>
        History(random, maxBatches: 11, deleteOneIn: 4, (key, lsn) => Change.Upsert(key, lsn, ("name", $"v{random.Next(4)}"), ("n", random.Next(100))));

    /// <summary>1 to <paramref name="maxBatches"/> batches of 1 to 8 changes over keys 1 to 8, each with an LSN (1 to 39),
    /// positions 1, 2, …: a delete one time in <paramref name="deleteOneIn"/>, else <paramref name="upsert"/>'s change.</summary>
    private static List<ChangeEvent[]> History(Random random, int maxBatches, int deleteOneIn, Func<(string, object?), long, ChangeEvent> upsert)
    {
        var batches = new List<ChangeEvent[]>();
        var position = 0L;
        for (var b = random.Next(1, maxBatches + 1); b > 0; b--)
        {
            var batch = new ChangeEvent[random.Next(1, 9)];
            for (var i = 0; i < batch.Length; i++)
            {
                var key = ("id", (object?)(long)random.Next(1, 9));
                var lsn = (long)random.Next(1, 40);
                batch[i] = (random.Next(deleteOneIn) == 0 ? Change.Delete(key, lsn) : upsert(key, lsn)).At(++position);
            }

            batches.Add(batch);
        }

        return batches;
    }

    private static async Task LoadAndSwapAsync(PostgresTestDb db, List<ChangeEvent[]> batches, ShadowTarget shadow)
    {
        var sink = new ShadowWritingSink(db.Sink, shadow);
        foreach (var batch in batches)
        {
            await ApplyAsync(sink, batch);
        }

        await db.Sink.SwapShadowAsync(shadow, keepOld: false, CancellationToken.None);
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

        // A history of deletes only creates no table on either path.
        if (await PostgresTestDb.ScalarAsync($"SELECT to_regclass('{db.Table(Table)}') IS NOT NULL") is true)
        {
            state.AddRange(await PostgresTestDb.RowsAsync($"SELECT to_jsonb(t)::text FROM {db.Table(Table)} t ORDER BY 1"));
        }

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
