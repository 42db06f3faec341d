using Npgsql;
using Sync.Engine.Formats;
using Sync.Pulsar;
using Sync.Sinks.Tests.Postgres;
using Sync.Sources.Pulsar;
using Sync.Testing.Files;
using Sync.Testing.Fixtures;
using Sync.Testing.Logging;

namespace Sync.Sinks.Tests.Groups;

/// <summary>
/// A consistency group read from the fake Pulsar broker: the change topics and the transaction topic of
/// <see cref="BankTransfers"/> (the shapes of Debezium 1.9.7's transaction metadata as Pulsar IO's
/// Debezium source publishes them, cited there: keys as base64 of the JSON key bytes with
/// partition_key_b64_encoded, bare envelopes) published through the broker's binary protocol, and an
/// in-process <c>sync run</c> on a failover subscription into PostgreSQL (or SQLite where named).
/// </summary>
public sealed class GroupOverPulsarTests : FakeBrokerTest
{
    private const string Subscription = "group";

    private readonly string _schema = $"gp_{Guid.NewGuid():N}"[..18];
    private readonly HashSet<string> _published = new(StringComparer.Ordinal);
    private readonly RecordingLoggerFactory _logs = new();
    private readonly string _folder = Directory.CreateTempSubdirectory("sync-group-").FullName;
    private string _sink = "postgres";

    private string StateSchema => _schema + "_sync";

    private string CopySchema => _schema + "_copy";

    private string Connection => PostgresTestDb.ServerConnectionString + $";Search Path={_schema}";

    private string SqlitePath => Path.Combine(_folder, "bank.db");

