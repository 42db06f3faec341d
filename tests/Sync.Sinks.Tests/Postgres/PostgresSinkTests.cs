using System.Numerics;
using Npgsql;

namespace Sync.Sinks.Tests.Postgres;

/// <summary>The PostgreSQL sink against a real server (SYNC_TEST_POSTGRES from ./scripts/test.sh);
/// each test owns its schema.</summary>
public sealed class PostgresSinkTests
{
    private static readonly ColumnSchema[] EveryType =
    [
        new("id", LogicalType.Int64, false),
        new("flag", LogicalType.Boolean, true),
        new("small", LogicalType.Int16, true),
        new("medium", LogicalType.Int32, true),
        new("real4", LogicalType.Float32, true),
        new("real8", LogicalType.Float64, true),
        new("label", LogicalType.String, true),
        new("blob", LogicalType.Bytes, true),
        new("price", LogicalType.Decimal, true, "org.apache.kafka.connect.data.Decimal", Precision: 12, Scale: 4),
        new("huge", LogicalType.Decimal, true, "org.apache.kafka.connect.data.Decimal", Scale: 5),
        new("vardec", LogicalType.VariableDecimal, true, "io.debezium.data.VariableScaleDecimal"),
        new("day", LogicalType.Date, true, "io.debezium.time.Date"),
        new("clock", LogicalType.Time, true, "io.debezium.time.MicroTime", Precision: 6),
        new("stamp", LogicalType.Timestamp, true, "io.debezium.time.MicroTimestamp", Precision: 6),
        new("instant", LogicalType.TimestampTz, true, "io.debezium.time.ZonedTimestamp"),
        new("zoned_clock", LogicalType.TimeTz, true, "io.debezium.time.ZonedTime"),
        new("uid", LogicalType.Uuid, true, "io.debezium.data.Uuid"),
        new("doc", LogicalType.Json, true, "io.debezium.data.Json"),
        new("bits", LogicalType.Bits, true, "io.debezium.data.Bits", Length: 16),
        new("mood", LogicalType.Enum, true, "io.debezium.data.Enum", Allowed: "happy,sad"),
        new("span", LogicalType.Interval, true, "io.debezium.time.MicroDuration"),
    ];

    private static ChangeEvent EveryTypeRow(long id, long lsn, bool pre1970) => Change.Create(("id", id), lsn,
        ("flag", true),
        ("small", (short)-32768),
        ("medium", int.MaxValue),
        ("real4", FieldValue.FromDouble(1.5f)),
        ("real8", pre1970 ? -0.1 : 6.02214076e23),
        ("label", "Zoë \"quoted\" 'single' \\ 漢字 🙂"),
        ("blob", new byte[] { 0, 1, 2, 254, 255 }),
        ("price", FieldValue.FromDecimal(new BigInteger(-123456789), 4)),
        ("huge", FieldValue.FromDecimal(BigInteger.Parse("-1234567890123456789012345678901234567890", System.Globalization.CultureInfo.InvariantCulture), 5)),
        ("vardec", FieldValue.FromDecimalText("0.000000000000000000000000000001")),
        ("day", FieldValue.FromDate(pre1970 ? -25567 : 19000)),
        ("clock", FieldValue.FromTime(((13L * 3600) + (14 * 60) + 15) * 1_000_000_000 + 123_456_000)),
        ("stamp", FieldValue.FromTimestamp(pre1970 ? -1L : 1_700_000_000_123_456L, TimeUnit.Microseconds)),
        ("instant", FieldValue.FromTimestampTz(pre1970 ? "1969-07-20T20:17:40.5Z" : "2024-02-29T23:59:59.999999Z")),
        ("zoned_clock", FieldValue.FromTimeTz("10:15:30.25Z")),
        ("uid", FieldValue.FromUuid("7f2c3a9e-1b4d-4c8e-9a0f-1234567890ab")),
        ("doc", FieldValue.FromJson("{\"a\":[1,2.50,null],\"b\":{\"c\":\"漢\"}}")),
        ("bits", new byte[] { 0b1010_0001, 0b0000_0001 }),
        ("mood", "happy"),
        ("span", FieldValue.FromInterval(pre1970 ? -1_500_000 : ((26L * 3600) + 3) * 1_000_000 + 4))).WithSchema(EveryType);

