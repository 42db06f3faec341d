using System.Text.RegularExpressions;
using Microsoft.Data.Sqlite;
using Snapshooter;
using Snapshooter.Xunit;

namespace Sync.Cli.Tests;

/// <summary><c>sync verify</c> over a changelog file materialized into real PostgreSQL and a SQLite
/// file, then changed behind sync's back — a row deleted, a row added, a value changed, a version
/// rolled back, a version pushed ahead — each found with its class, and repaired where the log can.</summary>
public sealed class VerifyCommandTests : WorkspaceTests
{
    private const string Topic = "persistent://public/default/db1.public.users";

    private readonly string _schema = "vf_" + Guid.NewGuid().ToString("N")[..12];

    private static string Postgres => TestServers.Postgres;

    /// <summary>Users 1 to 6 created (source order 10 to 60), user 6 deleted (70).</summary>
    private void WriteChangelog() => Workspace.Write("data/users.jsonl", string.Concat(
        Enumerable.Range(1, 6).Select(id => ChangelogLines.Line(Topic, id, "c", $"user-{id}", id * 10))
            .Append($$$$"""{"topic":"{{{{Topic}}}}","key":{"id":6},"value":{"op":"d","before":{"id":6,"name":"user-6"},"source":{"lsn":70}}}""" + "\n")));

    private string Config(string sink) => Workspace.WriteUsersFileConfig(Topic, "target", sink, "table: users");

    private string PostgresConfig() => Config($"{{ type: postgres, connectionString: '{Postgres}', tls: disable, schema: {_schema}, stateSchema: {_schema}_state }}");

