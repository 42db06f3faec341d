using FsCheck;
using FsCheck.Xunit;

namespace Sync.Sinks.Tests.Conformance;

/// <summary>The behaviour every sink must have. A sink joins the suite with a subclass that
/// creates its harness; each test owns its own target.</summary>
public abstract partial class SinkConformanceTests
{
    protected const string Materializer = "conformance";

    protected abstract Task<ISinkHarness> CreateHarnessAsync();

    [Fact]
    public async Task Upsert_writes_the_row_and_a_second_upsert_replaces_it()
    {
        await using var h = await CreateHarnessAsync();
        var t = h.Target("upserts");

        await ApplyAsync(h, t, Change.Create(("id", 1), 10, ("name", "ada")));
        await ApplyAsync(h, t, Change.Update(("id", 1), 11, ("name", "ada lovelace")));

        Assert.Equal(["id=1|name=ada lovelace"], await h.ReadAsync(t));
    }

    [Fact]
    public async Task Delete_removes_the_row_and_a_delete_of_a_missing_key_is_harmless()
    {
        await using var h = await CreateHarnessAsync();
        var t = h.Target("deletes");

        await ApplyAsync(h, t, Change.Create(("id", 1), 10, ("name", "a")), Change.Create(("id", 2), 11, ("name", "b")));
        var result = await ApplyAsync(h, t, Change.Delete(("id", 1), 12), Change.Delete(("id", 99), 13));

        Assert.Equal(["id=2|name=b"], await h.ReadAsync(t));
        Assert.Empty(result.Rejected);
    }

    [Fact]
    public async Task A_row_can_be_created_again_after_a_delete()
    {
        await using var h = await CreateHarnessAsync();
        var t = h.Target("recreate");

        await ApplyAsync(h, t, Change.Create(("id", 1), 10, ("name", "a")));
        await ApplyAsync(h, t, Change.Delete(("id", 1), 11));
        await ApplyAsync(h, t, Change.Create(("id", 1), 12, ("name", "again")));

        Assert.Equal(["id=1|name=again"], await h.ReadAsync(t));
    }

    [Fact]
    public async Task A_batch_redelivered_twice_leaves_the_same_state()
    {
        await using var h = await CreateHarnessAsync();
        var t = h.Target("redelivered");
        ChangeEvent[] batch = [Change.Create(("id", 1), 10, ("name", "a")), Change.Update(("id", 1), 11, ("name", "b")), Change.Create(("id", 2), 12, ("name", "c"))];

        await ApplyAsync(h, t, batch);
        var once = await h.ReadAsync(t);
        await ApplyAsync(h, t, batch);
        await ApplyAsync(h, t, batch);

        Assert.Equal(once, await h.ReadAsync(t));
        Assert.Equal(["id=1|name=b", "id=2|name=c"], once);
    }

    [Fact]
    public async Task An_older_change_after_a_newer_one_does_not_win()
    {
        await using var h = await CreateHarnessAsync();
        var t = h.Target("older");

        await ApplyAsync(h, t, Change.Update(("id", 1), 20, ("name", "new")));
        var result = await ApplyAsync(h, t, Change.Update(("id", 1), 10, ("name", "old")));

        Assert.Equal(["id=1|name=new"], await h.ReadAsync(t));
        Assert.Equal(1, result.Stale);
    }

    [Fact]
    public async Task A_late_older_create_after_a_delete_does_not_resurrect_the_row()
    {
        await using var h = await CreateHarnessAsync();
        var t = h.Target("resurrect");

        await ApplyAsync(h, t, Change.Create(("id", 1), 10, ("name", "a")));
        await ApplyAsync(h, t, Change.Delete(("id", 1), 20));
        var result = await ApplyAsync(h, t, Change.Create(("id", 1), 15, ("name", "late")));

        Assert.Empty(await h.ReadAsync(t));
        Assert.Equal(1, result.Stale);
    }

    [Fact]
    public async Task The_checkpoint_survives_a_restart()
    {
        await using var h = await CreateHarnessAsync();
        var t = h.Target("checkpoint");
        var change = Change.Create(("id", 1), 10, ("name", "a")).At(42);

        await ApplyAsync(h, t, change);
        await h.RestartAsync();

        var checkpoint = await h.Sink.LoadCheckpointAsync(Materializer, CancellationToken.None);
        Assert.Equal(new StreamPosition(0, 42), checkpoint[change.Origin.Topic]);
        Assert.Equal(["id=1|name=a"], await h.ReadAsync(t));
    }