    [Fact]
    public async Task Every_Debezium_type_gets_an_exact_column_type_and_round_trips_exactly()
    {
        await using var db = await PostgresTestDb.OpenAsync();
        var modern = EveryTypeRow(1, 10, pre1970: false);
        var old = EveryTypeRow(2, 11, pre1970: true);

        var result = await db.ApplyAsync("types", modern, old);

        Assert.Empty(result.Rejected);
        Assert.Equal(
            [
                "id bigint", "flag boolean", "small smallint", "medium integer", "real4 real", "real8 double precision", "label text", "blob bytea",
                "price numeric(12,4)", "huge numeric", "vardec numeric", "day date", "clock time without time zone", "stamp timestamp without time zone",
                "instant timestamp with time zone", "zoned_clock time with time zone", "uid uuid", "doc jsonb", "bits bit varying", "mood text", "span interval",
                "_sync_version bigint", "_sync_version_stream text", "_sync_version_position bigint[]",
            ],
            await db.ColumnsAsync("types"));
        var rows = await db.CanonicalRowsAsync("types");
        Assert.Equal(Canonical(modern.After!).Split('|'), rows.Single(r => r.Contains("|id=1|", StringComparison.Ordinal)).Split('|'));
        Assert.Equal(Canonical(old.After!).Split('|'), rows.Single(r => r.Contains("|id=2|", StringComparison.Ordinal)).Split('|'));

        // The server holds the values themselves, not approximations: check its own text output.
        Assert.Equal(
            [
                "1|-12345.6789|-12345678901234567890123456789012345.67890|0.000000000000000000000000000001|2022-01-08|13:14:15.123456|2023-11-14 22:13:20.123456|2024-02-29 23:59:59.999999+00|1 day 02:00:03.000004",
                "2|-12345.6789|-12345678901234567890123456789012345.67890|0.000000000000000000000000000001|1900-01-01|13:14:15.123456|1969-12-31 23:59:59.999999|1969-07-20 20:17:40.5+00|-00:00:01.5",
            ],
            await PostgresTestDb.RowsAsync($"SELECT id::text, price::text, huge::text, vardec::text, day::text, clock::text, stamp::text, instant::text, justify_hours(span)::text FROM {db.Table("types")} ORDER BY id"));
    }

    [Fact]
    public async Task A_key_is_called_unmatchable_only_where_the_column_type_cannot_read_it()
    {
        // The input syntax of PostgreSQL's own parsers decides (boolin accepts yes/no/on/off/t/f and
        // their prefixes, uuid_in any hex form, numeric_in a decimal); text columns and the types not
        // checked (dates here) are never called unmatchable.
        await using var db = await PostgresTestDb.OpenAsync();
        await db.ApplyAsync("typedkeys", EveryTypeRow(1, 10, pre1970: false));
        var target = db.Target("typedkeys");

        async Task<string?> ReasonAsync(string column, string key) =>
            (await db.Sink.CannotMatchAsync(target, new SubjectMatches(column, [FieldValue.FromString(key)]), CancellationToken.None))[0];

        Assert.Null(await ReasonAsync("flag", "yes"));
        Assert.Equal("cannot match (boolean)", await ReasonAsync("flag", "maybe"));
        Assert.Null(await ReasonAsync("uid", "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11"));
        Assert.Equal("cannot match (uuid)", await ReasonAsync("uid", "ada@example.com"));
        Assert.Null(await ReasonAsync("price", "12.5"));
        Assert.Equal("cannot match (numeric(12,4))", await ReasonAsync("price", "twelve"));
        Assert.Equal("cannot match (smallint)", await ReasonAsync("small", "70000"));
        Assert.Null(await ReasonAsync("label", "anything at all"));
        Assert.Null(await ReasonAsync("day", "not a date"));
        Assert.Null(await ReasonAsync("no_such_column", "x"));
        Assert.Equal(0L, await db.Sink.CountAsync(target, new SubjectMatch("uid", FieldValue.FromString("ada@example.com")), CancellationToken.None));
    }

    [Fact]
    public async Task Without_a_schema_columns_are_typed_from_the_values()
    {
        await using var db = await PostgresTestDb.OpenAsync();

        await db.ApplyAsync("kinds", Change.Create(("id", 1), 10,
            ("flag", false), ("n", 42L), ("x", 0.25), ("s", "text"), ("d", 12.50m), ("day", new DateOnly(1960, 2, 29)),
            ("at", new DateTime(1955, 11, 5, 6, 0, 0, DateTimeKind.Utc)), ("g", Guid.Parse("00000000-0000-0000-0000-000000000001")),
            ("b", new byte[] { 9 }), ("span", TimeSpan.FromMinutes(90)), ("empty", null)));

        Assert.Equal(
            ["id bigint", "flag boolean", "n bigint", "x double precision", "s text", "d numeric", "day date", "at timestamp without time zone",
             "g uuid", "b bytea", "span interval", "empty text", "_sync_version bigint", "_sync_version_stream text", "_sync_version_position bigint[]"],
            await db.ColumnsAsync("kinds"));
        Assert.Equal(
            ["at=1955-11-05T06:00:00|b=CQ==|d=12.50|day=1960-02-29|empty=null|flag=false|g=00000000-0000-0000-0000-000000000001|id=1|n=42|s=text|span=PT1H30M|x=0.25"],
            await db.CanonicalRowsAsync("kinds"));
    }

