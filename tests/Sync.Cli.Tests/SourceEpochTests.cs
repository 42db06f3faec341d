using Npgsql;

namespace Sync.Cli.Tests;

/// <summary>A source that goes back in time (a failover to an asynchronous replica with a re-snapshot, a
/// move to a new cluster, a restore without a snapshot) leaves every sink equal to the source's final
/// state: a new full snapshot after streaming starts a source epoch whose changes order above all
/// earlier ones, and rows the new snapshot does not hold are deleted once it completes.</summary>
/// <remarks>The events are Debezium PostgreSQL envelopes: <c>source.lsn</c> and <c>source.snapshot</c>
/// as the connector writes them (debezium/debezium,
/// debezium-connector-postgres/src/main/java/io/debezium/connector/postgresql/SourceInfo.java; the
/// snapshot values from debezium-core/src/main/java/io/debezium/connector/SnapshotRecord.java).</remarks>
public sealed class SourceEpochTests : WorkspaceTests
{
    private const string Topic = "persistent://public/default/db1.public.users";

    private static string Postgres => TestServers.Postgres;

    private static string Change(int id, string? name, long lsn, string snapshot = "false")
    {
        var op = name is null ? "d" : snapshot == "false" ? "u" : "r";
        var after = name is null ? "null" : $$"""{"id":{{id}},"name":"{{name}}"}""";
        var before = name is null ? $$"""{"id":{{id}}}""" : "null";
        return $$$"""{"topic":"{{{Topic}}}","key":{"id":{{{id}}}},"value":{"before":{{{before}}},"after":{{{after}}},"source":{"version":"2.7.3.Final","connector":"postgresql","name":"db1","ts_ms":1,"snapshot":"{{{snapshot}}}","db":"app","schema":"public","table":"users","txId":1,"lsn":{{{lsn}}}},"op":"{{{op}}}","ts_ms":1}}""";
    }

    /// <summary>A full snapshot of the rows at one LSN: <c>first</c>, <c>true</c>..., <c>last</c> (Debezium 2.x).</summary>
    private static IEnumerable<string> Snapshot(long lsn, params (int Id, string Name)[] rows) =>
        rows.Select((r, i) => Change(r.Id, r.Name, lsn, rows.Length == 1 ? "last" : i == 0 ? "first" : i == rows.Length - 1 ? "last" : "true"));

    private void Append(IEnumerable<string> lines) => File.AppendAllText(Workspace.File("data/users.jsonl"), string.Join('\n', lines) + "\n");

    private string Config(string sink, int batchSize = 1000) => Workspace.WriteUsersFileConfig(Topic, "target", sink, $"table: users, format: debezium-json, batchSize: {batchSize}");

    private string SqliteConfig(int batchSize = 1000) => Config("{ type: sqlite, path: users.db }", batchSize);

    /// <summary>A Debezium MySQL envelope: binlog <c>file</c>, <c>pos</c>, <c>row</c> instead of an LSN
    /// (debezium/debezium, debezium-connector-binlog .../BinlogSourceInfo.java).</summary>
    private static string MySqlChange(int id, string? name, string file, long pos, string snapshot = "false")
    {
        var op = name is null ? "d" : snapshot == "false" ? "u" : "r";
        var after = name is null ? "null" : $$"""{"id":{{id}},"name":"{{name}}"}""";
        var before = name is null ? $$"""{"id":{{id}}}""" : "null";
        return $$$"""{"topic":"{{{Topic}}}","key":{"id":{{{id}}}},"value":{"before":{{{before}}},"after":{{{after}}},"source":{"version":"2.7.3.Final","connector":"mysql","name":"db1","ts_ms":1,"snapshot":"{{{snapshot}}}","db":"app","table":"users","server_id":1,"file":"{{{file}}}","pos":{{{pos}}},"row":0},"op":"{{{op}}}","ts_ms":1}}""";
    }

