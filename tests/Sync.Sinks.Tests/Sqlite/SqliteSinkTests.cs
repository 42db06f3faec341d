namespace Sync.Sinks.Tests.Sqlite;

public sealed class SqliteSinkTests
{
    [Fact]
    public async Task Upsert_creates_the_table_and_writes_the_row()
    {
        await using var db = await SqliteTestDb.OpenAsync();

        var result = await db.ApplyAsync("users", Change.Create(key: ("id", 1), lsn: 10, ("name", "ada"), ("age", 36)));

        Assert.Equal((1, 0, 0, 0), (result.Upserted, result.Deleted, result.Stale, result.Rejected.Count));
        Assert.Equal(["1|ada|36"], db.Table("users"));
        Assert.Equal(["id INTEGER pk1", "name TEXT", "age INTEGER"], db.Columns("users"));
        Assert.Equal(["users|{\"id\":1}|10|0"], db.Rows("SELECT target, key_text, lsn, deleted FROM _sync_state"));
    }

    [Fact]
    public async Task Erasing_from_one_table_then_from_another_not_read_since_the_sink_opened_works()
    {
        await using var db = await SqliteTestDb.OpenAsync();
        await db.ApplyAsync("customers", Change.Create(key: ("id", 1), lsn: 10, ("name", "ada")));
        await db.ApplyAsync("orders", Change.Create(key: ("id", 100), lsn: 11, ("customer_id", 1)));
        await db.ReopenAsync();

        Assert.Equal(1, await db.Sink.EraseAsync(new TargetSpec("customers"), new SubjectMatch("id", FieldValue.FromInt64(1)), CancellationToken.None));
        Assert.Equal(1, await db.Sink.EraseAsync(new TargetSpec("orders"), new SubjectMatch("customer_id", FieldValue.FromInt64(1)), CancellationToken.None));

        Assert.Empty(db.Table("customers"));
        Assert.Empty(db.Table("orders"));
    }

    [Fact]
    public async Task Upsert_of_an_existing_key_replaces_its_columns()
    {
        await using var db = await SqliteTestDb.OpenAsync();

        await db.ApplyAsync("users", Change.Create(key: ("id", 1), lsn: 10, ("name", "ada"), ("age", 36)));
        var result = await db.ApplyAsync("users", Change.Update(key: ("id", 1), lsn: 11, ("name", "ada lovelace"), ("age", 37)));

        Assert.Equal(1, result.Upserted);
        Assert.Equal(["1|ada lovelace|37"], db.Table("users"));
        Assert.Equal(11L, db.Scalar("SELECT lsn FROM _sync_state"));
    }

    [Fact]
    public async Task Delete_removes_the_row_and_keeps_its_version_as_a_marker()
    {
        await using var db = await SqliteTestDb.OpenAsync();
        await db.ApplyAsync("users", Change.Create(key: ("id", 1), lsn: 10, ("name", "ada")), Change.Create(key: ("id", 2), lsn: 11, ("name", "bob")));

        var result = await db.ApplyAsync("users", Change.Delete(key: ("id", 1), lsn: 12));

        Assert.Equal(1, result.Deleted);
        Assert.Equal(["2|bob"], db.Table("users"));
        Assert.Equal(["{\"id\":1}|12|1", "{\"id\":2}|11|0"], db.Rows("SELECT key_text, lsn, deleted FROM _sync_state ORDER BY key_text"));
    }

    [Fact]
    public async Task Delete_of_a_missing_key_succeeds_and_leaves_a_marker()
    {
        await using var db = await SqliteTestDb.OpenAsync();
        await db.ApplyAsync("users", Change.Create(key: ("id", 1), lsn: 10, ("name", "ada")));

        var result = await db.ApplyAsync("users", Change.Delete(key: ("id", 99), lsn: 11));

        Assert.Equal(1, result.Deleted);
        Assert.Empty(result.Rejected);
        Assert.Equal(["1|ada"], db.Table("users"));
        Assert.Equal(["{\"id\":99}|11|1"], db.Rows("SELECT key_text, lsn, deleted FROM _sync_state WHERE deleted = 1"));
    }

    [Fact]
    public async Task Delete_before_the_table_exists_leaves_a_marker_that_stops_an_older_create()
    {
        await using var db = await SqliteTestDb.OpenAsync();

        await db.ApplyAsync("users", Change.Delete(key: ("id", 1), lsn: 20));
        var result = await db.ApplyAsync("users", Change.Create(key: ("id", 1), lsn: 10, ("name", "ada")));

        Assert.Equal(1, result.Stale);
        Assert.Equal(0L, db.Scalar("SELECT count(*) FROM sqlite_master WHERE name = 'users'"));
    }