    [Fact]
    public async Task A_new_column_is_added_as_nullable_and_no_column_is_ever_dropped()
    {
        await using var db = await PostgresTestDb.OpenAsync();

        await db.ApplyAsync("evolve", Change.Create(("id", 1), 10, ("name", "a"), ("old", "x")));
        var result = await db.ApplyAsync("evolve", Change.Create(("id", 2), 11, ("name", "b"), ("tier", 3)));

        Assert.Empty(result.Rejected);
        Assert.Equal(["id bigint", "name text", "old text", "_sync_version bigint", "_sync_version_stream text", "_sync_version_position bigint[]", "tier bigint"], await db.ColumnsAsync("evolve"));
        Assert.Equal(["id=1|name=a|old=x|tier=null", "id=2|name=b|old=null|tier=3"], await db.CanonicalRowsAsync("evolve"));
        Assert.Equal(new[] { "fillfactor=80" }, await PostgresTestDb.ScalarAsync($"SELECT reloptions FROM pg_class WHERE oid = to_regclass('{db.Table("evolve")}')"));
        Assert.Equal("YES", await PostgresTestDb.ScalarAsync($"SELECT is_nullable FROM information_schema.columns WHERE table_schema = '{db.Schema}' AND table_name = 'evolve' AND column_name = 'tier'"));
    }

    [Fact]
    public async Task With_schema_evolution_none_a_new_column_is_rejected_by_name_and_the_rest_applies()
    {
        await using var db = await PostgresTestDb.OpenAsync();
        var target = db.Target("fixed", new PostgresTargetOptions { SchemaEvolution = SchemaEvolution.None });

        await db.ApplyAsync(target, Change.Create(("id", 1), 10, ("name", "a")));
        var widened = Change.Create(("id", 2), 11, ("name", "b"), ("tier", "gold"));
        var result = await db.ApplyAsync(target, widened, Change.Create(("id", 3), 12, ("name", "c")));

        var rejected = Assert.Single(result.Rejected);
        Assert.Same(widened, rejected.Change);
        Assert.Contains("column \"tier\" is not in the table and schemaEvolution is none", rejected.Reason, StringComparison.Ordinal);
        Assert.DoesNotContain("gold", rejected.Reason, StringComparison.Ordinal);
        Assert.Equal(["id=1|name=a", "id=3|name=c"], await db.CanonicalRowsAsync("fixed"));
    }

    [Fact]
    public async Task A_type_change_is_rejected_with_the_column_the_old_and_the_new_type()
    {
        await using var db = await PostgresTestDb.OpenAsync();
        var amount = new ColumnSchema("amount", LogicalType.Decimal, true, "org.apache.kafka.connect.data.Decimal", Precision: 10, Scale: 2);
        var id = new ColumnSchema("id", LogicalType.Int32, false);
        await db.ApplyAsync("money", Change.Create(("id", 1), 10, ("amount", FieldValue.FromDecimalText("1.50"))).WithSchema(id, amount));

        var changed = Change.Create(("id", 2), 11, ("amount", FieldValue.FromDecimalText("2.500"))).WithSchema(id, amount with { Precision = 12, Scale = 3 });
        var result = await db.ApplyAsync("money", changed);

        var rejected = Assert.Single(result.Rejected);
        Assert.Contains("column \"amount\" changed type: the table has numeric(10,2), the change has numeric(12,3)", rejected.Reason, StringComparison.Ordinal);
        Assert.Equal(["amount=1.50|id=1"], await db.CanonicalRowsAsync("money"));
    }

    [Fact]
    public async Task Identifiers_from_events_are_quoted_never_executed()
    {
        await using var db = await PostgresTestDb.OpenAsync();
        const string Evil = "x\"; drop table users; --";
        await using (var connection = await PostgresTestDb.ConnectAsync())
        await using (var create = new NpgsqlCommand($"CREATE SCHEMA {PostgresTestDb.Q(db.Schema)}; CREATE TABLE {db.Table("users")} (id int PRIMARY KEY)", connection))
        {
            await create.ExecuteNonQueryAsync();
        }

        var result = await db.ApplyAsync("evil\"; drop table users; --", Change.Create((Evil, 1), 10, ("name'); drop table users; --", "a")));

        Assert.Empty(result.Rejected);
        Assert.Equal(["name'); drop table users; --=a|x\"; drop table users; --=1"], await db.CanonicalRowsAsync("evil\"; drop table users; --"));
        Assert.Equal(0L, await PostgresTestDb.ScalarAsync($"SELECT count(*) FROM {db.Table("users")}"));
        Assert.Equal(1L, await db.Sink.EraseAsync(db.Target("evil\"; drop table users; --"), new SubjectMatch(Evil, FieldValue.FromInt64(1)), CancellationToken.None));
    }