    /// <summary>A Debezium SQL Server envelope: <c>commit_lsn</c> and <c>change_lsn</c> as
    /// <c>VLF:block:slot</c> hex text, and <c>event_serial_no</c>; a snapshot record carries the snapshot's
    /// <c>commit_lsn</c> and no <c>change_lsn</c> (debezium/debezium, debezium-connector-sqlserver
    /// .../SqlServerSourceInfoStructMaker.java and SourceInfo.java; sqlserver.adoc "Data change events").</summary>
    private static string SqlServerChange(int id, string? name, string commitLsn, string snapshot = "false")
    {
        var op = name is null ? "d" : snapshot == "false" ? "u" : "r";
        var after = name is null ? "null" : $$"""{"id":{{id}},"name":"{{name}}"}""";
        var before = name is null ? $$"""{"id":{{id}}}""" : "null";
        var change = snapshot == "false" ? $"\"{commitLsn}\"" : "null";
        return $$$"""{"topic":"{{{Topic}}}","key":{"id":{{{id}}}},"value":{"before":{{{before}}},"after":{{{after}}},"source":{"version":"2.7.3.Final","connector":"sqlserver","name":"db1","ts_ms":1,"snapshot":"{{{snapshot}}}","db":"app","schema":"dbo","table":"users","change_lsn":{{{change}}},"commit_lsn":"{{{commitLsn}}}","event_serial_no":1},"op":"{{{op}}}","ts_ms":1}}""";
    }

    private List<string> SqliteRows() => SqliteTables.Rows(Workspace.File("users.db"), "users");

    private async Task RunAsync(string config, params string[] more)
    {
        var run = await Workspace.Sync(["run", "--config", config, .. more]);
        Assert.True(run.ExitCode == 0, run.ToString());
    }

    /// <summary>The issue's first case: an update at LSN 1000 and a create at 980 are lost in a failover,
    /// the connector re-snapshots the new primary at LSN 950 and streams an update at 960.</summary>
    private void WriteFailover()
    {
        Workspace.Write("data/users.jsonl", string.Empty);
        Append(Snapshot(100, (1, "a"), (2, "b")));
        Append([Change(3, "lost", 980), Change(1, "X", 1000)]);
        Append(Snapshot(950, (1, "a"), (2, "b")));
        Append([Change(1, "Y", 960)]);
    }

