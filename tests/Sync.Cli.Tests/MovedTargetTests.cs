using Npgsql;

namespace Sync.Cli.Tests;

/// <summary>A materializer whose target moved (a new <c>schema:</c> or <c>table:</c>) or was dropped while
/// its checkpoint stays in the sink is refused, with the way out, rather than resumed into an empty
/// target; a target that no row has created yet is not refused.</summary>
public sealed class MovedTargetTests : WorkspaceTests
{
    private const string Topic = "persistent://public/default/db1.public.users";

    private static string Postgres => TestServers.Postgres;

    private static string Row(int id, string name) => $$$"""{"topic":"{{{Topic}}}","key":{"id":{{{id}}}},"value":{"id":{{{id}}},"name":"{{{name}}}"}}""";

    private static string Delete(int id) => $$$"""{"topic":"{{{Topic}}}","key":{"id":{{{id}}}},"value":null}""";

    private void WriteChangelog(params string[] lines) => Workspace.Write("data/users.jsonl", string.Join('\n', lines) + "\n");

    private string Config(string sink, string table) => Workspace.WriteUsersFileConfig(Topic, "target", sink, $"table: {table}, format: json");

    private static string PostgresSink(string schema, string state) =>
        $"{{ type: postgres, connectionString: '{Postgres}', tls: disable, schema: {schema}, stateSchema: {state} }}";

    [Fact]
    public async Task A_sqlite_table_renamed_in_the_config_is_refused_with_the_checkpoint_and_the_way_out_and_a_backfill_fills_it()
    {
        WriteChangelog(Row(1, "a"), Row(2, "b"));
        var database = Workspace.File("users.db");
        var first = await Workspace.Sync("run", "--config", Config("{ type: sqlite, path: users.db }", "users"));
        Assert.True(first.ExitCode == 0, first.ToString());

        var config = Config("{ type: sqlite, path: users.db }", "people");
        var second = await Workspace.Sync("run", "--config", config);

        Assert.True(second.ExitCode != 0, second.ToString());
        Assert.Contains("materializer users: its target people does not exist; the checkpoint was stored while it wrote to users", second.Error, StringComparison.Ordinal);
        Assert.Contains($"{Topic} at ", second.Error, StringComparison.Ordinal);
        Assert.Contains("sync backfill --materializer users", second.Error, StringComparison.Ordinal);
        var status = await Workspace.Sync("status", "--config", config);
        Assert.True(status.ExitCode != 0, status.ToString());
        Assert.Contains("materializer users: its target people does not exist", status.Error, StringComparison.Ordinal);

        var backfill = await Workspace.Sync("backfill", "--config", config, "--materializer", "users", "--no-progress");
        Assert.True(backfill.ExitCode == 0, backfill.ToString());
        Assert.Equal(["id=1|name=a", "id=2|name=b"], SqliteTables.Rows(database, "people"));
        var third = await Workspace.Sync("run", "--config", config);
        Assert.True(third.ExitCode == 0, third.ToString());
    }