    [Fact]
    public async Task Names_PostgreSQL_cannot_hold_are_rejected_with_a_clear_reason()
    {
        await using var db = await PostgresTestDb.OpenAsync();
        var tooLong = new string('a', 64);

        var result = await db.ApplyAsync("names",
            Change.Create(("id", 1), 10, (tooLong, "x")),
            Change.Create(("id", 2), 11, ("_sync_version", 5)),
            Change.Create(("id", 3), 12, ("ok", "y")));

        Assert.Equal(2, result.Rejected.Count);
        Assert.Contains("is 64 bytes long; PostgreSQL identifiers hold at most 63", result.Rejected[0].Reason, StringComparison.Ordinal);
        Assert.Contains("column \"_sync_version\" is reserved", result.Rejected[1].Reason, StringComparison.Ordinal);
        Assert.Equal(["id=3|ok=y"], await db.CanonicalRowsAsync("names"));
        await Assert.ThrowsAsync<ArgumentException>(async () => await db.ApplyAsync(tooLong, Change.Create(("id", 1), 10)));
    }

    [Fact]
    public async Task A_row_the_server_refuses_is_rejected_without_its_values_and_the_rest_applies()
    {
        await using var db = await PostgresTestDb.OpenAsync();
        var id = new ColumnSchema("id", LogicalType.Int64, false);
        var amount = new ColumnSchema("amount", LogicalType.Decimal, true, "org.apache.kafka.connect.data.Decimal", Precision: 5, Scale: 2);
        ChangeEvent Row(long key, string value) => Change.Create(("id", key), 10 + key, ("amount", FieldValue.FromDecimalText(value))).WithSchema(id, amount);
        var poison = Row(4, "98765432.10");
        var rejectedSeen = new List<RejectedChange>();
        var batch = new[] { Row(1, "1.00"), Row(2, "2.00"), Row(3, "3.00"), poison, Row(5, "5.00"), Row(6, "6.00"), Row(7, "7.00") };

        var result = await db.Sink.ApplyAsync(
            new SinkBatch(PostgresTestDb.Materializer, db.Target("limits"), batch, new Dictionary<string, StreamPosition> { [Change.DefaultTopic] = new(0, 17) })
            {
                BeforeCommit = BeforeCommitHooks.Observing(rejectedSeen.AddRange),
            },
            CancellationToken.None);

        var rejected = Assert.Single(result.Rejected);
        Assert.Same(poison, rejected.Change);
        Assert.Same(poison, Assert.Single(rejectedSeen).Change);
        Assert.Contains("table \"" + db.Schema + "\".\"limits\" (key \"id\")", rejected.Reason, StringComparison.Ordinal);
        Assert.Contains("22003", rejected.Reason, StringComparison.Ordinal);
        Assert.DoesNotContain("98765432", rejected.Reason, StringComparison.Ordinal);
        Assert.Equal(6, result.Upserted);
        Assert.Equal(6, (await db.CanonicalRowsAsync("limits")).Count);
    }

    [Fact]
    public async Task A_row_the_server_refuses_beside_deletes_in_one_batch_is_rejected_alone_and_the_deletes_apply()
    {
        // The upserts and the deletes of a batch travel in one round trip; a refused row rolls both back
        // to their savepoint, and each is applied again on its own, isolating the row.
        await using var db = await PostgresTestDb.OpenAsync();
        var id = new ColumnSchema("id", LogicalType.Int64, false);
        var amount = new ColumnSchema("amount", LogicalType.Decimal, true, "org.apache.kafka.connect.data.Decimal", Precision: 5, Scale: 2);
        ChangeEvent Row(long key, long lsn, string value) => Change.Create(("id", key), lsn, ("amount", FieldValue.FromDecimalText(value))).WithSchema(id, amount);
        await db.ApplyAsync("mixed", Row(1, 10, "1.00"), Row(2, 11, "2.00"), Row(3, 12, "3.00"));
        var poison = Row(4, 20, "98765432.10");

        var result = await db.ApplyAsync("mixed", Row(1, 21, "1.50"), poison, Change.Delete(("id", 2), 22), Change.Delete(("id", 3), 5), Row(5, 23, "5.00"));

        Assert.Same(poison, Assert.Single(result.Rejected).Change);
        Assert.Equal(2, result.Upserted);
        Assert.Equal(1, result.Deleted);
        Assert.Equal(1, result.Stale);
        Assert.Equal(["amount=1.50|id=1", "amount=3.00|id=3", "amount=5.00|id=5"], await db.CanonicalRowsAsync("mixed"));
    }

