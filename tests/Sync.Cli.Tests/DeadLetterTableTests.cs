using Microsoft.Data.Sqlite;
using Npgsql;

namespace Sync.Cli.Tests;

/// <summary><c>deadLetterTarget: table</c>: letters in the sink's own database, written in the
/// batch's transaction, listed and replayed by <c>sync dlq</c>.</summary>
public sealed class DeadLetterTableTests : WorkspaceTests
{
    private const string Topic = "persistent://public/default/db1.public.users";

    private static string Postgres => TestServers.Postgres;

    /// <summary>Two good rows around a message whose value is the text <c>[3]</c>, not a JSON object (it cannot be decoded).</summary>
    private void WriteChangelog() =>
        Workspace.Write("data/users.jsonl", string.Join('\n',
            $$$"""{"topic":"{{{Topic}}}","key":{"id":1},"value":{"id":1,"name":"a"},"properties":{"origin":"test"}}""",
            $$$"""{"topic":"{{{Topic}}}","key":{"id":3},"value":"[3]"}""",
            $$$"""{"topic":"{{{Topic}}}","key":{"id":2},"value":{"id":2,"name":"b"}}""") + "\n");

    private string Config(string sink) => Workspace.WriteUsersFileConfig(Topic, "target", sink, "table: users, format: json, deadLetterTarget: table");