    [Fact]
    public async Task A_sink_that_matches_its_changelog_is_clean_and_exits_0()
    {
        WriteChangelog();
        var config = Config("{ type: sqlite, path: users.db }");
        Assert.Equal(0, (await Workspace.Sync("run", "--config", config)).ExitCode);

        var verify = await Workspace.Sync("verify", "--config", config);

        Assert.True(verify.ExitCode == 0, verify.ToString());
        Assert.Contains("materializer users (sink target, target users): 6 keys, clean", verify.Output, StringComparison.Ordinal);
        Assert.EndsWith("clean: 1 materializer verified, no drift\n", verify.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Drift_injected_into_postgres_is_found_with_its_class_and_the_repair_leaves_only_what_is_ahead_of_the_log()
    {
        WriteChangelog();
        var config = PostgresConfig();
        try
        {
            Assert.Equal(0, (await Workspace.Sync("run", "--config", config)).ExitCode);
            var users = $"\"{_schema}\".users";
            await ExecuteAsync(
                $"""
                DELETE FROM {users} WHERE id = 1;
                CREATE TEMP TABLE added AS SELECT * FROM {users} WHERE id = 5; UPDATE added SET id = 7, name = 'added'; INSERT INTO {users} SELECT * FROM added;
                UPDATE {users} SET name = 'changed' WHERE id = 2;
                UPDATE {users} SET _sync_version = 5 WHERE id = 3;
                UPDATE {users} SET _sync_version = 999 WHERE id = 4;
                """);

            // A given secret, so that the keyed hashes in the snapshot are the same at every run.
            var key = Workspace.Write("sample.key", "a sample key for the snapshot\n");
            var verify = await Workspace.Sync("verify", "--config", config, "--sample-key-file", key);

            Assert.True(verify.ExitCode == 3, verify.ToString());
            Snapshot.Match(verify.Output, SnapshotNameExtension.Create("postgres"));

            var dryRun = await Workspace.Sync("verify", "--config", config, "--repair", "--dry-run");
            Assert.True(dryRun.ExitCode == 3, dryRun.ToString());
            Assert.Contains("dry run: would re-apply 3, would delete 1, would leave 1 (ahead of the log); nothing was changed", dryRun.Output, StringComparison.Ordinal);
            Assert.Equal(5, await ScalarAsync($"SELECT count(*) FROM {users}"));

            var repair = await Workspace.Sync("verify", "--config", config, "--repair", "--json");
            Assert.True(repair.ExitCode == 3, repair.ToString());
            using var json = JsonDocument.Parse(repair.Output);
            var after = json.RootElement.GetProperty("materializers")[0].GetProperty("afterRepair");
            Assert.Equal(1, after.GetProperty("drift").GetInt64());
            Assert.Equal(1, after.GetProperty("classes").GetProperty("ahead").GetProperty("count").GetInt64());
            Assert.Equal(
                ["1|user-1|10", "2|user-2|20", "3|user-3|30", "4|user-4|999", "5|user-5|50"],
                await RowsAsync($"SELECT id || '|' || name || '|' || _sync_version FROM {users} ORDER BY id"));
        }
        finally
        {
            await ExecuteAsync($"DROP SCHEMA IF EXISTS \"{_schema}\" CASCADE; DROP SCHEMA IF EXISTS \"{_schema}_state\" CASCADE");
        }
    }

    [Fact]
    public async Task Drift_injected_into_sqlite_is_found_with_its_class_and_repaired()
    {
        WriteChangelog();
        var config = Config("{ type: sqlite, path: users.db }");
        Assert.Equal(0, (await Workspace.Sync("run", "--config", config)).ExitCode);
        ExecuteSqlite(
            """
            DELETE FROM users WHERE id = 1;
            INSERT INTO users (id, name) VALUES (7, 'added');
            UPDATE users SET name = 'changed' WHERE id = 2;
            UPDATE _sync_state SET lsn = 5 WHERE key_text = '{"id":3}';
            UPDATE _sync_state SET lsn = 999 WHERE key_text = '{"id":4}';
            """);

        var verify = await Workspace.Sync("verify", "--config", config, "--json");

        Assert.True(verify.ExitCode == 3, verify.ToString());
        using (var json = JsonDocument.Parse(verify.Output))
        {
            var classes = json.RootElement.GetProperty("materializers")[0].GetProperty("classes");
            Assert.Equal(
                [("missing", 1L), ("extra", 1L), ("stale", 1L), ("ahead", 1L), ("different", 1L)],
                classes.EnumerateObject().Select(c => (c.Name, c.Value.GetProperty("count").GetInt64())).ToList());
        }

        var repair = await Workspace.Sync("verify", "--config", config, "--repair");

        Assert.True(repair.ExitCode == 3, repair.ToString());
        Assert.Contains("repaired: re-applied 3, deleted 1, left 1 (ahead of the log)", repair.Output, StringComparison.Ordinal);
        Assert.Contains("after repair: materializer users (sink target, target users): 7 keys, 1 drifted key", repair.Output, StringComparison.Ordinal);
        Assert.Equal(["id=1|name=user-1", "id=2|name=user-2", "id=3|name=user-3", "id=4|name=user-4", "id=5|name=user-5"], SqliteTables.Rows(Workspace.File("users.db"), "users"));
    }

    [Fact]
    public async Task Status_shows_when_each_materializer_was_last_verified_and_the_drift_found()
    {
        WriteChangelog();
        var config = Config("{ type: sqlite, path: users.db }");
        Assert.Equal(0, (await Workspace.Sync("run", "--config", config)).ExitCode);

        var never = await Workspace.Sync("status", "--config", config);
        Assert.True(never.ExitCode == 0, never.ToString());
        Assert.Contains("materializer 'users': never verified\n", never.Output, StringComparison.Ordinal);

        Assert.Equal(0, (await Workspace.Sync("verify", "--config", config)).ExitCode);
        var clean = await Workspace.Sync("status", "--config", config);
        Assert.Matches(@"materializer 'users': last verified \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ: 6 keys, 0 drift\n", clean.Output);

        ExecuteSqlite("DELETE FROM users WHERE id = 1");
        Assert.Equal(3, (await Workspace.Sync("verify", "--config", config)).ExitCode);
        var drifted = await Workspace.Sync("status", "--config", config);
        Assert.True(drifted.ExitCode == 0, drifted.ToString());
        Assert.Matches(@"materializer 'users': last verified \S+: 6 keys, 1 drift \(1 missing\)\n", drifted.Output);

        // The record is no stream's position: the run goes on from its checkpoint as before.
        var run = await Workspace.Sync("run", "--config", config);
        Assert.True(run.ExitCode == 0, run.ToString());
        var json = await Workspace.Sync("status", "--config", config, "--json");
        var row = Assert.Single(JsonDocument.Parse(json.Output).RootElement.EnumerateArray());
        Assert.Equal(Topic, row.GetProperty("topic").GetString());
        Assert.Equal(6, row.GetProperty("verified").GetProperty("keys").GetInt64());
    }

    [Fact]
    public async Task A_dry_run_of_the_repair_writes_nothing_to_the_sink_not_even_its_record()
    {
        WriteChangelog();
        var config = Config("{ type: sqlite, path: users.db }");
        Assert.Equal(0, (await Workspace.Sync("run", "--config", config)).ExitCode);
        ExecuteSqlite("DELETE FROM users WHERE id = 1");
        var checkpoints = SqliteTables.Rows(Workspace.File("users.db"), "_sync_checkpoints");
        var versions = SqliteTables.Rows(Workspace.File("users.db"), "_sync_state");

        var dryRun = await Workspace.Sync("verify", "--config", config, "--repair", "--dry-run");

        Assert.True(dryRun.ExitCode == 3, dryRun.ToString());
        Assert.Equal(checkpoints, SqliteTables.Rows(Workspace.File("users.db"), "_sync_checkpoints"));
        Assert.Equal(versions, SqliteTables.Rows(Workspace.File("users.db"), "_sync_state"));
        Assert.Equal(["id=2|name=user-2", "id=3|name=user-3", "id=4|name=user-4", "id=5|name=user-5"], SqliteTables.Rows(Workspace.File("users.db"), "users"));
        var status = await Workspace.Sync("status", "--config", config);
        Assert.Contains("materializer 'users': never verified\n", status.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Sampled_keys_are_hashes_unless_show_keys_asks_for_the_keys()
    {
        WriteChangelog();
        var config = Config("{ type: sqlite, path: users.db }");
        Assert.Equal(0, (await Workspace.Sync("run", "--config", config)).ExitCode);
        ExecuteSqlite("DELETE FROM users WHERE id = 1");

        var hashed = await Workspace.Sync("verify", "--config", config);
        var shown = await Workspace.Sync("verify", "--config", config, "--show-keys");
        var none = await Workspace.Sync("verify", "--config", config, "--sample", "0");

        Assert.Equal(3, hashed.ExitCode);
        Assert.Matches(@"missing\s+1  [0-9a-f]{16}\n", hashed.Output);
        Assert.DoesNotContain("\"id\"", hashed.Output, StringComparison.Ordinal);
        Assert.Contains("""missing          1  {"id":1}""", shown.Output, StringComparison.Ordinal);
        Assert.Matches(@"missing\s+1\n", none.Output);
    }

    [Fact]
    public async Task Sampled_key_hashes_are_keyed_by_a_secret_kept_in_the_sink_or_given()
    {
        WriteChangelog();
        var config = Config("{ type: sqlite, path: users.db }");
        Assert.Equal(0, (await Workspace.Sync("run", "--config", config)).ExitCode);
        ExecuteSqlite("DELETE FROM users WHERE id = 1");
        const string secret = "a secret of the operator";
        var keyFile = Workspace.Write("sample.key", secret + "\n");

        var first = MissingHash(await Workspace.Sync("verify", "--config", config));
        var second = MissingHash(await Workspace.Sync("verify", "--config", config));
        var given = MissingHash(await Workspace.Sync("verify", "--config", config, "--sample-key-file", keyFile));

        // The key {"id":1} has the canonical text "1"; its plain SHA-256 starts 6b86b273ff34fce1, which
        // anyone can compute. The generated secret is kept in the sink: runs show the same hash.
        Assert.NotEqual("6b86b273ff34fce1", first);
        Assert.Equal(first, second);
        Assert.Equal(Convert.ToHexStringLower(System.Security.Cryptography.HMACSHA256.HashData("a secret of the operator"u8, "1"u8)[..8]), given);
        Assert.NotEqual(first, given);

        var tooShort = await Workspace.Sync("verify", "--config", config, "--sample-key-file", Workspace.Write("short.key", "short"));
        Assert.True(tooShort.ExitCode == 2, tooShort.ToString());
        Assert.Contains("holds 5 characters; the secret needs at least 16", tooShort.Error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--sample", "-1", "error: --sample (-1) must be 0 or more")]
    [InlineData("--dry-run", null, "error: --dry-run goes with --repair")]
    [InlineData("--materializer", "nope", "nope")]
    public async Task Bad_input_is_named_and_exits_2(string option, string? value, string message)
    {
        WriteChangelog();
        var config = Config("{ type: sqlite, path: users.db }");
        string[] args = value is null ? ["verify", "--config", config, option] : ["verify", "--config", config, option, value];

        var verify = await Workspace.Sync(args);

        Assert.True(verify.ExitCode == 2, verify.ToString());
        Assert.Contains(message, verify.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Verify_has_useful_help()
    {
        var result = await Workspace.Sync("verify", "--help");

        Assert.Equal(0, result.ExitCode);
        Snapshot.Match(result.Output);
    }

    private static string MissingHash(ProcessResult verify)
    {
        Assert.True(verify.ExitCode == 3, verify.ToString());
        return Regex.Match(verify.Output, @"missing\s+1  ([0-9a-f]{16})\n").Groups[1].Value;
    }

    private void ExecuteSqlite(string sql)
    {
        using var connection = new SqliteConnection($"Data Source={Workspace.File("users.db")};Pooling=false");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    private static Task ExecuteAsync(string sql) => PostgresQueries.ExecuteAsync(sql);

    private static Task<long> ScalarAsync(string sql) => PostgresQueries.ScalarAsync(sql);

    private static Task<List<string>> RowsAsync(string sql) => PostgresQueries.FirstColumnAsync(sql);
}