    [Fact]
    public async Task A_value_of_the_wrong_kind_is_rejected_before_it_reaches_the_server()
    {
        await using var db = await PostgresTestDb.OpenAsync();
        await db.ApplyAsync("kinds", Change.Create(("id", 1), 10, ("n", 1)));

        var result = await db.ApplyAsync("kinds", Change.Create(("id", 2), 11, ("n", "not a number")), Change.Create(("id", 3), 12, ("n", 3)));

        var rejected = Assert.Single(result.Rejected);
        Assert.Contains("column \"n\" (bigint): a String value does not fit the column type", rejected.Reason, StringComparison.Ordinal);
        Assert.Equal(["id=1|n=1", "id=3|n=3"], await db.CanonicalRowsAsync("kinds"));
    }

    [Fact]
    public async Task A_redelivered_batch_changes_nothing_and_counts_as_stale()
    {
        await using var db = await PostgresTestDb.OpenAsync();
        ChangeEvent[] batch = [Change.Create(("id", 1), 10, ("name", "a")), Change.Create(("id", 2), 11, ("name", "b")), Change.Delete(("id", 3), 12)];

        var first = await db.ApplyAsync("again", batch);
        var versions = await PostgresTestDb.RowsAsync($"SELECT id, _sync_version, _sync_version_stream, _sync_version_position::text FROM {db.Table("again")} ORDER BY id");
        var second = await db.ApplyAsync("again", batch);

        Assert.Equal((2, 1, 0), (first.Upserted, first.Deleted, first.Stale));
        Assert.Equal(["id=1|name=a", "id=2|name=b"], await db.CanonicalRowsAsync("again"));
        Assert.Equal($"1|10|{Change.DefaultTopic}|{{0,10,-1}}", versions[0]);
        Assert.Equal(versions, await PostgresTestDb.RowsAsync($"SELECT id, _sync_version, _sync_version_stream, _sync_version_position::text FROM {db.Table("again")} ORDER BY id"));
        Assert.Equal(0, second.Stale + second.Upserted - 2);
    }

    [Fact]
    public async Task A_tombstone_without_an_lsn_keeps_the_stored_lsn_so_an_older_replay_stays_stale()
    {
        await using var db = await PostgresTestDb.OpenAsync();
        await db.ApplyAsync("tomb", Change.Create(("id", 1), 10, ("name", "a")));
        await db.ApplyAsync("tomb", Change.Delete(("id", 1), 20), Change.Tombstone(("id", 1), 21));

        Assert.Equal(["20"], await PostgresTestDb.RowsAsync($"SELECT lsn FROM {PostgresTestDb.Q(db.StateSchema)}.delete_markers"));
        var replay = await db.ApplyAsync("tomb", Change.Create(("id", 1), 10, ("name", "a")).OnTopic("persistent://public/default/replay"));

        Assert.Equal(1, replay.Stale);
        Assert.Empty(await db.CanonicalRowsAsync("tomb"));
    }

    [Fact]
    public async Task Without_lsns_the_position_in_the_same_stream_orders_changes()
    {
        await using var db = await PostgresTestDb.OpenAsync();
        await db.ApplyAsync("plain", Change.Create(("id", 1), null, ("name", "new")).At(50));

        var older = await db.ApplyAsync("plain", Change.Create(("id", 1), null, ("name", "old")).At(40));
        var otherStream = await db.ApplyAsync("plain", Change.Create(("id", 1), null, ("name", "other")).At(1).OnTopic("persistent://public/default/other"));

        Assert.Equal(1, older.Stale);
        Assert.Equal(0, otherStream.Stale);
        Assert.Equal(["id=1|name=other"], await db.CanonicalRowsAsync("plain"));
    }