    [Fact]
    public async Task A_poison_message_becomes_a_row_of_the_sqlite_dead_letter_table_with_its_bytes_and_a_replay_after_the_fix_applies_it()
    {
        WriteChangelog();
        var database = Workspace.File("users.db");
        var config = Config("{ type: sqlite, path: users.db }");

        var run = await Workspace.Sync("run", "--config", config);

        Assert.True(run.ExitCode == 3, run.ToString());
        Assert.Equal(["id=1|name=a", "id=2|name=b"], SqliteTables.Rows(database, "users"));
        var letter = Assert.Single(SqliteLetters(database));
        Assert.Equal(("users", "decode", Topic, """{"id":3}"""), (letter.Materializer, letter.Stage, letter.Topic, letter.Key));
        Assert.Equal("[3]", Encoding.UTF8.GetString(letter.Payload));
        Assert.False(string.IsNullOrWhiteSpace(letter.Reason));
        Assert.Contains(letter.Reason, run.Error, StringComparison.Ordinal);
        Assert.False(File.Exists(Workspace.File("users.deadletter.jsonl")));

        var listed = await Workspace.Sync("dlq", "list", "--config", config);
        Assert.True(listed.ExitCode == 0, listed.ToString());
        Assert.StartsWith("users: 1 dead letter (sqlite sink target, table _sync_dead_letters in ", listed.Output, StringComparison.Ordinal);
        Assert.Matches(@"\s+1\s+decode\s+", listed.Output);

        // The fix: the letter's value, corrected in place.
        Execute(database, """UPDATE _sync_dead_letters SET payload = CAST('{"id":3,"name":"c"}' AS BLOB)""");
        var replay = await Workspace.Sync("dlq", "replay", "--config", config, "-m", "users");

        Assert.True(replay.ExitCode == 0, replay.ToString());
        Assert.Matches(@"replayed\s+1\s+\(applied 1, deleted 0, stale 0, suppressed 0\)", replay.Output);
        Assert.Equal(["id=1|name=a", "id=2|name=b", "id=3|name=c"], SqliteTables.Rows(database, "users"));
        Assert.Empty(SqliteLetters(database));
        var status = await Workspace.Sync("status", "--config", config, "--json");
        Assert.Contains("\"deadLetters\": 0", status.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_letter_that_fails_again_in_a_replay_stays_in_the_table_once_with_its_new_reason()
    {
        WriteChangelog();
        var database = Workspace.File("users.db");
        var config = Config("{ type: sqlite, path: users.db }");
        Assert.Equal(3, (await Workspace.Sync("run", "--config", config)).ExitCode);
        var before = Assert.Single(SqliteLetters(database));

        var replay = await Workspace.Sync("dlq", "replay", "--config", config, "-m", "users");

        Assert.True(replay.ExitCode == 3, replay.ToString());
        Assert.Matches(@"failed again\s+1", replay.Output);
        var after = Assert.Single(SqliteLetters(database));
        Assert.True(after.Id > before.Id, $"{after.Id} > {before.Id}");
        Assert.Equal(before.Payload, after.Payload);
        Assert.Equal(before.Position, after.Position);
    }

    [Fact]
    public async Task A_poison_message_becomes_a_row_of_the_postgres_dead_letter_table_in_the_batch_transaction_and_a_replay_after_the_fix_applies_it()
    {
        WriteChangelog();
        var schema = "dlt_" + Guid.NewGuid().ToString("N")[..12];
        var config = Config($"{{ type: postgres, connectionString: '{Postgres}', tls: disable, schema: {schema}, stateSchema: {schema}_state }}");
        await using (var create = new NpgsqlConnection(Postgres))
        {
            await create.OpenAsync();
            await using var command = new NpgsqlCommand($"CREATE SCHEMA {schema}", create);
            await command.ExecuteNonQueryAsync();
        }

        var run = await Workspace.Sync("run", "--config", config);

        Assert.True(run.ExitCode == 3, run.ToString());
        Assert.Equal(["1|a", "2|b"], await PostgresRowsAsync($"SELECT id || '|' || name FROM {schema}.users ORDER BY id"));
        Assert.Equal(
            ["users|decode|" + Topic + "|{\"id\":3}|[3]|false"],
            await PostgresRowsAsync($"SELECT materializer || '|' || stage || '|' || topic || '|' || key || '|' || convert_from(payload, 'UTF8') || '|' || (reason = '') FROM {schema}_state.dead_letters"));
        // Same transaction as the batch: the letter's row and the checkpoint past it commit together.
        Assert.Equal(["1"], await PostgresRowsAsync($"SELECT count(*)::text FROM {schema}_state.checkpoints WHERE materializer = 'users' AND stream = '{Topic}'"));

        var listed = await Workspace.Sync("dlq", "list", "--config", config);
        Assert.True(listed.ExitCode == 0, listed.ToString());
        Assert.StartsWith($"users: 1 dead letter (postgres sink target, table \"{schema}_state\".\"dead_letters\")", listed.Output, StringComparison.Ordinal);

        await PostgresRowsAsync($$"""UPDATE {{schema}}_state.dead_letters SET payload = convert_to('{"id":3,"name":"c"}', 'UTF8') RETURNING id::text""");
        var replay = await Workspace.Sync("dlq", "replay", "--config", config, "-m", "users");

        Assert.True(replay.ExitCode == 0, replay.ToString());
        Assert.Matches(@"replayed\s+1\s+\(applied 1,", replay.Output);
        Assert.Equal(["1|a", "2|b", "3|c"], await PostgresRowsAsync($"SELECT id || '|' || name FROM {schema}.users ORDER BY id"));
        Assert.Equal(["0"], await PostgresRowsAsync($"SELECT count(*)::text FROM {schema}_state.dead_letters"));
    }

    [Fact]
    public async Task A_row_the_postgres_sink_rejects_becomes_an_apply_letter_committed_with_the_batch_and_the_rest_of_the_batch_applies()
    {
        // Without schema evolution, a change with a column the table lacks is rejected by the sink.
        Workspace.Write("data/users.jsonl", string.Join('\n',
            $$$"""{"topic":"{{{Topic}}}","key":{"id":1},"value":{"id":1,"name":"a"}}""",
            $$$"""{"topic":"{{{Topic}}}","key":{"id":2},"value":{"id":2,"name":"b","age":7}}""",
            $$$"""{"topic":"{{{Topic}}}","key":{"id":3},"value":{"id":3,"name":"c"}}""") + "\n");
        var (schema, config) = await UsersTableWithoutEvolutionAsync(string.Empty);

        var run = await Workspace.Sync("run", "--config", config);

        Assert.True(run.ExitCode == 3, run.ToString());
        Assert.Equal(["1|a", "3|c"], await PostgresRowsAsync($"SELECT id || '|' || name FROM {schema}.users ORDER BY id"));
        var letter = Assert.Single(await PostgresRowsAsync(
            $"SELECT stage || '|' || key || '|' || convert_from(payload, 'UTF8') || '|' || position('age' in reason)::bool FROM {schema}_state.dead_letters"));
        Assert.Equal("""apply|{"id":2}|{"id":2,"name":"b","age":7}|true""", letter);
    }

    [Fact]
    public async Task Sync_erase_deletes_the_postgres_dead_letters_that_name_the_subject_and_counts_those_it_cannot_decode()
    {
        // Letters: id 2 rejected by the sink (a column the table lacks), id 3 not decodable ("[3]"), id 4 rejected too.
        Workspace.Write("data/users.jsonl", string.Join('\n',
            $$$"""{"topic":"{{{Topic}}}","key":{"id":1},"value":{"id":1,"name":"a"}}""",
            $$$"""{"topic":"{{{Topic}}}","key":{"id":2},"value":{"id":2,"name":"bob","age":7}}""",
            $$$"""{"topic":"{{{Topic}}}","key":{"id":3},"value":"[3]"}""",
            $$$"""{"topic":"{{{Topic}}}","key":{"id":4},"value":{"id":4,"name":"dan","age":9}}""") + "\n");
        var (schema, config) = await UsersTableWithoutEvolutionAsync("""
            subjects:
              user:
                users: { key: id }
            erasure:
              secret: 'a-test-secret-of-some-length'
              ledger: ledger.db
            """);
        Assert.Equal(3, (await Workspace.Sync("run", "--config", config)).ExitCode);
        var letters = $"SELECT key FROM {schema}_state.dead_letters ORDER BY key";
        Assert.Equal(["""{"id":2}""", """{"id":3}""", """{"id":4}"""], await PostgresRowsAsync(letters));

        var erase = await Workspace.Sync("erase", "--config", config, "--subject", "user", "--key", "2", "--requested-by", "dpo@example.com");

        Assert.True(erase.ExitCode == 0, erase.ToString());
        Assert.Equal(["""{"id":3}""", """{"id":4}"""], await PostgresRowsAsync(letters));
        Assert.Matches(@"users\s+postgres sink target, table ""dlt_\w+_state"".""dead_letters""\s+3\s+1\s+1\s+0\s+1", erase.Output);
        Assert.Contains("1 dead letter of users in postgres sink target", erase.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("bob", erase.Output + erase.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_redis_sink_refuses_the_table_target_naming_the_field_and_the_value()
    {
        WriteChangelog();
        var config = Config("{ type: redis, endpoints: ['127.0.0.1:1'] }");

        var validate = await Workspace.Sync("validate", "--config", config);

        Assert.Equal(2, validate.ExitCode);
        Assert.Contains(
            "materializers.users.deadLetterTarget (table) needs a sink that keeps a dead-letter table (postgres, sqlite); sink target is of type redis: use topic or file",
            validate.Error + validate.Output,
            StringComparison.Ordinal);
    }

    /// <summary>A users table of (id, name) in a new schema, and a config whose materializer keeps
    /// its letters in the PostgreSQL sink and does not evolve the table: a change with another
    /// column is rejected by the sink. <paramref name="more"/> is appended to the config.</summary>
    private async Task<(string Schema, string Config)> UsersTableWithoutEvolutionAsync(string more)
    {
        var schema = "dlt_" + Guid.NewGuid().ToString("N")[..12];
        await PostgresRowsAsync($"CREATE SCHEMA {schema}; CREATE TABLE {schema}.users (id bigint PRIMARY KEY, name text); SELECT ''");
        var config = Workspace.Write("sync.yaml", $"""
            sources:
              changelog: {"{"} type: file, path: data/users.jsonl {"}"}
            sinks:
              target: {"{"} type: postgres, connectionString: '{Postgres}', tls: disable, schema: {schema}, stateSchema: {schema}_state {"}"}
            materializers:
              users: {"{"} source: changelog, topics: ['{Topic}'], sink: target, table: users, format: json, deadLetterTarget: table, target: {"{"} schemaEvolution: none {"}"} {"}"}
            """ + "\n" + more);
        return (schema, config);
    }

    private sealed record Letter(long Id, string Materializer, string Stage, string? Topic, string Position, string? Key, byte[] Payload, string Reason);

    private static List<Letter> SqliteLetters(string database)
    {
        using var connection = new SqliteConnection($"Data Source={database};Pooling=False");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT id, materializer, stage, topic, position, key, payload, reason FROM _sync_dead_letters ORDER BY id";
        using var reader = command.ExecuteReader();
        var letters = new List<Letter>();
        while (reader.Read())
        {
            letters.Add(new Letter(reader.GetInt64(0), reader.GetString(1), reader.GetString(2), reader.IsDBNull(3) ? null : reader.GetString(3),
                reader.GetString(4), reader.IsDBNull(5) ? null : reader.GetString(5), (byte[])reader.GetValue(6), reader.GetString(7)));
        }

        return letters;
    }

    private static void Execute(string database, string sql)
    {
        using var connection = new SqliteConnection($"Data Source={database};Pooling=False");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    private static Task<List<string>> PostgresRowsAsync(string sql) => PostgresQueries.FirstColumnAsync(sql);
}