    [Fact]
    public async Task Create_after_delete_with_a_newer_lsn_brings_the_row_back()
    {
        await using var db = await SqliteTestDb.OpenAsync();
        await db.ApplyAsync("users", Change.Create(key: ("id", 1), lsn: 10, ("name", "ada")));
        await db.ApplyAsync("users", Change.Delete(key: ("id", 1), lsn: 11));

        var result = await db.ApplyAsync("users", Change.Create(key: ("id", 1), lsn: 12, ("name", "ada again")));

        Assert.Equal(1, result.Upserted);
        Assert.Equal(["1|ada again"], db.Table("users"));
        Assert.Equal(["12|0"], db.Rows("SELECT lsn, deleted FROM _sync_state"));
    }

    [Fact]
    public async Task Batch_redelivered_twice_gives_the_same_state()
    {
        await using var db = await SqliteTestDb.OpenAsync();
        ChangeEvent[] batch =
        [
            Change.Create(key: ("id", 1), lsn: 10, ("name", "ada")),
            Change.Create(key: ("id", 2), lsn: 11, ("name", "bob")),
            Change.Delete(key: ("id", 3), lsn: 12),
            Change.Update(key: ("id", 1), lsn: 13, ("name", "ada2")),
        ];

        await db.ApplyAsync("users", batch);
        var table = db.Table("users");
        var state = db.Rows("SELECT key_text, lsn, stream, position, deleted FROM _sync_state ORDER BY key_text");
        var second = await db.ApplyAsync("users", batch);
        var third = await db.ApplyAsync("users", batch);

        Assert.Equal(["1|ada2", "2|bob"], table);
        Assert.Equal(table, db.Table("users"));
        Assert.Equal(state, db.Rows("SELECT key_text, lsn, stream, position, deleted FROM _sync_state ORDER BY key_text"));
        // The first change of key 1 is older than its update in the same batch; the rest re-applies idempotently.
        Assert.Equal((2, 1, 1, 0), (second.Upserted, second.Deleted, second.Stale, second.Rejected.Count));
        Assert.Equal((2, 1, 1, 0), (third.Upserted, third.Deleted, third.Stale, third.Rejected.Count));
    }

    [Fact]
    public async Task Older_lsn_after_a_newer_one_is_counted_stale_and_changes_nothing()
    {
        await using var db = await SqliteTestDb.OpenAsync();
        await db.ApplyAsync("users", Change.Update(key: ("id", 1), lsn: 20, ("name", "new")));

        var result = await db.ApplyAsync("users", Change.Update(key: ("id", 1), lsn: 15, ("name", "old")));

        Assert.Equal(1, result.Stale);
        Assert.Equal(0, result.Upserted);
        Assert.Equal(["1|new"], db.Table("users"));
        Assert.Equal(20L, db.Scalar("SELECT lsn FROM _sync_state"));
    }

    [Fact]
    public async Task Without_lsns_the_position_in_the_same_stream_decides()
    {
        await using var db = await SqliteTestDb.OpenAsync();
        await db.ApplyAsync("users", Change.Update(key: ("id", 1), lsn: null, ("name", "new")).At(20));

        var older = await db.ApplyAsync("users", Change.Update(key: ("id", 1), lsn: null, ("name", "old")).At(15));
        var newer = await db.ApplyAsync("users", Change.Update(key: ("id", 1), lsn: null, ("name", "newest")).At(21));

        Assert.Equal(1, older.Stale);
        Assert.Equal(1, newer.Upserted);
        Assert.Equal(["1|newest"], db.Table("users"));
    }

    [Fact]
    public async Task Late_older_create_after_a_delete_does_not_resurrect_the_row()
    {
        await using var db = await SqliteTestDb.OpenAsync();
        await db.ApplyAsync("users", Change.Create(key: ("id", 1), lsn: 10, ("name", "ada")));
        await db.ApplyAsync("users", Change.Delete(key: ("id", 1), lsn: 30));

        var result = await db.ApplyAsync("users", Change.Update(key: ("id", 1), lsn: 20, ("name", "late")));

        Assert.Equal(1, result.Stale);
        Assert.Empty(db.Table("users"));
        Assert.Equal(["30|1"], db.Rows("SELECT lsn, deleted FROM _sync_state"));
    }