    [Fact]
    public async Task A_truncate_removes_older_rows_and_stops_older_creates_of_any_key()
    {
        await using var db = await PostgresTestDb.OpenAsync();
        await db.ApplyAsync("trunc", Change.Create(("id", 1), 10, ("name", "a")), Change.Create(("id", 2), 11, ("name", "b")));

        var result = await db.ApplyAsync("trunc", Change.Truncate(20), Change.Create(("id", 3), 21, ("name", "c")));
        var late = await db.ApplyAsync("trunc", Change.Create(("id", 9), 15, ("name", "late")));

        Assert.Equal(2, result.Deleted);
        Assert.Equal(1, late.Stale);
        Assert.Equal(["id=3|name=c"], await db.CanonicalRowsAsync("trunc"));
    }

    [Fact]
    public async Task The_checkpoint_commits_with_the_data_or_not_at_all()
    {
        await using var db = await PostgresTestDb.OpenAsync();
        var change = Change.Create(("id", 1), 10, ("name", "a")).At(42);
        var batch = new SinkBatch(PostgresTestDb.Materializer, db.Target("atomic"), [change, Change.Create(("id", 2), 11).WithAfter(Change.RowOf(("name", "x")))],
            new Dictionary<string, StreamPosition> { [Change.DefaultTopic] = new(0, 42) })
        {
            BeforeCommit = BeforeCommitHooks.Observing(_ => throw new IOException("the dead-letter file is full")),
        };

        await Assert.ThrowsAsync<IOException>(async () => await db.Sink.ApplyAsync(batch, CancellationToken.None));

        Assert.Empty(await db.Sink.LoadCheckpointAsync(PostgresTestDb.Materializer, CancellationToken.None));
        Assert.Empty(await db.CanonicalRowsAsync("atomic"));
        await db.Sink.ApplyAsync(batch with { BeforeCommit = null }, CancellationToken.None);
        Assert.Equal(new StreamPosition(0, 42), (await db.Sink.LoadCheckpointAsync(PostgresTestDb.Materializer, CancellationToken.None))[Change.DefaultTopic]);
    }

    [Fact]
    public async Task The_sink_reconnects_after_its_connection_was_killed_between_batches()
    {
        await using var db = await PostgresTestDb.OpenAsync();
        await db.ApplyAsync("killed", Change.Create(("id", 1), 10, ("name", "a")));
        var before = db.Sink.ProcessId;

        await db.KillSinkConnectionAsync();
        var result = await db.ApplyAsync("killed", Change.Create(("id", 2), 11, ("name", "b")));

        Assert.Equal(1, result.Upserted);
        Assert.Equal(1, db.Sink.DiscardedConnections);
        Assert.NotEqual(before, db.Sink.ProcessId);
        Assert.Equal(["id=1|name=a", "id=2|name=b"], await db.CanonicalRowsAsync("killed"));
        Assert.Equal(1L, await db.Sink.CountAsync(db.Target("killed"), new SubjectMatch("id", FieldValue.FromInt64(2)), CancellationToken.None));
    }

    [Fact]
    public async Task A_batch_whose_connection_is_killed_mid_apply_is_retried_on_a_new_connection_and_applied_once()
    {
        await using var db = await PostgresTestDb.OpenAsync();
        await db.ApplyAsync("midway", Change.Create(("id", 1), 10, ("n", 1)));

        // Hold a lock so that the sink's batch waits inside its transaction, then kill its connection.
        await using var blocker = await PostgresTestDb.ConnectAsync();
        await using var transaction = await blocker.BeginTransactionAsync();
        await using (var lockTable = new NpgsqlCommand($"LOCK TABLE {db.Table("midway")} IN EXCLUSIVE MODE", blocker, transaction))
        {
            await lockTable.ExecuteNonQueryAsync();
        }

        var pid = db.Sink.ProcessId;
        var apply = db.ApplyAsync("midway", Change.Update(("id", 1), 11, ("n", 2)), Change.Create(("id", 2), 12, ("n", 3)));
        await using (var wait = new NpgsqlCommand($"SELECT count(*) FROM pg_stat_activity WHERE pid = {pid} AND wait_event_type = 'Lock'", blocker, transaction))
        {
            // Killed only once the batch is inside its transaction, however long that takes to happen.
            await Sync.Testing.Process.Poll.UntilAsync(async () => apply.IsCompleted || (long)(await wait.ExecuteScalarAsync())! > 0);
        }

        Assert.False(apply.IsCompleted);

        await using (var kill = new NpgsqlCommand($"SELECT pg_terminate_backend({pid})", blocker, transaction))
        {
            await kill.ExecuteScalarAsync();
        }

        await transaction.CommitAsync();
        var result = await apply;

        Assert.Equal(2, result.Upserted);
        Assert.True(db.Sink.DiscardedConnections >= 1);
        Assert.Equal(["id=1|n=2", "id=2|n=3"], await db.CanonicalRowsAsync("midway"));
    }