    [Fact]
    public async Task Composite_keys_identify_rows_by_every_key_column()
    {
        await using var h = await CreateHarnessAsync();
        var t = h.Target("composite");

        await ApplyAsync(h, t,
            Change.Create([("tenant", "a"), ("id", 1)], 10, ("name", "a1")),
            Change.Create([("tenant", "b"), ("id", 1)], 11, ("name", "b1")));
        await ApplyAsync(h, t, Change.Delete([("tenant", "a"), ("id", 1)], 12));

        Assert.Equal(["id=1|name=b1|tenant=b"], await h.ReadAsync(t));
    }

    [Fact]
    public async Task Unicode_long_values_and_nulls_are_stored_exactly()
    {
        await using var h = await CreateHarnessAsync();
        var t = h.Target("values");
        var longText = string.Concat(Enumerable.Repeat("ä漢🙂", 100_000));

        await ApplyAsync(h, t, Change.Create(("id", 1), 10, ("name", "Zoë 漢字 🙂"), ("bio", longText), ("note", null)));

        Assert.Equal([$"bio={longText}|id=1|name=Zoë 漢字 🙂|note=null"], await h.ReadAsync(t));
    }

    [Fact]
    public async Task Every_value_kind_the_decoder_produces_is_stored_exactly()
    {
        await using var h = await CreateHarnessAsync();
        var t = h.Target("kinds");
        (string Name, FieldValue Value, ColumnSchema Schema)[] columns =
        [
            ("flag", FieldValue.FromBoolean(true), new ColumnSchema("flag", LogicalType.Boolean, true)),
            ("count", FieldValue.FromInt64(-9_007_199_254_740_993), new ColumnSchema("count", LogicalType.Int64, true)),
            ("ratio", FieldValue.FromDouble(0.1), new ColumnSchema("ratio", LogicalType.Float64, true)),
            ("label", FieldValue.FromString("Zoë"), new ColumnSchema("label", LogicalType.String, true)),
            ("price", FieldValue.FromDecimalText("-123.45"), new ColumnSchema("price", LogicalType.Decimal, true, "org.apache.kafka.connect.data.Decimal", Precision: 10, Scale: 2)),
            ("big", FieldValue.FromDecimalText("1234567890123456789012345678901234567.890"), new ColumnSchema("big", LogicalType.VariableDecimal, true, "io.debezium.data.VariableScaleDecimal")),
            ("born", FieldValue.FromDate(-1), new ColumnSchema("born", LogicalType.Date, true, "io.debezium.time.Date")),
            ("opens", FieldValue.FromTime(34_200_123_456_000), new ColumnSchema("opens", LogicalType.Time, true, "io.debezium.time.MicroTime", Precision: 6)),
            ("seen", FieldValue.FromTimestamp(-1, TimeUnit.Microseconds), new ColumnSchema("seen", LogicalType.Timestamp, true, "io.debezium.time.MicroTimestamp", Precision: 6)),
            ("at", FieldValue.FromTimestampTz("2025-06-02T09:00:10.123456Z"), new ColumnSchema("at", LogicalType.TimestampTz, true, "io.debezium.time.ZonedTimestamp")),
            ("uid", FieldValue.FromUuid("6F1E7C2A-3B4D-4E5F-8A9B-0C1D2E3F4A5B"), new ColumnSchema("uid", LogicalType.Uuid, true, "io.debezium.data.Uuid")),
            ("doc", FieldValue.FromJson("{\"a\":[1,2]}"), new ColumnSchema("doc", LogicalType.Json, true, "io.debezium.data.Json")),
            ("raw", FieldValue.FromBytes([0, 1, 254, 255]), new ColumnSchema("raw", LogicalType.Bytes, true)),
            ("wait", FieldValue.FromInterval(93_784_500_000), new ColumnSchema("wait", LogicalType.Interval, true, "io.debezium.time.MicroDuration")),
        ];
        var change = Change.Create(("id", 1), 10, [.. columns.Select(c => (c.Name, (object?)c.Value))])
            .WithSchema([new ColumnSchema("id", LogicalType.Int32, false), .. columns.Select(c => c.Schema)]);

        var result = await ApplyAsync(h, t, change);

        Assert.Empty(result.Rejected);
        Assert.Equal(Canonical(change.After!), Assert.Single(await h.ReadAsync(t)));
    }