    [Fact]
    public async Task Tombstone_without_lsn_after_a_delete_keeps_the_stored_lsn()
    {
        await using var db = await SqliteTestDb.OpenAsync();
        await db.ApplyAsync("users", Change.Create(key: ("id", 1), lsn: 10, ("name", "ada")));
        await db.ApplyAsync("users", Change.Delete(key: ("id", 1), lsn: 30));

        var tombstone = await db.ApplyAsync("users", Change.Tombstone(key: ("id", 1), position: 31));

        // Only the kept LSN orders a late create from another stream (a replay, another topic) against the tombstone.
        var late = await db.ApplyAsync("users", Change.Create(key: ("id", 1), lsn: 20, ("name", "late")).OnTopic("replay").At(5));
        var lateSameStream = await db.ApplyAsync("users", Change.Create(key: ("id", 1), lsn: 20, ("name", "late")).At(32));

        Assert.Equal(1, tombstone.Deleted);
        Assert.Equal(1, late.Stale);
        Assert.Equal(1, lateSameStream.Stale);
        Assert.Empty(db.Table("users"));
        Assert.Equal(["30|0:31:-1|1"], db.Rows("SELECT lsn, position, deleted FROM _sync_state"));
    }

    [Fact]
    public async Task Checkpoint_is_stored_with_the_batch_and_loaded_after_reopening()
    {
        await using var db = await SqliteTestDb.OpenAsync();
        Assert.Empty(await db.Sink.LoadCheckpointAsync(SqliteTestDb.Materializer, CancellationToken.None));

        await db.ApplyAsync(
            "users",
            Change.Create(key: ("id", 1), lsn: 10, ("name", "ada")),
            Change.Create(key: ("id", 2), lsn: 11, ("name", "bob")).OnTopic("other-topic"));
        await db.ApplyAsync("users", Change.Create(key: ("id", 3), lsn: 12, ("name", "cy")));
        await db.ReopenAsync();

        var checkpoint = await db.Sink.LoadCheckpointAsync(SqliteTestDb.Materializer, CancellationToken.None);
        Assert.Equal(2, checkpoint.Count);
        Assert.Equal(new StreamPosition(0, 12), checkpoint[Change.DefaultTopic]);
        Assert.Equal(new StreamPosition(0, 11), checkpoint["other-topic"]);
        Assert.Empty(await db.Sink.LoadCheckpointAsync("another-materializer", CancellationToken.None));
    }

    [Fact]
    public async Task Checkpoint_is_rolled_back_with_a_batch_that_fails()
    {
        await using var db = await SqliteTestDb.OpenAsync();
        await db.ApplyAsync("users", Change.Create(key: ("id", 1), lsn: 10, ("name", "ada")));

        // Another writer holds the write lock for longer than the retry budget: nothing of the batch lands.
        db.Options.Retry = new RetryPolicy { MaxAttempts = 2, InitialDelay = TimeSpan.FromMilliseconds(10) };
        db.Options.BusyTimeout = TimeSpan.FromMilliseconds(50);
        await db.ReopenAsync();
        using (var blocker = db.Connect())
        using (var lockTx = blocker.BeginTransaction())
        {
            await Assert.ThrowsAsync<SinkUnavailableException>(() =>
                db.ApplyAsync("users", Change.Create(key: ("id", 2), lsn: 20, ("name", "bob"))));
        }

        var checkpoint = await db.Sink.LoadCheckpointAsync(SqliteTestDb.Materializer, CancellationToken.None);
        Assert.Equal(new StreamPosition(0, 10), checkpoint[Change.DefaultTopic]);
        Assert.Equal(["1|ada"], db.Table("users"));

        // The sink still works once the lock is gone.
        await db.ApplyAsync("users", Change.Create(key: ("id", 2), lsn: 20, ("name", "bob")));
        Assert.Equal(["1|ada", "2|bob"], db.Table("users"));
    }

    [Fact]
    public async Task Busy_database_is_retried_until_the_other_writer_commits()
    {
        await using var db = await SqliteTestDb.OpenAsync(configure: o =>
        {
            o.BusyTimeout = TimeSpan.FromMilliseconds(50);
            o.Retry = new RetryPolicy { MaxAttempts = 50, InitialDelay = TimeSpan.FromMilliseconds(20), MaxDelay = TimeSpan.FromMilliseconds(100) };
        });
        await db.ApplyAsync("users", Change.Create(key: ("id", 1), lsn: 10, ("name", "ada")));
        var blocker = db.Connect();
        var lockTx = blocker.BeginTransaction();

        var retries = 0;
        var apply = db.ApplyAsync("users", _ => Interlocked.Increment(ref retries), Change.Update(key: ("id", 1), lsn: 11, ("name", "ada2")));
        // Seen busy again and again while the other writer holds its lock: the sink waits for it.
        await Sync.Testing.Process.Poll.UntilAsync(() => Volatile.Read(ref retries) >= 3 || apply.IsCompleted);
        Assert.False(apply.IsCompleted);
        lockTx.Commit();
        lockTx.Dispose();
        await blocker.DisposeAsync();

        var result = await apply.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(1, result.Upserted);
        Assert.Equal(["1|ada2"], db.Table("users"));
    }