    [Fact]
    public async Task A_fatal_error_discards_the_connection_and_the_next_batch_works_on_a_new_one()
    {
        await using var db = await PostgresTestDb.OpenAsync();
        await db.ApplyAsync("fatal", Change.Create(("id", 1), 10, ("name", "a")));
        var before = db.Sink.ProcessId;

        // Someone drops a column behind the sink's back: the sink's cached statement no longer fits.
        await PostgresTestDb.ScalarAsync($"ALTER TABLE {db.Table("fatal")} DROP COLUMN name");
        var error = await Assert.ThrowsAsync<SinkFatalException>(async () => await db.ApplyAsync("fatal", Change.Create(("id", 2), 11, ("name", "b"))));

        Assert.Contains("nothing was applied and the connection was discarded", error.Message, StringComparison.Ordinal);
        Assert.Null(db.Sink.ProcessId);
        var result = await db.ApplyAsync("fatal", Change.Create(("id", 2), 11, ("name", "b")));
        Assert.Equal(1, result.Upserted);
        Assert.NotEqual(before, db.Sink.ProcessId);
        Assert.Equal(["id=1|name=null", "id=2|name=b"], await db.CanonicalRowsAsync("fatal"));
    }

    [Fact]
    public async Task An_unreachable_server_is_retried_then_reported_as_unavailable_without_the_connection_string()
    {
        var options = new PostgresSinkOptions
        {
            ConnectionString = "Host=127.0.0.1;Port=1;Username=postgres;Password=hunter2;Database=postgres",
            Tls = PostgresTlsMode.Disable,
            ConnectTimeout = TimeSpan.FromSeconds(1),
            Retry = new RetryPolicy { InitialDelay = TimeSpan.FromMilliseconds(1), MaxDelay = TimeSpan.FromMilliseconds(5), MaxAttempts = 3 },
        };

        var error = await Assert.ThrowsAsync<SinkUnavailableException>(() => PostgresSink.OpenAsync("pg", options, CancellationToken.None));

        Assert.Contains("after 3 attempts", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("hunter2", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Erase_leaves_erasure_markers_newer_than_any_change_of_the_key()
    {
        await using var db = await PostgresTestDb.OpenAsync();
        var t = db.Target("erase");
        await db.ApplyAsync(t,
            Change.Create([("tenant", "a"), ("id", 1)], 10, ("email", "x@example.com")),
            Change.Create([("tenant", "b"), ("id", 2)], null, ("email", "x@example.com")).At(7));

        Assert.Equal(2, await db.Sink.CountAsync(t, new SubjectMatch("email", FieldValue.FromString("x@example.com")), CancellationToken.None));
        Assert.Equal(2, await db.Sink.EraseAsync(t, new SubjectMatch("email", FieldValue.FromString("x@example.com")), CancellationToken.None));

        Assert.Equal(
            [
                $"{{\"tenant\":\"a\",\"id\":1}}|{long.MaxValue}|{Change.DefaultTopic}|{{{long.MaxValue},{long.MaxValue},{int.MaxValue}}}",
                $"{{\"tenant\":\"b\",\"id\":2}}|{long.MaxValue}|{Change.DefaultTopic}|{{{long.MaxValue},{long.MaxValue},{int.MaxValue}}}",
            ],
            await PostgresTestDb.RowsAsync($"SELECT key_text, lsn, stream, position::text FROM {PostgresTestDb.Q(db.StateSchema)}.delete_markers ORDER BY key_text"));
        var replay = await db.ApplyAsync(t,
            Change.Create([("tenant", "a"), ("id", 1)], 10, ("email", "x@example.com")),
            Change.Create([("tenant", "b"), ("id", 2)], null, ("email", "x@example.com")).At(7));
        Assert.Equal(2, replay.Stale);
        var inFlight = await db.ApplyAsync(t, Change.Update([("tenant", "a"), ("id", 1)], 12, ("email", "x@example.com")));
        Assert.Equal(1, inFlight.Stale);
        Assert.Empty(await db.CanonicalRowsAsync("erase"));
        Assert.Equal(0, await db.Sink.CountAsync(t, new SubjectMatch("email", FieldValue.FromString("x@example.com")), CancellationToken.None));
        Assert.Equal(0, await db.Sink.CountAsync(t, new SubjectMatch("nope", FieldValue.FromString("x")), CancellationToken.None));
    }

    [Fact]
    public async Task Batch_erase_groups_values_by_how_the_column_compares_them_and_attributes_each_row()
    {
        await using var db = await PostgresTestDb.OpenAsync();
        var t = db.Target("mixed");
        await db.ApplyAsync(t,
            Change.Create(("id", 1), 10, ("born", new DateOnly(1990, 1, 2)), ("total", 12.50m), ("token", new byte[] { 1, 2 })),
            Change.Create(("id", 2), 11, ("born", new DateOnly(1991, 3, 4)), ("total", 3.00m), ("token", new byte[] { 3 })),
            Change.Create(("id", 3), 12, ("born", new DateOnly(1992, 5, 6)), ("total", 3.00m), ("token", new byte[] { 4 })));

        // Dates and bytes have no batched array form here: each is a statement of its own, in the same
        // transaction; a date given as text compares with the column's text.
        var byDate = new SubjectMatches("born", [FieldValue.FromDate(new DateOnly(1991, 3, 4).DayNumber - DateOnly.FromDateTime(DateTime.UnixEpoch).DayNumber), FieldValue.FromString("1990-01-02"), FieldValue.FromString("1999-09-09")]);
        var byToken = new SubjectMatches("token", [FieldValue.FromBytes([4])]);
        var byTotal = new SubjectMatches("total", [FieldValue.FromDecimalText("3.00"), FieldValue.FromInt64(12)]);

        Assert.Equal([2L, 0], await db.Sink.CountManyAsync(t, byTotal, CancellationToken.None));
        Assert.Equal([1L, 1, 0], await db.Sink.EraseManyAsync(t, byDate, CancellationToken.None));
        Assert.Equal([1L], await db.Sink.EraseManyAsync(t, byToken, CancellationToken.None));
        Assert.Empty(await db.CanonicalRowsAsync("mixed"));
    }

    [Fact]
    public async Task Erase_finds_a_subject_named_by_a_value_of_another_kind()
    {
        await using var db = await PostgresTestDb.OpenAsync();
        var t = db.Target("orders");
        await db.ApplyAsync(t,
            Change.Create(("id", 1), 10, ("customer_id", 7), ("total", 12.50m)),
            Change.Create(("id", 2), 11, ("customer_id", 8), ("total", 3.00m)));

        Assert.Equal(1, await db.Sink.CountAsync(t, new SubjectMatch("customer_id", FieldValue.FromString("7")), CancellationToken.None));
        Assert.Equal(0, await db.Sink.CountAsync(t, new SubjectMatch("customer_id", FieldValue.FromString("not a number")), CancellationToken.None));
        Assert.Equal(1, await db.Sink.CountAsync(t, new SubjectMatch("total", FieldValue.FromDecimalText("12.50")), CancellationToken.None));
        Assert.Equal(1, await db.Sink.EraseAsync(t, new SubjectMatch("customer_id", FieldValue.FromString("7")), CancellationToken.None));
        Assert.Equal(["customer_id=8|id=2|total=3.00"], await db.CanonicalRowsAsync("orders"));
    }

    [Fact]
    public async Task Expired_delete_markers_are_pruned_when_the_sink_opens()
    {
        await using var db = await PostgresTestDb.OpenAsync();
        await db.ApplyAsync("prune", Change.Delete(("id", 1), 10), Change.Delete(("id", 2), 11));
        await PostgresTestDb.ScalarAsync($"UPDATE {PostgresTestDb.Q(db.StateSchema)}.delete_markers SET updated_at = now() - interval '8 days' WHERE key_text = '{{\"id\":1}}'");

        await db.ReopenAsync();

        Assert.Equal(1, db.Sink.PrunedMarkers);
        Assert.Equal(["{\"id\":2}"], await PostgresTestDb.RowsAsync($"SELECT key_text FROM {PostgresTestDb.Q(db.StateSchema)}.delete_markers"));
    }

    [Fact]
    public async Task A_target_schema_override_and_a_custom_version_column_are_used()
    {
        await using var db = await PostgresTestDb.OpenAsync();
        var other = db.Schema + "_other";
        try
        {
            var target = db.Target("items", new PostgresTargetOptions { Schema = other, VersionColumn = "_v" });
            await db.ApplyAsync(target, Change.Create(("id", 1), 10, ("name", "a")));

            Assert.Equal(["1|a|10"], await PostgresTestDb.RowsAsync($"SELECT id, name, _v FROM {PostgresTestDb.Q(other)}.items"));
        }
        finally
        {
            await PostgresTestDb.ScalarAsync($"DROP SCHEMA IF EXISTS {PostgresTestDb.Q(other)} CASCADE");
        }
    }

    private static string Canonical(Row row) =>
        string.Join('|', row.Names.Select((n, i) => (n, v: row.Values[i].ToText() ?? "null")).OrderBy(c => c.n, StringComparer.Ordinal).Select(c => $"{c.n}={c.v}"));
}