    private string SqliteCopyPath => Path.Combine(_folder, "earlier.db");

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        await ExecuteAsync(PostgresTestDb.ServerConnectionString, $"DROP SCHEMA IF EXISTS {_schema} CASCADE; DROP SCHEMA IF EXISTS {StateSchema} CASCADE; DROP SCHEMA IF EXISTS {CopySchema} CASCADE");
        Directory.Delete(_folder, recursive: true);
    }

    /// <summary>With partitioned member topics (Pulsar IO's producer routes by the message key, so one
    /// source transaction's changes spread over the partitions) the group still applies whole
    /// transactions: it counts a transaction's changes on every partition against its END record.</summary>
    [Theory]
    [InlineData(0)]
    [InlineData(3)]
    public async Task A_reader_never_sees_half_a_transaction_and_the_end_state_is_exact(int partitions)
    {
        var bank = new BankTransfers(accounts: 20, transactions: 1500, seed: 21);
        if (partitions > 0)
        {
            foreach (var table in new[] { "accounts", "ledger_entries", "orders", "order_lines" })
            {
                Broker.CreatePartitionedTopic($"{BankTransfers.Prefix}public.{table}", partitions);
            }
        }

        var violations = new List<long>();
        var checks = 0;
        using var done = new CancellationTokenSource();
        await using var run = Start();
        var poller = Task.Run(async () =>
        {
            await using var connection = new NpgsqlConnection(Connection);
            await connection.OpenAsync();
            while (!done.IsCancellationRequested)
            {
                try
                {
                    await using var command = new NpgsqlCommand(bank.Violations, connection);
                    var found = Convert.ToInt64(await command.ExecuteScalarAsync(), CultureInfo.InvariantCulture);
                    checks++;
                    if (found != 0)
                    {
                        violations.Add(found);
                    }
                }
                catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UndefinedTable)
                {
                    // Not every table exists yet.
                }
            }
        });

        await PublishAsync(bank, _ => true);
        await UntilAppliedAsync(bank, run);
        await done.CancelAsync();
        await poller;

        Assert.Empty(violations);
        Assert.True(checks > 3, $"the reader checked only {checks} times");
        Assert.DoesNotContain(_logs.Entries, e => e.Message.Contains("consistency relaxed", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("postgres")]
    [InlineData("sqlite")]
    public async Task A_sink_gone_back_in_time_is_found_at_the_next_transaction_and_the_group_resumes_from_what_it_holds(string sink)
    {
        _sink = sink;
        // Three parts, cut between source transactions; the sink is copied after the first and the copy
        // put back after the second (rows and checkpoints together, as a restore of a backup leaves them).
        var bank = new BankTransfers(accounts: 20, transactions: 600, seed: 22);
        await using var run = Start();
        await PublishAsync(bank, tx => tx <= 900);
        await UntilEveryMessageIsAcknowledgedAsync(run);
        await SnapshotAsync();
        var before = await GroupCheckpointAsync();
        await PublishAsync(bank, tx => tx <= 1100);
        await UntilEveryMessageIsAcknowledgedAsync(run);
        var reached = await GroupCheckpointAsync();
        Assert.True(reached > before, $"the group checkpoint did not move ({before} -> {reached})");
        await RestoreAsync();

        await PublishAsync(bank, _ => true);
        await UntilAppliedAsync(bank, run);

        Assert.Contains(_logs.Entries, e => e.Message.Contains("went back in time", StringComparison.Ordinal));
        Assert.True(run.Rollbacks >= 1, "no rollback counted");
        Assert.True(await GroupCheckpointAsync() >= reached);
    }

    [Fact]
    public async Task A_partitioned_transaction_topic_stops_the_group_with_the_reason_and_applies_nothing()
    {
        Broker.CreatePartitionedTopic(BankTransfers.TransactionTopic, 2);
        var bank = new BankTransfers(accounts: 5, transactions: 20, seed: 23);
        await using var run = Start();

        await PublishAsync(bank, _ => true);
        var outcomes = await run.Outcome.WaitAsync(TimeSpan.FromSeconds(120));

        Assert.All(outcomes, o => Assert.Contains($"the transaction topic {BankTransfers.TransactionTopic} is partitioned", o.Failure?.Message, StringComparison.Ordinal));
        Assert.Equal(string.Empty, await EndStateAsync());
    }

    private GroupRun Start()
    {
        var text = $"""
            sources:
              changelog: {Broker.SourceYaml("subscriptionType: failover", $"subscription: {Subscription}")}
            sinks:
              local:
            {(_sink == "sqlite" ? $"    type: sqlite\n    path: '{SqlitePath}'" : $"""
                type: postgres
                connectionString: "{PostgresTestDb.ServerConnectionString}"
                schema: {_schema}
                stateSchema: {StateSchema}
                tls: disable
            """)}

            """ + BankTransfers.Materializers("    batchSize: 50\n    linger: 0ms") + BankTransfers.GroupConfig;
        var components = new SyncComponents([new PulsarSourceFactory()], SinkCatalog.All, MessageFormats.Names, MessageFormats.Create);
        var config = ConfigLoader.Parse(text, Path.Combine(Path.GetTempPath(), "sync.yaml"), components.Types, _ => null);
        return new GroupRun(config, components, _logs);
    }

    /// <summary>Publishes, in the changelog's order (each topic's order kept), every record of the source
    /// transactions <paramref name="include"/> selects that is not published yet.</summary>
    private async Task PublishAsync(BankTransfers bank, Func<long, bool> include)
    {
        foreach (var line in bank.Changelog(seed: 9).Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            using var record = JsonDocument.Parse(line);
            var topic = record.RootElement.GetProperty("topic").GetString()!;
            var value = record.RootElement.GetProperty("value");
            var tx = topic == BankTransfers.TransactionTopic
                ? long.Parse(value.GetProperty("id").GetString()!, CultureInfo.InvariantCulture)
                : value.GetProperty("source").GetProperty("txId").GetInt64();
            if (!include(tx) || !_published.Add(line))
            {
                continue;
            }

            var producer = await ProducerOfAsync(topic);
            // Pulsar IO's key: base64 of the converter's key bytes, flagged partition_key_b64_encoded.
            await producer.SendAsync(new OutgoingMessage
            {
                KeyBytes = Convert.FromBase64String(record.RootElement.GetProperty("key").GetString()!),
                Data = Encoding.UTF8.GetBytes(value.GetRawText()),
            });
        }
    }

    private async Task UntilEveryMessageIsAcknowledgedAsync(GroupRun run) =>
        await Poll.UntilAsync(
            async () =>
            {
                await run.ThrowIfEndedAsync();
                return ProducedTopics.All(t => Broker.FindTopic(t) is { } topic && topic.FindSubscription(Subscription) is { } subscription && topic.Entries.All(e => subscription.IsAcknowledged(e.EntryId)));
            },
            TimeSpan.FromSeconds(120));

    /// <summary>Waits until the sink holds exactly the end state: every account's balance, every order
    /// line and ledger entry.</summary>
    private async Task UntilAppliedAsync(BankTransfers bank, GroupRun run)
    {
        var expected = string.Join(",", Enumerable.Range(1, bank.Accounts).Select(id => $"{id}={bank.Balances[id]}")) + $"|{bank.Orders}|{bank.OrderLines}|{bank.LedgerEntries}";
        var held = string.Empty;
        try
        {
            await Poll.UntilAsync(
                async () =>
                {
                    await run.ThrowIfEndedAsync();
                    held = await EndStateAsync();
                    return held == expected;
                },
                TimeSpan.FromSeconds(120));
        }
        catch (TimeoutException)
        {
            Assert.Equal(expected, held);
        }
    }

    private async Task<string> EndStateAsync()
    {
        if (_sink == "sqlite")
        {
            return SqliteEndState();
        }

        try
        {
            await using var connection = new NpgsqlConnection(Connection);
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand(
                "SELECT (SELECT string_agg(id || '=' || balance, ',' ORDER BY id) FROM accounts) || '|' || (SELECT count(*) FROM orders) || '|' || (SELECT count(*) FROM order_lines) || '|' || (SELECT count(*) FROM ledger_entries)",
                connection);
            return await command.ExecuteScalarAsync() as string ?? string.Empty;
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UndefinedTable)
        {
            return string.Empty;
        }
    }

    private string SqliteEndState()
    {
        if (!File.Exists(SqlitePath))
        {
            return string.Empty;
        }

        try
        {
            using var connection = SqliteCopies.Connect(SqlitePath);
            using var command = connection.CreateCommand();
            command.CommandText = "SELECT (SELECT group_concat(id || '=' || balance, ',') FROM (SELECT id, balance FROM accounts ORDER BY id)) || '|' || (SELECT count(*) FROM orders) || '|' || (SELECT count(*) FROM order_lines) || '|' || (SELECT count(*) FROM ledger_entries)";
            return command.ExecuteScalar() as string ?? string.Empty;
        }
        catch (Microsoft.Data.Sqlite.SqliteException e) when (e.Message.Contains("no such table", StringComparison.Ordinal))
        {
            return string.Empty;
        }
    }

    /// <summary>The group's stored position on the transaction topic.</summary>
    private async Task<StreamPosition> GroupCheckpointAsync()
    {
        if (_sink == "sqlite")
        {
            using var sqlite = SqliteCopies.Connect(SqlitePath);
            using var read = sqlite.CreateCommand();
            read.CommandText = "SELECT position FROM _sync_checkpoints WHERE materializer = 'consistency.bank' AND stream = $stream";
            read.Parameters.AddWithValue("$stream", BankTransfers.TransactionTopic);
            return StreamPosition.Parse((string)read.ExecuteScalar()!);
        }

        await using var connection = new NpgsqlConnection(PostgresTestDb.ServerConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand($"SELECT position FROM {StateSchema}.checkpoints WHERE materializer = 'consistency.bank' AND stream = $1", connection);
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = BankTransfers.TransactionTopic });
        return StreamPosition.Parse((string)(await command.ExecuteScalarAsync())!);
    }

    private async Task<List<string>> TablesAsync(NpgsqlConnection connection)
    {
        await using var command = new NpgsqlCommand("SELECT quote_ident(table_schema) || '.' || quote_ident(table_name) FROM information_schema.tables WHERE table_schema = ANY($1) AND table_type = 'BASE TABLE' ORDER BY 1", connection);
        command.Parameters.Add(new NpgsqlParameter<string[]> { TypedValue = [_schema, StateSchema] });
        var tables = new List<string>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            tables.Add(reader.GetString(0));
        }

        return tables;
    }

    private static string CopyOf(string table) => '"' + table.Replace("\"", string.Empty, StringComparison.Ordinal).Replace('.', '_') + '"';

    private async Task SnapshotAsync()
    {
        if (_sink == "sqlite")
        {
            await SqliteCopies.CopyAsync(SqlitePath, SqliteCopyPath);
            return;
        }

        await using var connection = new NpgsqlConnection(PostgresTestDb.ServerConnectionString);
        await connection.OpenAsync();
        await ExecuteAsync(connection, $"CREATE SCHEMA {CopySchema}");
        foreach (var table in await TablesAsync(connection))
        {
            await ExecuteAsync(connection, $"CREATE TABLE {CopySchema}.{CopyOf(table)} AS TABLE {table}");
        }
    }

    /// <summary>Puts the copy back in one transaction (rows and checkpoints together).</summary>
    private async Task RestoreAsync()
    {
        if (_sink == "sqlite")
        {
            await SqliteCopies.CopyAsync(SqliteCopyPath, SqlitePath);
            return;
        }

        await using var connection = new NpgsqlConnection(PostgresTestDb.ServerConnectionString);
        await connection.OpenAsync();
        await using var transaction = await connection.BeginTransactionAsync();
        foreach (var table in await TablesAsync(connection))
        {
            await ExecuteAsync(connection, $"TRUNCATE {table}; INSERT INTO {table} SELECT * FROM {CopySchema}.{CopyOf(table)}");
        }

        await transaction.CommitAsync();
    }

    private static async Task ExecuteAsync(string connectionString, string sql)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await ExecuteAsync(connection, sql);
    }

    private static async Task ExecuteAsync(NpgsqlConnection connection, string sql)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }
}