    [Fact]
    public async Task Storage_error_rolls_the_batch_back_discards_the_connection_and_the_next_batch_works()
    {
        await using var db = await SqliteTestDb.OpenAsync();
        await db.ApplyAsync("users", Change.Create(key: ("id", 1), lsn: 10, ("name", "ada")));

        // Someone puts a trigger on the table that fails when it fires (SQLite compiles a trigger's
        // statements when they run, so the missing table is an error of the batch, not of the DDL).
        Execute(db, "CREATE TRIGGER break_updates AFTER UPDATE ON users BEGIN INSERT INTO no_such_table VALUES (1); END");

        ChangeEvent[] batch = [Change.Delete(key: ("id", 9), lsn: 11), Change.Update(key: ("id", 1), lsn: 12, ("name", "ada2"))];
        var e = await Assert.ThrowsAsync<SinkFatalException>(() => db.ApplyAsync("users", batch));
        Assert.Contains("table \"users\" failed and was rolled back; the connection was discarded", e.Message, StringComparison.Ordinal);
        Assert.Equal(["{\"id\":1}|10"], db.Rows("SELECT key_text, lsn FROM _sync_state"));
        Assert.Equal(new StreamPosition(0, 10), (await db.Sink.LoadCheckpointAsync(SqliteTestDb.Materializer, CancellationToken.None))[Change.DefaultTopic]);

        // Once the fault is gone, the next batch goes through on a new connection.
        Execute(db, "DROP TRIGGER break_updates");
        var result = await db.ApplyAsync("users", batch);
        Assert.Equal((1, 1), (result.Upserted, result.Deleted));
        Assert.Equal(["1|ada2"], db.Table("users"));
    }

    [Fact]
    public async Task A_column_renamed_under_the_sink_is_added_again_by_the_next_batch()
    {
        await using var db = await SqliteTestDb.OpenAsync();
        await db.ApplyAsync("users", Change.Create(key: ("id", 1), lsn: 10, ("name", "ada")));

        Execute(db, "ALTER TABLE users RENAME COLUMN name TO nom");
        var result = await db.ApplyAsync("users", Change.Update(key: ("id", 1), lsn: 12, ("name", "ada2")));

        Assert.Equal(1, result.Upserted);
        Assert.Equal(["1|ada|ada2"], db.Table("users"));
    }