    [Fact]
    public async Task A_dropped_sqlite_table_is_refused_rather_than_resumed_empty()
    {
        WriteChangelog(Row(1, "a"));
        var database = Workspace.File("users.db");
        var config = Config("{ type: sqlite, path: users.db }", "users");
        Assert.Equal(0, (await Workspace.Sync("run", "--config", config)).ExitCode);
        using (var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={database};Pooling=False"))
        {
            connection.Open();
            using var drop = connection.CreateCommand();
            drop.CommandText = "DROP TABLE users";
            drop.ExecuteNonQuery();
        }

        var run = await Workspace.Sync("run", "--config", config);

        Assert.True(run.ExitCode != 0, run.ToString());
        Assert.Contains("materializer users: its target users no longer exists", run.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_sqlite_target_that_only_deletes_reached_is_created_by_the_first_row_of_a_later_run()
    {
        WriteChangelog(Delete(1));
        var database = Workspace.File("users.db");
        var config = Config("{ type: sqlite, path: users.db }", "users");
        var first = await Workspace.Sync("run", "--config", config);
        Assert.True(first.ExitCode == 0, first.ToString());

        WriteChangelog(Delete(1), Row(2, "b"));
        var second = await Workspace.Sync("run", "--config", config);

        Assert.True(second.ExitCode == 0, second.ToString());
        Assert.Equal(["id=2|name=b"], SqliteTables.Rows(database, "users"));
    }

    [Fact]
    public async Task A_postgres_schema_changed_in_the_config_is_refused_with_the_checkpoint_and_the_way_out()
    {
        WriteChangelog(Row(1, "a"), Row(2, "b"));
        var schema = "mt_" + Guid.NewGuid().ToString("N")[..12];
        var first = await Workspace.Sync("run", "--config", Config(PostgresSink(schema, schema + "_state"), "users"));
        Assert.True(first.ExitCode == 0, first.ToString());

        var config = Config(PostgresSink(schema + "_new", schema + "_state"), "users");
        var second = await Workspace.Sync("run", "--config", config);

        Assert.True(second.ExitCode != 0, second.ToString());
        Assert.Contains($"materializer users: its target {schema}_new.users does not exist; the checkpoint was stored while it wrote to {schema}.users", second.Error, StringComparison.Ordinal);
        Assert.Contains("sync backfill --materializer users", second.Error, StringComparison.Ordinal);
        var status = await Workspace.Sync("status", "--config", config);
        Assert.True(status.ExitCode != 0, status.ToString());
        Assert.Contains($"its target {schema}_new.users does not exist", status.Error, StringComparison.Ordinal);

        var backfill = await Workspace.Sync("backfill", "--config", config, "--materializer", "users", "--no-progress");
        Assert.True(backfill.ExitCode == 0, backfill.ToString());
        Assert.Equal(["1|a", "2|b"], await PostgresRowsAsync($"SELECT id || '|' || name FROM {schema}_new.users ORDER BY id"));
    }

    [Fact]
    public async Task A_postgres_target_that_only_deletes_reached_is_created_by_the_first_row_of_a_later_run()
    {
        WriteChangelog(Delete(1));
        var schema = "mt_" + Guid.NewGuid().ToString("N")[..12];
        var config = Config(PostgresSink(schema, schema + "_state"), "users");
        var first = await Workspace.Sync("run", "--config", config);
        Assert.True(first.ExitCode == 0, first.ToString());
        Assert.Equal(["true"], await PostgresRowsAsync($"SELECT (count(*) > 0)::text FROM {schema}_state.checkpoints WHERE materializer = 'users'"));

        WriteChangelog(Delete(1), Row(2, "b"));
        var second = await Workspace.Sync("run", "--config", config);

        Assert.True(second.ExitCode == 0, second.ToString());
        Assert.Equal(["2|b"], await PostgresRowsAsync($"SELECT id || '|' || name FROM {schema}.users ORDER BY id"));
    }

    [Fact]
    public async Task A_materializer_name_reused_for_other_topics_and_another_target_is_not_refused()
    {
        // The stored checkpoint holds positions of a source and topics the materializer no longer
        // reads: resuming skips nothing, so there is nothing to refuse.
        WriteChangelog(Row(1, "a"));
        var database = Workspace.File("users.db");
        Assert.Equal(0, (await Workspace.Sync("run", "--config", Config("{ type: sqlite, path: users.db }", "users"))).ExitCode);
        const string otherTopic = "persistent://public/default/db1.public.customers";
        Workspace.Write("data/customers.jsonl", $$$"""{"topic":"{{{otherTopic}}}","key":{"id":7},"value":{"id":7,"name":"c"}}""" + "\n");
        var config = Workspace.Write("sync.yaml", $"""
            sources:
              customers: {"{"} type: file, path: data/customers.jsonl {"}"}
            sinks:
              target: {"{"} type: sqlite, path: users.db {"}"}
            materializers:
              users: {"{"} source: customers, topics: ['{otherTopic}'], sink: target, table: customers, format: json {"}"}
            """);

        var run = await Workspace.Sync("run", "--config", config);

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Equal(["id=7|name=c"], SqliteTables.Rows(database, "customers"));
    }

    private static Task<List<string>> PostgresRowsAsync(string sql) => PostgresQueries.FirstColumnAsync(sql);
}