    /// <summary>Batch size 1: every message its own batch; 3: the old epoch's last change, the new
    /// snapshot's first records and its end fall in the middle of batches; 1000: all in one batch.</summary>
    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(1000)]
    public async Task A_failover_with_a_re_snapshot_leaves_sqlite_equal_to_the_new_primary(int batchSize)
    {
        WriteFailover();
        var config = SqliteConfig(batchSize);

        await RunAsync(config);

        Assert.Equal(["id=1|name=Y", "id=2|name=b"], SqliteRows());
    }

    [Fact]
    public async Task A_failover_with_a_re_snapshot_leaves_postgres_equal_to_the_new_primary()
    {
        WriteFailover();
        var schema = "ep_" + Guid.NewGuid().ToString("N")[..12];
        var config = Config($"{{ type: postgres, connectionString: '{Postgres}', tls: disable, schema: {schema}, stateSchema: {schema}_state }}");

        await RunAsync(config);

        Assert.Equal(["1|Y", "2|b"], await PostgresRowsAsync($"SELECT id || '|' || name FROM {schema}.users ORDER BY id"));
    }

    /// <summary>The issue's second case: 100 rows at LSN about 5·10^12, then the new cluster's snapshot at
    /// about 3·10^7 with new values and 50 updates.</summary>
    [Fact]
    public async Task A_move_to_a_new_cluster_replaces_every_row_with_the_new_clusters_values()
    {
        var rows = Enumerable.Range(1, 100).ToArray();
        Workspace.Write("data/users.jsonl", string.Empty);
        Append(Snapshot(5_000_000_000_000, [.. rows.Select(i => (i, $"old{i}"))]));
        Append(rows.Select(i => Change(i, $"old-streamed{i}", 5_000_000_001_000 + i)));
        Append(Snapshot(30_000_000, [.. rows.Select(i => (i, $"new{i}"))]));
        Append(rows.Take(50).Select(i => Change(i, $"updated{i}", 30_000_100 + i)));
        var config = SqliteConfig();

        await RunAsync(config);

        Assert.Equal(rows.Select(i => $"id={i}|name={(i <= 50 ? "updated" : "new")}{i}").Order(StringComparer.Ordinal), SqliteRows().Order(StringComparer.Ordinal));
    }

    /// <summary>MySQL: a failover to a replica whose binlog files are numbered lower, re-snapshotted
    /// there; the packed (file, pos, row) order goes back just as an LSN does.</summary>
    [Fact]
    public async Task A_mysql_failover_to_a_replica_with_lower_binlog_files_and_a_re_snapshot_ends_in_the_replicas_state()
    {
        Workspace.Write("data/users.jsonl", string.Empty);
        Append([
            MySqlChange(1, "a", "mysql-bin.000042", 100, "first"), MySqlChange(2, "b", "mysql-bin.000042", 100, "last"),
            MySqlChange(3, "lost", "mysql-bin.000042", 900), MySqlChange(1, "X", "mysql-bin.000042", 1000),
            MySqlChange(1, "a", "mysql-bin.000003", 154, "first"), MySqlChange(2, "b", "mysql-bin.000003", 154, "last"),
            MySqlChange(1, "Y", "mysql-bin.000003", 500),
        ]);
        var config = SqliteConfig();

        await RunAsync(config);

        Assert.Equal(["id=1|name=Y", "id=2|name=b"], SqliteRows());
    }

    /// <summary>SQL Server: the database restored from a backup taken before the last transactions (their
    /// commit LSNs now lie ahead of the restored log), then re-snapshotted by the connector; the packed
    /// <c>commit_lsn</c> order goes back just as an LSN does.</summary>
    [Fact]
    public async Task A_sql_server_restore_with_a_re_snapshot_ends_in_the_restored_databases_state()
    {
        Workspace.Write("data/users.jsonl", string.Empty);
        Append([
            SqlServerChange(1, "a", "00000027:00000758:0005", "first"), SqlServerChange(2, "b", "00000027:00000758:0005", "last"),
            SqlServerChange(3, "lost", "00000030:00000100:0002"), SqlServerChange(1, "X", "00000031:00000010:0003"),
            SqlServerChange(1, "a", "00000029:00000020:0001", "first"), SqlServerChange(2, "b", "00000029:00000020:0001", "last"),
            SqlServerChange(2, null, "00000029:00000040:0002"),
        ]);
        var config = SqliteConfig();

        await RunAsync(config);

        Assert.Equal(["id=1|name=a"], SqliteRows());
    }

    [Fact]
    public async Task A_restart_between_the_old_and_the_new_epoch_continues_the_stored_epoch()
    {
        Workspace.Write("data/users.jsonl", string.Empty);
        Append(Snapshot(100, (1, "a"), (2, "b"), (3, "c")));
        Append([Change(1, "X", 1000)]);
        var config = SqliteConfig();
        await RunAsync(config);

        Append(Snapshot(950, (1, "a"), (2, "b")));
        await RunAsync(config);
        Assert.Equal(["id=1|name=a", "id=2|name=b"], SqliteRows());

        // Changes of the new epoch after a second restart: without the stored epoch they would
        // compare by their bare LSNs, below the 1000 applied in the old one.
        Append([Change(1, "Y", 960), Change(2, null, 970)]);
        await RunAsync(config);

        Assert.Equal(["id=1|name=Y"], SqliteRows());
    }

    [Fact]
    public async Task A_backfill_over_a_topic_holding_two_epochs_ends_in_the_newest_epochs_state()
    {
        WriteFailover();
        var config = SqliteConfig();
        await RunAsync(config);

        var backfill = await Workspace.Sync("backfill", "--config", config, "--materializer", "users", "--no-progress");
        Assert.True(backfill.ExitCode == 0, backfill.ToString());
        Append([Change(2, "c", 970)]);
        await RunAsync(config);

        Assert.Equal(["id=1|name=Y", "id=2|name=c"], SqliteRows());
    }

    /// <summary>The issue's erasure case, end to end: user 1 is erased while the old primary streams; the
    /// failover's re-snapshot holds user 1 again (the new primary never saw the erasure), and the new
    /// epoch updates it. The ledger suppresses the subject in every epoch: neither the resumed run nor a
    /// backfill over both epochs brings it back, and everyone else follows the new primary.</summary>
    [Fact]
    public async Task A_subject_erased_in_the_old_epoch_stays_erased_when_the_new_snapshot_holds_it_again()
    {
        Workspace.Write("data/users.jsonl", string.Empty);
        Append(Snapshot(100, (1, "a"), (2, "b")));
        Append([Change(1, "X", 1000)]);
        var config = SqliteConfig();
        File.AppendAllText(config, "\n" + """
            subjects:
              user:
                users: { key: id }
            erasure:
              secret: 'a-test-secret-of-some-length'
              ledger: ledger.db

            """);
        await RunAsync(config);
        var erase = await Workspace.Sync("erase", "--config", config, "--subject", "user", "--key", "1");
        Assert.True(erase.ExitCode == 0, erase.ToString());
        Assert.Equal(["id=2|name=b"], SqliteRows());

        Append(Snapshot(950, (1, "a"), (2, "b")));
        Append([Change(1, "Y", 960), Change(2, "c", 970)]);
        await RunAsync(config);
        Assert.Equal(["id=2|name=c"], SqliteRows());

        var backfill = await Workspace.Sync("backfill", "--config", config, "--materializer", "users", "--no-progress");
        Assert.True(backfill.ExitCode == 0, backfill.ToString());
        Assert.Equal(["id=2|name=c"], SqliteRows());
    }

    [Fact]
    public async Task Orders_falling_far_below_outside_a_snapshot_are_reported_and_a_declared_bump_makes_the_next_changes_newer()
    {
        Workspace.Write("data/users.jsonl", string.Empty);
        Append(Snapshot(5_000_000_000_000, (1, "a"), (2, "b")));
        Append([Change(1, "X", 5_000_000_001_000)]);
        var config = SqliteConfig();
        await RunAsync(config);

        // Restored on a new cluster without a new snapshot: the bare LSNs are older than the state held.
        Append([Change(1, "restored", 30_000_000)]);
        var degraded = await Workspace.Sync("run", "--config", config);
        Assert.True(degraded.ExitCode == 0, degraded.ToString());
        Assert.Contains("went back in time without a new snapshot", degraded.Error, StringComparison.Ordinal);
        Assert.Equal(["id=1|name=X", "id=2|name=b"], SqliteRows());
        var status = await Workspace.Sync("status", "--config", config);
        Assert.Contains("is degraded: the source orders of", status.Output + status.Error, StringComparison.Ordinal);

        var bump = await Workspace.Sync("epoch", "bump", "--config", config, "--materializer", "users", "--reason", "restored from the 02:00 backup", "--by", "oncall");
        Assert.True(bump.ExitCode == 0, bump.ToString());
        Assert.Contains("\"by\":\"oncall\",\"reason\":\"restored from the 02:00 backup\"", File.ReadAllText(Workspace.File("users.epochs.jsonl")), StringComparison.Ordinal);
        Append([Change(1, "Y", 30_000_100), Change(2, null, 30_000_200)]);
        await RunAsync(config);

        Assert.Equal(["id=1|name=Y"], SqliteRows());
        var after = await Workspace.Sync("status", "--config", config);
        Assert.DoesNotContain("is degraded", after.Output + after.Error, StringComparison.Ordinal);
    }

    /// <summary>A change of the new epoch backfilled from its own line (<c>--from</c>): with the epoch state
    /// the sink stores, it compares above the new snapshot's rows instead of by its bare LSN (970, below
    /// the 1000 the old epoch applied).</summary>
    [Fact]
    public async Task A_backfill_from_a_position_in_a_later_epoch_compares_with_the_stored_epoch()
    {
        WriteFailover();
        var config = SqliteConfig();
        await RunAsync(config);
        Append([Change(2, "c", 970)]);

        var backfill = await Workspace.Sync("backfill", "--config", config, "--materializer", "users", "--from", "0:8:-1", "--no-progress");

        Assert.True(backfill.ExitCode == 0, backfill.ToString());
        Assert.Equal(["id=1|name=Y", "id=2|name=c"], SqliteRows());
    }

    /// <summary>A backfill from a position of the old epoch (<c>--from</c> the first line, the lost create
    /// at line 3, or the new snapshot's first record at line 5): the changes up to the position stored
    /// with the checkpoint are ordered in the epoch they belong to, by the epoch starts the sink stores,
    /// so the lost create and the lost update stay below the new epoch, the new snapshot read again
    /// starts no epoch of its own, and the change appended after the run moves on in the new epoch.</summary>
    [Theory]
    [InlineData("0:1:-1")]
    [InlineData("0:3:-1")]
    [InlineData("0:5:-1")]
    public async Task A_backfill_from_a_position_in_an_earlier_epoch_brings_nothing_of_it_back(string from)
    {
        WriteFailover();
        var config = SqliteConfig();
        await RunAsync(config);
        Append([Change(2, "c", 970)]);

        var backfill = await Workspace.Sync("backfill", "--config", config, "--materializer", "users", "--from", from, "--no-progress");

        Assert.True(backfill.ExitCode == 0, backfill.ToString());
        Assert.Equal(["id=1|name=Y", "id=2|name=c"], SqliteRows());
        Assert.DoesNotContain("starts source epoch", backfill.Output + backfill.Error, StringComparison.Ordinal);
    }

    /// <summary>The same after a declared bump, where no snapshot follows the old epoch to write over
    /// it: a backfill from the old epoch's update (line 3, order 5·10^12 + 1000) must not order it in
    /// the declared epoch, where it would land above the restored cluster's changes.</summary>
    [Theory]
    [InlineData("0:1:-1")]
    [InlineData("0:3:-1")]
    public async Task A_backfill_from_before_a_declared_bump_brings_nothing_of_the_old_history_back(string from)
    {
        Workspace.Write("data/users.jsonl", string.Empty);
        Append(Snapshot(5_000_000_000_000, (1, "a"), (2, "b")));
        Append([Change(1, "X", 5_000_000_001_000)]);
        var config = SqliteConfig();
        await RunAsync(config);
        var bump = await Workspace.Sync("epoch", "bump", "--config", config, "--materializer", "users", "--reason", "restored on a new cluster");
        Assert.True(bump.ExitCode == 0, bump.ToString());
        Append([Change(1, "Y", 30_000_100), Change(2, null, 30_000_200)]);
        await RunAsync(config);
        Assert.Equal(["id=1|name=Y"], SqliteRows());

        var backfill = await Workspace.Sync("backfill", "--config", config, "--materializer", "users", "--from", from, "--no-progress");

        Assert.True(backfill.ExitCode == 0, backfill.ToString());
        Assert.Equal(["id=1|name=Y"], SqliteRows());
    }

    /// <summary>Dead letters of the old epoch (the lost create and the lost update, lines 3 and 4)
    /// replayed with <c>sync dlq replay</c> after the new epoch's snapshot was reconciled: ordered in
    /// their own epoch, they are older than the new primary's state and change nothing.</summary>
    [Fact]
    public async Task Dead_letters_of_an_earlier_epoch_bring_nothing_back_over_the_new_epoch()
    {
        WriteFailover();
        var config = SqliteConfig();
        await RunAsync(config);
        Workspace.Write("users.deadletter.jsonl", string.Join('\n',
            $$"""{"materializer":"users","stage":"apply","reason":"the sink refused the row","topic":"{{Topic}}","position":"0:3:-1","message":{{Change(3, "lost", 980)}}}""",
            $$"""{"materializer":"users","stage":"apply","reason":"the sink refused the row","topic":"{{Topic}}","position":"0:4:-1","message":{{Change(1, "X", 1000)}}}""") + "\n");

        var replay = await Workspace.Sync("dlq", "replay", "--config", config, "--materializer", "users");

        Assert.True(replay.ExitCode == 0, replay.ToString());
        Assert.Equal(["id=1|name=Y", "id=2|name=b"], SqliteRows());
    }

    /// <summary>A dead letter of the new epoch (a change the sink could not take at the time) replayed
    /// with <c>sync dlq replay</c>: put in its stream's stored epoch, it is newer than the snapshot's row.</summary>
    [Fact]
    public async Task A_dead_letter_of_a_later_epoch_is_replayed_in_that_epoch()
    {
        WriteFailover();
        var config = SqliteConfig();
        await RunAsync(config);
        Workspace.Write("users.deadletter.jsonl",
            $$"""{"materializer":"users","stage":"apply","reason":"the sink refused the row","topic":"{{Topic}}","position":"0:8:-1","message":{{Change(2, "c", 970)}}}""" + "\n");

        var replay = await Workspace.Sync("dlq", "replay", "--config", config, "--materializer", "users");

        Assert.True(replay.ExitCode == 0, replay.ToString());
        Assert.Equal(["id=1|name=Y", "id=2|name=c"], SqliteRows());
    }

    /// <summary><c>sync epoch bump</c> while <c>sync run</c> follows the changelog: the run takes the
    /// declaration in (it reads it before every batch) instead of overwriting it with its own epoch
    /// state, so the restored cluster's changes appended once the command has returned are applied,
    /// the first of them included, with no wait in between.</summary>
    [Fact]
    public async Task A_bump_declared_while_the_materializer_runs_is_taken_in_by_the_run()
    {
        Workspace.Write("data/users.jsonl", string.Empty);
        Append(Snapshot(5_000_000_000_000, (1, "a"), (2, "b")));
        Append([Change(1, "X", 5_000_000_001_000)]);
        var config = SqliteConfig();
        File.WriteAllText(config, File.ReadAllText(config).Replace("path: data/users.jsonl", "path: data/users.jsonl, follow: true", StringComparison.Ordinal));
        using var run = SyncProcess.Start(Workspace.Directory, "run", "--config", config);
        try
        {
            await Poll.UntilAsync(() => File.Exists(Workspace.File("users.db")) && SqliteRows().SequenceEqual(["id=1|name=X", "id=2|name=b"]));

            var bump = await Workspace.Sync("epoch", "bump", "--config", config, "--materializer", "users", "--reason", "restored on a new cluster", "--by", "oncall");
            Assert.True(bump.ExitCode == 0, bump.ToString());
            Append([Change(1, "Y", 30_000_100), Change(2, null, 30_000_200)]);

            await Poll.UntilAsync(() => SqliteRows().SequenceEqual(["id=1|name=Y"]), TimeSpan.FromSeconds(30));
        }
        finally
        {
            run.Kill(entireProcessTree: true);
        }
    }

    private static Task<List<string>> PostgresRowsAsync(string sql) => PostgresQueries.FirstColumnAsync(sql);
}