    [Fact]
    public async Task A_column_added_mid_stream_is_stored()
    {
        await using var h = await CreateHarnessAsync();
        var t = h.Target("evolve");

        await ApplyAsync(h, t, Change.Create(("id", 1), 10, ("name", "a")));
        await ApplyAsync(h, t, Change.Create(("id", 2), 11, ("name", "b"), ("tier", "gold")));

        Assert.Equal(["id=1|name=a|tier=null", "id=2|name=b|tier=gold"], await h.ReadAsync(t));
    }

    [Fact]
    public async Task A_row_without_its_key_column_is_rejected_with_a_reason_and_the_rest_applies()
    {
        await using var h = await CreateHarnessAsync();
        var t = h.Target("poison");
        var poison = Change.Create(("id", 2), 11, ("name", "m")).WithAfter(Change.RowOf(("name", "m")));

        var result = await ApplyAsync(h, t, Change.Create(("id", 1), 10, ("name", "a")), poison, Change.Create(("id", 3), 12, ("name", "c")));

        Assert.Equal(["id=1|name=a", "id=3|name=c"], await h.ReadAsync(t));
        var rejected = Assert.Single(result.Rejected);
        Assert.Same(poison, rejected.Change);
        Assert.Contains("id", rejected.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Erase_by_key_and_by_field_removes_the_rows_and_stops_older_changes()
    {
        await using var h = await CreateHarnessAsync();
        var t = h.Target("erase");
        await ApplyAsync(h, t,
            Change.Create(("id", 1), 10, ("customer", 7), ("name", "a")),
            Change.Create(("id", 2), 11, ("customer", 7), ("name", "b")),
            Change.Create(("id", 3), 12, ("customer", 8), ("name", "c")));

        var byField = new SubjectMatch("customer", FieldValue.FromInt64(7));
        Assert.Equal(2, await h.Sink.CountAsync(t, byField, CancellationToken.None));
        Assert.Equal(2, await h.Sink.EraseAsync(t, byField, CancellationToken.None));
        Assert.Equal(0, await h.Sink.CountAsync(t, byField, CancellationToken.None));
        Assert.Equal(1, await h.Sink.EraseAsync(t, new SubjectMatch("id", FieldValue.FromInt64(3)), CancellationToken.None));

        var replay = await ApplyAsync(h, t, Change.Create(("id", 1), 10, ("customer", 7), ("name", "a")));
        Assert.Empty(await h.ReadAsync(t));
        Assert.Equal(1, replay.Stale);

        // A newer change still in flight in a running materializer cannot bring the row back either.
        var inFlight = await ApplyAsync(h, t, Change.Update(("id", 2), 99, ("customer", 7), ("name", "b2")));
        Assert.Empty(await h.ReadAsync(t));
        Assert.Equal(1, inFlight.Stale);
    }

    [Fact]
    public async Task Batch_erase_by_a_non_key_column_counts_each_row_once_at_the_first_value_that_matches_it()
    {
        await using var h = await CreateHarnessAsync();
        var t = h.Target("erasemany");
        await ApplyAsync(h, t,
            Change.Create(("id", 1), 10, ("customer", 7), ("name", "a")),
            Change.Create(("id", 2), 11, ("customer", 7), ("name", "b")),
            Change.Create(("id", 3), 12, ("customer", 8), ("name", "c")),
            Change.Create(("id", 4), 13, ("customer", 9), ("name", "d")));
        var subjects = new SubjectMatches("customer", [FieldValue.FromInt64(7), FieldValue.FromInt64(5), FieldValue.FromInt64(7), FieldValue.FromInt64(8)]);

        Assert.Equal([2L, 0, 0, 1], await h.Sink.CountManyAsync(t, subjects, CancellationToken.None));
        Assert.Equal([2L, 0, 0, 1], await h.Sink.EraseManyAsync(t, subjects, CancellationToken.None));

        Assert.Equal([0L, 0, 0, 0], await h.Sink.CountManyAsync(t, subjects, CancellationToken.None));
        Assert.Equal(["customer=9|id=4|name=d"], await h.ReadAsync(t));
        var replay = await ApplyAsync(h, t, Change.Update(("id", 3), 99, ("customer", 8), ("name", "c2")));
        Assert.Equal(1, replay.Stale);
        Assert.Equal(["customer=9|id=4|name=d"], await h.ReadAsync(t));
    }

    [Fact]
    public async Task Batch_erase_compares_each_value_as_the_column_type_does()
    {
        await using var h = await CreateHarnessAsync();
        var t = h.Target("erasekinds");
        await ApplyAsync(h, t,
            Change.Create(("id", 1), 10, ("code", "7"), ("name", "a")),
            Change.Create(("id", 2), 11, ("code", "x-2"), ("name", "b")),
            Change.Create(("id", 3), 12, ("code", "9"), ("name", "c")));

        // An integer against a text column, text against an integer column, and text against text.
        var byCode = new SubjectMatches("code", [FieldValue.FromInt64(7), FieldValue.FromString("x-2")]);
        Assert.Equal([1L, 1], await h.Sink.CountManyAsync(t, byCode, CancellationToken.None));
        Assert.Equal([1L, 1], await h.Sink.EraseManyAsync(t, byCode, CancellationToken.None));
        var byId = new SubjectMatches("id", [FieldValue.FromString("3")]) { IsKey = true };
        Assert.Equal([1L], await h.Sink.EraseManyAsync(t, byId, CancellationToken.None));

        Assert.Empty(await h.ReadAsync(t));
    }

    [Fact]
    public async Task Batch_erase_and_count_with_a_value_that_cannot_be_a_number_go_on_for_the_other_values()
    {
        // A malformed key (an email where a numeric id is expected) among valid ones: it matches no row
        // and the others are still counted and erased (Elasticsearch answers such a term query with 400,
        // PostgreSQL refuses 'x'::bigint; neither may fail the chunk).
        await using var h = await CreateHarnessAsync();
        var t = h.Target("erasemalformed");
        await ApplyAsync(h, t,
            Change.Create(("id", 1), 10, ("customer", 7), ("name", "a")),
            Change.Create(("id", 2), 11, ("customer", 8), ("name", "b")),
            Change.Create(("id", 3), 12, ("customer", 9), ("name", "c")));
        var byCustomer = new SubjectMatches("customer", [FieldValue.FromInt64(7), FieldValue.FromString("ada@example.com"), FieldValue.FromString("9")]);
        var byId = new SubjectMatches("id", [FieldValue.FromString("nobody@example.com"), FieldValue.FromInt64(2)]) { IsKey = true };

        Assert.Equal([1L, 0, 1], await h.Sink.CountManyAsync(t, byCustomer, CancellationToken.None));
        Assert.Equal(0L, await h.Sink.CountAsync(t, new SubjectMatch("customer", FieldValue.FromString("ada@example.com")), CancellationToken.None));
        Assert.Equal(0L, await h.Sink.EraseAsync(t, new SubjectMatch("customer", FieldValue.FromString("ada@example.com")), CancellationToken.None));
        Assert.Equal([1L, 0, 1], await h.Sink.EraseManyAsync(t, byCustomer, CancellationToken.None));
        Assert.Equal([0L, 1], await h.Sink.EraseManyAsync(t, byId, CancellationToken.None));

        Assert.Empty(await h.ReadAsync(t));
        var reasons = await h.Sink.CannotMatchAsync(t, byCustomer, CancellationToken.None);
        Assert.Equal(3, reasons.Count);
        Assert.Null(reasons[0]);
        Assert.Null(reasons[2]);
        Assert.Equal(CannotMatchNumberReason, reasons[1]);
    }

    [Fact]
    public async Task A_key_is_called_unmatchable_exactly_where_the_column_refused_to_hold_such_a_value()
    {
        // The sinks agree on one rule: "cannot match (type)" only where the subject column's type cannot
        // hold the key (PostgreSQL bigint, Elasticsearch long: the text row is rejected); where the column
        // can hold it (SQLite's INTEGER affinity keeps non-numeric text as TEXT, Redis keeps strings), the
        // key is no exception and is counted and erased like any other.
        await using var h = await CreateHarnessAsync();
        var t = h.Target("holdstext");
        await ApplyAsync(h, t, Change.Create(("id", 1), 10, ("customer", 7)));
        var second = await ApplyAsync(h, t, Change.Create(("id", 2), 11, ("customer", "ada@example.com")));
        var matches = new SubjectMatches("customer", [FieldValue.FromString("ada@example.com")]);

        var reason = (await h.Sink.CannotMatchAsync(t, matches, CancellationToken.None))[0];
        var counted = (await h.Sink.CountManyAsync(t, matches, CancellationToken.None))[0];
        var erased = (await h.Sink.EraseManyAsync(t, matches, CancellationToken.None))[0];

        Assert.Equal(CannotMatchNumberReason, reason);
        Assert.Equal(reason is null ? 0 : 1, second.Rejected.Count);
        Assert.Equal(reason is null ? 1L : 0L, counted);
        Assert.Equal(counted, erased);
    }

    [Fact]
    public async Task Batch_erase_of_an_empty_list_or_an_unknown_column_changes_nothing()
    {
        await using var h = await CreateHarnessAsync();
        var t = h.Target("eraseempty");
        await ApplyAsync(h, t, Change.Create(("id", 1), 10, ("name", "a")));

        Assert.Empty(await h.Sink.EraseManyAsync(t, new SubjectMatches("id", []) { IsKey = true }, CancellationToken.None));
        Assert.Empty(await h.Sink.CountManyAsync(t, new SubjectMatches("id", []), CancellationToken.None));
        Assert.Equal([0L], await h.Sink.EraseManyAsync(t, new SubjectMatches("nowhere", [FieldValue.FromInt64(1)]), CancellationToken.None));

        Assert.Equal(["id=1|name=a"], await h.ReadAsync(t));
    }

    [Fact]
    public async Task Batch_erase_by_key_leaves_markers_for_keys_already_deleted_or_never_written()
    {
        await using var h = await CreateHarnessAsync();
        var t = h.Target("eraseabsent");
        await ApplyAsync(h, t,
            Change.Create(("id", 1), 10, ("name", "a")),
            Change.Create(("id", 2), 11, ("name", "b")),
            Change.Create(("id", 5), 12, ("name", "kept")));
        await ApplyAsync(h, t, Change.Delete(("id", 2), 20));

        var keys = new SubjectMatches("id", [FieldValue.FromInt64(1), FieldValue.FromInt64(2), FieldValue.FromInt64(3)]) { IsKey = true };
        Assert.Equal([1L, 0, 0], await h.Sink.EraseManyAsync(t, keys, CancellationToken.None));

        // Changes still in flight for the erased keys, older and newer than what the sink held, and
        // for a key the sink never saw: none of them may bring a subject back.
        var late = await ApplyAsync(h, t,
            Change.Update(("id", 1), 15, ("name", "a-old")),
            Change.Create(("id", 2), 11, ("name", "b-replayed")),
            Change.Create(("id", 3), 40, ("name", "c-new")));
        var newer = await ApplyAsync(h, t, Change.Update(("id", 2), 30, ("name", "b-newer")));
        Assert.Equal(3, late.Stale);
        Assert.Equal(1, newer.Stale);
        Assert.Equal(["id=5|name=kept"], await h.ReadAsync(t));

        // The markers survive a restart, and a second erase of the same keys finds nothing.
        await h.RestartAsync();
        await ApplyAsync(h, t, Change.Update(("id", 3), 41, ("name", "c-again")));
        Assert.Equal(["id=5|name=kept"], await h.ReadAsync(t));
        Assert.Equal([0L, 0, 0], await h.Sink.EraseManyAsync(t, keys, CancellationToken.None));
    }

    /// <summary>Whether <see cref="ISink.EraseAsync"/> (one value, not told that the column is the
    /// subject's key) marks a key without a row of a table keyed by that column alone. A sink that
    /// cannot tell its target's key columns (Elasticsearch) leaves that to the ledger.</summary>
    protected virtual bool SingleEraseMarksAbsentKeys => true;

    /// <summary>What <see cref="ISink.CannotMatchAsync"/> says of text where the sink holds a number;
    /// null where a column first written with numbers can hold text as well (SQLite, Redis).</summary>
    protected virtual string? CannotMatchNumberReason => null;

    [Fact]
    public async Task Single_erase_of_a_key_without_a_row_marks_it_where_the_sink_knows_the_table_is_keyed_by_that_column()
    {
        await using var h = await CreateHarnessAsync();
        var t = h.Target("eraseoneabsent");
        await ApplyAsync(h, t, Change.Create(("id", 1), 10, ("name", "a")), Change.Create(("id", 2), 11, ("name", "b")));
        await ApplyAsync(h, t, Change.Delete(("id", 2), 20));

        Assert.Equal(0, await h.Sink.EraseAsync(t, new SubjectMatch("id", FieldValue.FromInt64(2)), CancellationToken.None));
        Assert.Equal(0, await h.Sink.EraseAsync(t, new SubjectMatch("id", FieldValue.FromInt64(3)), CancellationToken.None));
        var late = await ApplyAsync(h, t, Change.Update(("id", 2), 30, ("name", "b-newer")), Change.Create(("id", 3), 40, ("name", "c")));

        Assert.Equal(SingleEraseMarksAbsentKeys ? 2 : 0, late.Stale);
        Assert.Equal(SingleEraseMarksAbsentKeys ? ["id=1|name=a"] : ["id=1|name=a", "id=2|name=b-newer", "id=3|name=c"], await h.ReadAsync(t));
    }

    [Fact]
    public async Task Marking_erased_keys_turns_delete_markers_into_erasure_markers_and_leaves_live_rows_alone()
    {
        await using var h = await CreateHarnessAsync();
        var t = h.Target("markerased");
        await ApplyAsync(h, t,
            Change.Create(("id", 1), 10, ("customer", 7), ("name", "a")),
            Change.Create(("id", 2), 11, ("customer", 7), ("name", "b")),
            Change.Create(("id", 3), 12, ("customer", 8), ("name", "c")));
        // A running materializer applied the erase's tombstone of key 1 first: an ordinary delete marker.
        await ApplyAsync(h, t, Change.Delete(("id", 1), 20));

        var keys = new[] { Change.RowOf(("id", 1)), Change.RowOf(("id", 3)), Change.RowOf(("id", 4)) };
        var outcome = await h.Sink.MarkErasedManyAsync(t, keys, CancellationToken.None);

        // Key 1 (its delete marker converted) and key 4 (no row, no marker); key 3 holds a row: someone else's.
        Assert.Equal(new MarkOutcome(2, true), outcome);
        var late = await ApplyAsync(h, t,
            Change.Update(("id", 1), 30, ("customer", 7), ("name", "a-newer")),
            Change.Create(("id", 4), 40, ("customer", 7), ("name", "d")),
            Change.Update(("id", 3), 50, ("customer", 9), ("name", "c2")));
        Assert.Equal(2, late.Stale);
        Assert.Equal(["customer=7|id=2|name=b", "customer=9|id=3|name=c2"], await h.ReadAsync(t));
        // Again: keys 1 and 4 are erased already, key 3 still holds its row.
        Assert.Equal(new MarkOutcome(0, true), await h.Sink.MarkErasedManyAsync(t, keys, CancellationToken.None));
    }

    [Property(MaxTest = 25)]
    public bool Any_sequence_with_redeliveries_ends_in_the_reference_state(byte[] ops, byte[] keys, int[] picks, PositiveInt batchSize)
    {
        var log = Changelogs.Random(ops, keys, keyCount: 4);
        var delivery = Changelogs.WithRedeliveries(log, picks);
        var expected = Changelogs.FinalState(log).Values.Select(Canonical).Order(StringComparer.Ordinal).ToList();

        return Task.Run(async () =>
        {
            await using var h = await CreateHarnessAsync();
            var t = h.Target("property");
            foreach (var batch in delivery.Chunk(Math.Min(batchSize.Get, 7)))
            {
                await ApplyAsync(h, t, Engine.Runtime.Collapser.Collapse(batch).ToArray());
            }

            return expected.SequenceEqual(await h.ReadAsync(t));
        }).GetAwaiter().GetResult();
    }

    /// <summary>A row as the harnesses print it: columns by name, canonical text.</summary>
    protected static string Canonical(Row row) =>
        string.Join('|', row.Names.Select((n, i) => (n, v: row.Values[i].ToText() ?? "null")).OrderBy(c => c.n, StringComparer.Ordinal).Select(c => $"{c.n}={c.v}"));

    protected static async Task<ApplyResult> ApplyAsync(ISinkHarness harness, TargetSpec target, params ChangeEvent[] changes)
    {
        var checkpoint = changes.GroupBy(c => c.Origin.Topic).ToDictionary(g => g.Key, g => g.Max(c => c.Origin.Position));
        return await harness.Sink.ApplyAsync(new SinkBatch(Materializer, target, changes, checkpoint), CancellationToken.None);
    }
}
