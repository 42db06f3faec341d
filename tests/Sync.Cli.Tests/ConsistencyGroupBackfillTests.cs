using Npgsql;
using Sync.Testing.Changes;

namespace Sync.Cli.Tests;

/// <summary>
/// <c>sync backfill</c> of a consistency group's member against PostgreSQL: the whole group is replayed
/// from the earliest message (every member's topics and the transaction topic), applying whole
/// transactions, so that a reader polling the sink never sees half of one; <c>--from</c> is refused
/// with a message naming the group (<c>--shadow</c>: <see cref="ConsistencyGroupShadowTests"/>). Bank transfers as in
/// <see cref="ConsistencyGroupTests"/> (<see cref="BankTransfers"/> cites the shapes).
/// </summary>
public sealed class ConsistencyGroupBackfillTests : WorkspaceTests
{
    private readonly string _schema = $"bf_{Guid.NewGuid():N}"[..18];

    private string Config(BankTransfers bank)
    {
        Workspace.Write("data/bank.jsonl", bank.Changelog(seed: 4));
        return Workspace.Write("sync.yaml", $$"""
            sources:
              changelog: { type: file, path: data/bank.jsonl }
            sinks:
              local: { type: postgres, connectionString: '{{TestServers.Postgres}}', tls: disable, schema: {{_schema}}, stateSchema: {{_schema}}_state }

            """ + BankTransfers.Materializers("    batchSize: 50") + BankTransfers.GroupConfig);
    }

    [Fact]
    public async Task Backfill_of_one_member_replays_the_whole_group_and_a_reader_never_sees_half_a_transaction()
    {
        var bank = new BankTransfers(accounts: 20, transactions: 2000, seed: 31);
        var config = Config(bank);
        using var done = new CancellationTokenSource();
        var poller = ConsistencyGroupTests.PollPostgresAsync(TestServers.Postgres + $";Search Path={_schema}", bank.Violations, done.Token);

        var result = await Workspace.Sync("backfill", "--config", config, "--materializer", "accounts", "--no-progress");
        await done.CancelAsync();
        var (checks, violations) = await poller;

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Empty(violations);
        Assert.True(checks > 3, $"the reader checked only {checks} times");
        Assert.Equal(
            (string.Join(",", Enumerable.Range(1, bank.Accounts).Select(id => $"{id}={bank.Balances[id]}")), (long)bank.Orders, (long)bank.OrderLines, (long)bank.LedgerEntries),
            await EndStateAsync());
    }

    [Fact]
    public async Task Backfill_of_a_member_from_a_position_is_refused_naming_the_group()
    {
        var config = Config(new BankTransfers(accounts: 5, transactions: 10, seed: 32));

        var result = await Workspace.Sync("backfill", "--config", config, "--materializer", "orders", "--no-progress", "--from", "0:3:-1");

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("orders is in consistency group bank", result.Error, StringComparison.Ordinal);
        Assert.Contains("a start position names one member's topics", result.Error, StringComparison.Ordinal);
        await using var connection = new NpgsqlConnection(TestServers.Postgres);
        await connection.OpenAsync();
        await using var tables = new NpgsqlCommand($"SELECT count(*) FROM information_schema.tables WHERE table_schema = '{_schema}'", connection);
        Assert.Equal(0L, (long)(await tables.ExecuteScalarAsync())!);
    }

    private async Task<(string Balances, long Orders, long Lines, long Entries)> EndStateAsync()
    {
        await using var connection = new NpgsqlConnection(TestServers.Postgres + $";Search Path={_schema}");
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(
            "SELECT (SELECT string_agg(id || '=' || balance, ',' ORDER BY id) FROM accounts), (SELECT count(*) FROM orders), (SELECT count(*) FROM order_lines), (SELECT count(*) FROM ledger_entries)",
            connection);
        await using var reader = await command.ExecuteReaderAsync();
        await reader.ReadAsync();
        return (reader.GetString(0), reader.GetInt64(1), reader.GetInt64(2), reader.GetInt64(3));
    }
}
