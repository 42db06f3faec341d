using Microsoft.Data.Sqlite;
using Sync.Pulsar;

namespace Sync.Cli.Tests;

/// <summary><c>sync backfill --shadow</c> on a Pulsar source (the fake broker): the backfill stops at the
/// last message id taken at its start, swaps, and <c>sync run</c> goes on from there.</summary>
public sealed class PulsarShadowBackfillTests : PulsarCliFixture
{
    [Fact]
    public async Task A_shadow_backfill_from_the_topic_replaces_the_table_and_a_run_continues_after_it()
    {
        var topic = NewTopic("shadow-users");
        await using var producer = await Client.CreateProducerAsync(new ProducerOptions { Topic = topic });
        for (var id = 1; id <= 20; id++)
        {
            await PublishAsync(producer, id.ToString(System.Globalization.CultureInfo.InvariantCulture), "c", $"user {id}", 100 + id);
        }

        var config = WriteConfig($"""
              users: {"{"} source: broker, topics: ['{topic}'], sink: local, table: users, linger: 0ms, batchSize: 5 {"}"}
            """);
        var run = await RunUntilAsync(() => AllAcknowledged(topic, "sync-users"), "run", "--config", config);
        Assert.True(run.ExitCode == 0, run.ToString());
        Execute("INSERT INTO users (id, name) VALUES (999, 'stale')");
        Assert.Equal(21, SqliteTables.Count(Database, "SELECT count(*) FROM users"));

        var backfill = await Workspace.Sync("backfill", "--config", config, "--materializer", "users", "--shadow", "--no-progress");

        Assert.True(backfill.ExitCode == 0, backfill.ToString());
        Assert.Contains("users: the shadow is live as \"users\"", backfill.Output, StringComparison.Ordinal);
        Assert.Equal(20, SqliteTables.Count(Database, "SELECT count(*) FROM users"));
        Assert.Equal(0, SqliteTables.Count(Database, "SELECT count(*) FROM users WHERE id = 999"));

        await PublishAsync(producer, "21", "c", "user 21", 121);
        var after = await RunUntilAsync(() => SqliteTables.Count(Database, "SELECT count(*) FROM users") == 21, "run", "--config", config);
        Assert.True(after.ExitCode == 0, after.ToString());
        Assert.Equal(["id=21|name=user 21"], SqliteTables.Rows(Database, "users").Where(r => r.StartsWith("id=21|", StringComparison.Ordinal)));
    }

    private void Execute(string sql)
    {
        using var connection = new SqliteConnection($"Data Source={Database};Pooling=False");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }
}