    private static void Execute(SqliteTestDb db, string sql)
    {
        using var connection = db.Connect();
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    [Fact]
    public async Task Composite_keys_form_the_primary_key_in_key_order()
    {
        await using var db = await SqliteTestDb.OpenAsync();

        await db.ApplyAsync(
            "orders",
            Change.Create(key: [("tenant", "t1"), ("id", 1)], lsn: 10, ("total", 5)),
            Change.Create(key: [("tenant", "t2"), ("id", 1)], lsn: 11, ("total", 7)),
            Change.Create(key: [("tenant", "t1"), ("id", 2)], lsn: 12, ("total", 9)));
        await db.ApplyAsync("orders", Change.Delete(key: [("tenant", "t2"), ("id", 1)], lsn: 13));
        await db.ApplyAsync("orders", Change.Update(key: [("tenant", "t1"), ("id", 1)], lsn: 14, ("total", 6)));

        Assert.Equal(["tenant TEXT pk1", "id INTEGER pk2", "total INTEGER"], db.Columns("orders"));
        Assert.Equal(["t1|1|6", "t1|2|9"], db.Rows("SELECT * FROM orders ORDER BY tenant, id"));
        Assert.Equal(
            ["{\"tenant\":\"t1\",\"id\":1}|0", "{\"tenant\":\"t1\",\"id\":2}|0", "{\"tenant\":\"t2\",\"id\":1}|1"],
            db.Rows("SELECT key_text, deleted FROM _sync_state ORDER BY key_text"));
    }

    [Fact]
    public async Task Unicode_and_a_1_MB_value_are_stored_exactly()
    {
        await using var db = await SqliteTestDb.OpenAsync();
        var big = string.Concat(Enumerable.Repeat("ç€𝄞漢字-", 1024 * 1024 / 8));
        var blob = Enumerable.Range(0, 1024 * 1024).Select(i => (byte)(i * 31)).ToArray();

        await db.ApplyAsync(
            "docs",
            Change.Create(key: ("id", "ключ-🔑"), lsn: 10, ("title", "Zoë — «naïve» 東京 🚀"), ("body", big), ("raw", blob)));

        Assert.Equal("Zoë — «naïve» 東京 🚀", db.Scalar("SELECT title FROM docs WHERE id = 'ключ-🔑'"));
        Assert.Equal(big, db.Scalar("SELECT body FROM docs"));
        Assert.Equal(blob, (byte[]?)db.Scalar("SELECT raw FROM docs"));
        Assert.Equal("blob", db.Scalar("SELECT typeof(raw) FROM docs"));
    }

    [Fact]
    public async Task Nulls_are_stored_as_NULL()
    {
        await using var db = await SqliteTestDb.OpenAsync();

        await db.ApplyAsync("users", Change.Create(key: ("id", 1), lsn: 10, ("name", null), ("age", 3)));
        await db.ApplyAsync("users", Change.Update(key: ("id", 1), lsn: 11, ("name", "ada"), ("age", null)));

        Assert.Equal(["1|ada|NULL"], db.Table("users"));
        Assert.Equal("null", db.Scalar("SELECT typeof(age) FROM users"));
    }

    [Fact]
    public async Task Column_that_appears_mid_stream_is_added_to_the_table()
    {
        await using var db = await SqliteTestDb.OpenAsync();
        await db.ApplyAsync("users", Change.Create(key: ("id", 1), lsn: 10, ("name", "ada")));

        await db.ApplyAsync(
            "users",
            Change.Create(key: ("id", 2), lsn: 11, ("name", "bob"), ("email", "bob@example.com"), ("score", 1.5)),
            Change.Create(key: ("id", 3), lsn: 12, ("name", "cy")));

        Assert.Equal(["id INTEGER pk1", "name TEXT", "email TEXT", "score REAL"], db.Columns("users"));
        Assert.Equal(["1|ada|NULL|NULL", "2|bob|bob@example.com|1.5", "3|cy|NULL|NULL"], db.Table("users"));
    }

    [Fact]
    public async Task Rejections_are_handed_over_before_commit_and_a_failing_handover_rolls_the_batch_back()
    {
        await using var db = await SqliteTestDb.OpenAsync();
        var good = Change.Create(key: ("id", 1), lsn: 10, ("name", "ada"));
        var poison = Change.Create(key: ("id", null), lsn: 11, ("name", "n"));
        var checkpoint = new Dictionary<string, StreamPosition> { [good.Origin.Topic] = new(0, 11) };

        IReadOnlyList<RejectedChange>? handedOver = null;
        var refused = new SinkBatch(SqliteTestDb.Materializer, new TargetSpec("users"), [good, poison], checkpoint)
        {
            BeforeCommit = BeforeCommitHooks.Observing(rejected => throw new IOException("dead-letter disk full")),
        };
        await Assert.ThrowsAnyAsync<Exception>(async () => await db.Sink.ApplyAsync(refused, CancellationToken.None));
        Assert.Empty(await db.Sink.LoadCheckpointAsync(SqliteTestDb.Materializer, CancellationToken.None));

        var accepted = refused with { BeforeCommit = BeforeCommitHooks.Observing(rejected => handedOver = rejected) };
        var result = await db.Sink.ApplyAsync(accepted, CancellationToken.None);

        Assert.Equal([poison], handedOver!.Select(r => r.Change));
        Assert.Equal(result.Rejected, handedOver);
        Assert.Equal(new StreamPosition(0, 11), (await db.Sink.LoadCheckpointAsync(SqliteTestDb.Materializer, CancellationToken.None))[good.Origin.Topic]);
    }

    [Fact]
    public async Task Poison_row_is_rejected_with_a_reason_while_the_rest_of_the_batch_applies()
    {
        await using var db = await SqliteTestDb.OpenAsync();
        using (var connection = db.Connect())
        using (var command = connection.CreateCommand())
        {
            command.CommandText = "CREATE TABLE users (id INTEGER NOT NULL PRIMARY KEY, name TEXT NOT NULL, age INTEGER CHECK (age >= 0))";
            command.ExecuteNonQuery();
        }

        var nullName = Change.Create(key: ("id", 2), lsn: 11, ("name", null), ("age", 1));
        var negativeAge = Change.Create(key: ("id", 3), lsn: 12, ("name", "secret-value"), ("age", -5));
        var nullKey = Change.Create(key: ("id", null), lsn: 13, ("name", "n"), ("age", 1));
        var missingKey = Change.Create(key: ("id", 4), lsn: 14, ("name", "m")).WithAfter(Change.RowOf(("name", "m")));
        var result = await db.ApplyAsync(
            "users",
            Change.Create(key: ("id", 1), lsn: 10, ("name", "ada"), ("age", 36)),
            nullName,
            negativeAge,
            nullKey,
            missingKey,
            Change.Create(key: ("id", 5), lsn: 15, ("name", "eve"), ("age", 20)));

        Assert.Equal(2, result.Upserted);
        Assert.Equal(["1|ada|36", "5|eve|20"], db.Table("users"));
        Assert.Equal([nullName, negativeAge, nullKey, missingKey], result.Rejected.Select(r => r.Change));
        Assert.Equal(
            [
                "table \"users\" (key \"id\"): the row cannot be written: SQLite error 19 (1299): NOT NULL constraint failed: users.name",
                "table \"users\" (key \"id\"): the row cannot be written: SQLite error 19 (275): CHECK constraint failed: age >= 0",
                "table \"users\" (key \"id\"): key column \"id\" is NULL",
                "table \"users\" (key \"id\"): key column \"id\" is missing from the row image",
            ],
            result.Rejected.Select(r => r.Reason));
        Assert.DoesNotContain(result.Rejected, r => r.Reason.Contains("secret-value", StringComparison.Ordinal));

        // Rejected rows leave no state, and the sink keeps working after them.
        Assert.Equal(["{\"id\":1}", "{\"id\":5}"], db.Rows("SELECT key_text FROM _sync_state ORDER BY key_text"));
        var next = await db.ApplyAsync("users", Change.Create(key: ("id", 2), lsn: 16, ("name", "bob"), ("age", 2)));
        Assert.Equal(1, next.Upserted);
        Assert.Equal(["1|ada|36", "2|bob|2", "5|eve|20"], db.Table("users"));
    }

    [Fact]
    public async Task Key_that_differs_from_the_tables_primary_key_is_rejected()
    {
        await using var db = await SqliteTestDb.OpenAsync();
        await db.ApplyAsync("users", Change.Create(key: ("id", 1), lsn: 10, ("email", "a@x")));

        var result = await db.ApplyAsync("users", Change.Create(key: ("email", "b@x"), lsn: 11, ("id", 2)));

        Assert.Equal(["table \"users\" (key \"email\"): the table's primary key is (\"id\")"], result.Rejected.Select(r => r.Reason));
        Assert.Equal(["1|a@x"], db.Table("users"));
    }

    [Fact]
    public async Task Text_key_in_an_integer_key_column_is_rejected()
    {
        await using var db = await SqliteTestDb.OpenAsync();
        await db.ApplyAsync("users", Change.Create(key: ("id", 1), lsn: 10, ("name", "ada")));

        var result = await db.ApplyAsync("users", Change.Create(key: ("id", "x"), lsn: 11, ("name", "text key")));

        // A single INTEGER key column is SQLite's rowid: it holds integers only.
        Assert.Equal(["table \"users\" (key \"id\"): the row cannot be written: SQLite error 20 (20): datatype mismatch"], result.Rejected.Select(r => r.Reason));
        Assert.Equal(["1|ada"], db.Table("users"));
    }

    [Fact]
    public async Task Identifier_injection_is_stored_verbatim_and_never_executed()
    {
        await using var db = await SqliteTestDb.OpenAsync();
        await db.ApplyAsync("victim", Change.Create(key: ("id", 1), lsn: 1, ("v", "keep me")));
        const string evilTable = "x\"; DROP TABLE victim; --";
        const string evilColumn = "c\"; DROP TABLE victim; --";
        const string evilKey = "k\" ) ; DELETE FROM victim; --";

        var result = await db.ApplyAsync(
            evilTable,
            Change.Create(key: (evilKey, "'); DROP TABLE victim; --"), lsn: 10, (evilColumn, "v1")));
        await db.ApplyAsync(evilTable, Change.Update(key: (evilKey, "'); DROP TABLE victim; --"), lsn: 11, (evilColumn, "v2"), ("new\"col", 1)));
        await db.ApplyAsync(evilTable, Change.Create(key: (evilKey, "other"), lsn: 12, (evilColumn, "v3")));
        await db.ApplyAsync(evilTable, Change.Delete(key: (evilKey, "other"), lsn: 13));

        Assert.Equal(1, result.Upserted);
        Assert.Equal(["1|keep me"], db.Table("victim"));
        Assert.Equal([$"{evilKey} TEXT pk1", $"{evilColumn} TEXT", "new\"col INTEGER"], db.Columns(evilTable));
        Assert.Equal(["'); DROP TABLE victim; --|v2|1"], db.Table(evilTable));
        Assert.Equal(["victim", evilTable], db.Rows("SELECT DISTINCT target FROM _sync_state ORDER BY target"));
    }

    [Fact]
    public async Task Reserved_table_names_are_refused()
    {
        await using var db = await SqliteTestDb.OpenAsync();

        var e = await Assert.ThrowsAsync<ArgumentException>(() => db.ApplyAsync("_sync_state", Change.Create(key: ("id", 1), lsn: 1)));

        Assert.StartsWith("table (_sync_state) is reserved", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Truncate_removes_every_row_and_marks_every_key_deleted()
    {
        await using var db = await SqliteTestDb.OpenAsync();
        await db.ApplyAsync(
            "users",
            Change.Create(key: ("id", 1), lsn: 10, ("name", "ada")),
            Change.Create(key: ("id", 2), lsn: 11, ("name", "bob")));
        await db.ApplyAsync("other", Change.Create(key: ("id", 1), lsn: 12, ("name", "elsewhere")));

        var result = await db.ApplyAsync("users", Change.Truncate(lsn: 20));
        var lateOlderKnown = await db.ApplyAsync("users", Change.Update(key: ("id", 1), lsn: 15, ("name", "late")));
        var lateOlderUnknown = await db.ApplyAsync("users", Change.Create(key: ("id", 9), lsn: 16, ("name", "never seen")));
        var newer = await db.ApplyAsync("users", Change.Create(key: ("id", 3), lsn: 21, ("name", "cy")));

        Assert.Equal(2, result.Deleted);
        Assert.Equal(1, lateOlderKnown.Stale);
        Assert.Equal(1, lateOlderUnknown.Stale);
        Assert.Equal(1, newer.Upserted);
        Assert.Equal(["3|cy"], db.Table("users"));
        Assert.Equal(["1|elsewhere"], db.Table("other"));
        Assert.Equal(
            ["users|*|20|1", "users|{\"id\":1}|20|1", "users|{\"id\":2}|20|1", "users|{\"id\":3}|21|0"],
            db.Rows("SELECT target, key_text, lsn, deleted FROM _sync_state WHERE target = 'users' ORDER BY key_text"));
    }

    [Fact]
    public async Task Replayed_truncate_does_not_remove_rows_written_after_it()
    {
        await using var db = await SqliteTestDb.OpenAsync();
        ChangeEvent[] log =
        [
            Change.Create(key: ("id", 1), lsn: 10, ("name", "ada")),
            Change.Create(key: ("id", 2), lsn: 11, ("name", "bob")),
            Change.Truncate(lsn: 20),
            Change.Create(key: ("id", 2), lsn: 21, ("name", "bob again")),
            Change.Create(key: ("id", 3), lsn: 22, ("name", "cy")),
        ];
        await db.ApplyAsync("users", log);
        Assert.Equal(["2|bob again", "3|cy"], db.Table("users"));

        // A backfill replays the whole log, the truncate included.
        await db.ApplyAsync("users", log[..3]);
        await db.ApplyAsync("users", log[3..]);

        Assert.Equal(["2|bob again", "3|cy"], db.Table("users"));

        // A newer truncate still removes them.
        await db.ApplyAsync("users", Change.Truncate(lsn: 30));
        Assert.Empty(db.Table("users"));
    }

    [Fact]
    public async Task Late_truncate_removes_only_the_rows_older_than_itself()
    {
        await using var db = await SqliteTestDb.OpenAsync();
        await db.ApplyAsync(
            "orders",
            Change.Create(key: [("tenant", "t1"), ("id", 1)], lsn: 10, ("total", 1.5)),
            Change.Create(key: [("tenant", "t2"), ("id", 1)], lsn: 11, ("total", 2.5)),
            Change.Create(key: [("tenant", "t1"), ("id", 2)], lsn: 30, ("total", 3.5)));

        var result = await db.ApplyAsync("orders", Change.Truncate(lsn: 20));

        Assert.Equal(2, result.Deleted);
        Assert.Equal(["t1|2|3.5"], db.Table("orders"));
        Assert.Equal(
            ["*|20|1", "{\"tenant\":\"t1\",\"id\":1}|20|1", "{\"tenant\":\"t1\",\"id\":2}|30|0", "{\"tenant\":\"t2\",\"id\":1}|20|1"],
            db.Rows("SELECT key_text, lsn, deleted FROM _sync_state ORDER BY key_text"));
    }

    [Fact]
    public async Task Delete_markers_older_than_the_retention_are_pruned_when_the_sink_opens()
    {
        var clock = new ManualClock(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
        await using var db = await SqliteTestDb.OpenAsync(clock, o => o.DeleteMarkerRetention = TimeSpan.FromDays(7));
        await db.ApplyAsync("users", Change.Create(key: ("id", 1), lsn: 10, ("name", "ada")), Change.Create(key: ("id", 2), lsn: 11, ("name", "bob")));
        await db.ApplyAsync("users", Change.Delete(key: ("id", 1), lsn: 12));
        clock.Now = clock.Now.AddDays(5);
        await db.ApplyAsync("users", Change.Delete(key: ("id", 3), lsn: 13));

        clock.Now = clock.Now.AddDays(3); // the first marker is 8 days old, the second 3
        await db.ReopenAsync();

        Assert.Equal(1, db.Sink.PrunedMarkers);
        Assert.Equal(["{\"id\":2}|0", "{\"id\":3}|1"], db.Rows("SELECT key_text, deleted FROM _sync_state ORDER BY key_text"));
        Assert.Equal("2026-01-01T00:00:00.0000000Z", db.Scalar("SELECT updated_at FROM _sync_state WHERE key_text = '{\"id\":2}'"));

        // Past the retention a late older create is applied again: the documented limit.
        var late = await db.ApplyAsync("users", Change.Create(key: ("id", 1), lsn: 5, ("name", "late")));
        Assert.Equal(1, late.Upserted);
    }

    [Fact]
    public async Task Column_types_come_from_the_schema_and_decimals_keep_every_digit()
    {
        await using var db = await SqliteTestDb.OpenAsync();
        const string exact = "12345678901234567890.123456789";
        var change = Change.Create(
                key: ("id", 1),
                lsn: 10,
                ("price", FieldValue.FromDecimalText(exact)),
                ("flag", true),
                ("small", 7),
                ("ratio", 0.25),
                ("born", new DateOnly(1815, 12, 10)),
                ("seen", new DateTime(1969, 7, 20, 20, 17, 40, DateTimeKind.Utc)),
                ("uid", Guid.Parse("6f1c2b9e-0d0a-4a8e-9a51-3f7f1b5e2c11")),
                ("doc", FieldValue.FromJson("{\"a\":[1,2]}")),
                ("bits", new byte[] { 0b101 }),
                ("wait", TimeSpan.FromMinutes(90)))
            .WithSchema(
                new ColumnSchema("id", LogicalType.Int32, false),
                new ColumnSchema("price", LogicalType.Decimal, true, "org.apache.kafka.connect.data.Decimal", 30, 9),
                new ColumnSchema("flag", LogicalType.Boolean, true),
                new ColumnSchema("small", LogicalType.Int16, true),
                new ColumnSchema("ratio", LogicalType.Float32, true),
                new ColumnSchema("born", LogicalType.Date, true, "io.debezium.time.Date"),
                new ColumnSchema("seen", LogicalType.Timestamp, true, "io.debezium.time.MicroTimestamp"),
                new ColumnSchema("uid", LogicalType.Uuid, true, "io.debezium.data.Uuid"),
                new ColumnSchema("doc", LogicalType.Json, true, "io.debezium.data.Json"),
                new ColumnSchema("bits", LogicalType.Bits, true, "io.debezium.data.Bits", Length: 3),
                new ColumnSchema("wait", LogicalType.Interval, true, "io.debezium.time.MicroDuration"));

        await db.ApplyAsync("typed", change);

        Assert.Equal(
            [
                "id INTEGER pk1", "price TEXT", "flag BOOLEAN", "small INTEGER", "ratio REAL", "born TEXT",
                "seen TEXT", "uid TEXT", "doc TEXT", "bits BLOB", "wait TEXT",
            ],
            db.Columns("typed"));
        Assert.Equal(
            [$"1|{exact}|1|7|0.25|1815-12-10|1969-07-20T20:17:40|6f1c2b9e-0d0a-4a8e-9a51-3f7f1b5e2c11|{{\"a\":[1,2]}}|x'05'|PT1H30M"],
            db.Table("typed"));
        Assert.Equal("text", db.Scalar("SELECT typeof(price) FROM typed"));
    }

    [Fact]
    public async Task Column_types_without_a_schema_come_from_the_values()
    {
        await using var db = await SqliteTestDb.OpenAsync();

        await db.ApplyAsync(
            "loose",
            Change.Create(key: ("id", "a"), lsn: 10, ("n", 1L), ("d", 1.5), ("b", false), ("bytes", new byte[] { 1 }), ("dec", 1.10m), ("nothing", null)));

        Assert.Equal(["id TEXT pk1", "n INTEGER", "d REAL", "b BOOLEAN", "bytes BLOB", "dec TEXT", "nothing TEXT"], db.Columns("loose"));
        Assert.Equal(["a|1|1.5|0|x'01'|1.10|NULL"], db.Table("loose"));
    }
}
