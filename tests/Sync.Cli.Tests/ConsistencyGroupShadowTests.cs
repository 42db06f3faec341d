using Npgsql;
using Sync.Testing.Changes;

namespace Sync.Cli.Tests;

/// <summary>
/// <c>sync backfill --shadow</c> of a consistency group: every member's shadow table is built from the
/// group's history applying whole transactions, and all the shadows are swapped in with one sink
/// transaction. The live tables first hold one history of bank transfers and orders
/// (<see cref="BankTransfers"/>, which cites the shapes), the changelog is then replaced by another, and
/// a reader polls the sink during the backfill and the swap with one statement that relates the tables
/// to each other: every order has all its lines, every balance is its opening balance plus its ledger
/// entries. Tables of the two histories side by side break both, so the reader sees the old complete
/// set of tables or the new one, never a mix (checked on the replaced tables kept with --keep-old).
/// </summary>
public sealed class ConsistencyGroupShadowTests : WorkspaceTests
{
    private readonly string _schema = $"gs_{Guid.NewGuid():N}"[..18];

    private readonly BankTransfers _before = new(accounts: 20, transactions: 1500, seed: 41);

    private readonly BankTransfers _after = new(accounts: 20, transactions: 2500, seed: 42);

    /// <summary>0 when the tables read in one statement belong to one history; more when they do not.</summary>
    private static string WholeHistory(string orders = "orders", string accounts = "accounts") =>
        $"SELECT (SELECT count(*) FROM {orders} o WHERE o.line_count <> (SELECT count(*) FROM order_lines l WHERE l.order_id = o.id)) * 1000000 "
        + $"+ (SELECT count(*) FROM {accounts} a WHERE a.balance <> {BankTransfers.InitialBalance} + coalesce((SELECT sum(e.amount) FROM ledger_entries e WHERE e.account_id = a.id), 0))";

    [Fact]
    public async Task Postgres_readers_see_the_old_tables_or_the_new_ones_and_the_checkpoints_move_with_them()
    {
        var config = PostgresConfig();
        var first = await Workspace.Sync("run", "--config", config);
        Assert.True(first.ExitCode == 0, first.ToString());
        Assert.Equal(Expected(_before), await PostgresEndStateAsync("accounts", "orders"));
        var checkpointsBefore = await PostgresCheckpointsAsync();

        Workspace.Write("data/bank.jsonl", _after.Changelog(seed: 6));
        using var done = new CancellationTokenSource();
        var poller = ConsistencyGroupTests.PollPostgresAsync(TestServers.Postgres + $";Search Path={_schema}", WholeHistory(), done.Token);
        var result = await Workspace.Sync("backfill", "--config", config, "--materializer", "orders", "--shadow", "--keep-old", "--no-progress");
        await done.CancelAsync();
        var (checks, violations) = await poller;

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Empty(violations);
        Assert.True(checks > 3, $"the reader checked only {checks} times");
        Assert.Equal(Expected(_after), await PostgresEndStateAsync("accounts", "orders"));
        Assert.Contains($"orders: the shadow is live as \"{_schema}\".\"orders\"", result.Output, StringComparison.Ordinal);
        Assert.Contains($"shadows swapped in as \"{_schema}\".\"accounts\", \"{_schema}\".\"ledger_entries\", \"{_schema}\".\"orders\", \"{_schema}\".\"order_lines\"", result.Error, StringComparison.Ordinal);

        // The members' checkpoints and the group's own moved to the backfill's end; no shadow's is left.
        var checkpointsAfter = await PostgresCheckpointsAsync();
        Assert.Equal(
            ["accounts", "consistency.bank", "ledger_entries", "order_lines", "orders"],
            checkpointsAfter.Select(c => c.Split(' ')[0]).Distinct().Order(StringComparer.Ordinal));
        Assert.NotEqual(checkpointsBefore, checkpointsAfter);

        // The reader's check can fail: the replaced orders beside the new lines, the replaced accounts
        // beside the new ledger, are caught.
        Assert.NotEqual(0L, await PostgresScalarAsync(WholeHistory(orders: "orders__old")) / 1000000);
        Assert.NotEqual(0L, await PostgresScalarAsync(WholeHistory(accounts: "accounts__old")) % 1000000);

        // A run after the swap resumes from the moved checkpoints: nothing is read again.
        var run = await Workspace.Sync("run", "--config", config);
        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Equal(checkpointsAfter, await PostgresCheckpointsAsync());
        Assert.Equal(Expected(_after), await PostgresEndStateAsync("accounts", "orders"));
    }

    [Fact]
    public async Task Postgres_a_shadow_backfill_killed_before_its_end_leaves_every_live_table_untouched()
    {
        var config = PostgresConfig();
        var first = await Workspace.Sync("run", "--config", config);
        Assert.True(first.ExitCode == 0, first.ToString());
        var checkpointsBefore = await PostgresCheckpointsAsync();

        var longer = new BankTransfers(accounts: 20, transactions: 6000, seed: 43);
        Workspace.Write("data/bank.jsonl", longer.Changelog(seed: 7));
        using (var process = Testing.Process.SyncProcess.Start(Workspace.Directory, "backfill", "--config", config, "--materializer", "accounts", "--shadow", "--no-progress"))
        {
            // Killed once the shadows hold transactions of the new history.
            while (!process.HasExited && await ShadowRowsAsync() < 100)
            {
                await Task.Delay(10);
            }

            Assert.False(process.HasExited, "the backfill ended before it could be killed; the history is too short for this machine");
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }

        Assert.Equal(Expected(_before), await PostgresEndStateAsync("accounts", "orders"));
        Assert.Equal(checkpointsBefore, (await PostgresCheckpointsAsync()).Where(c => !c.Split(' ')[0].EndsWith("__shadow", StringComparison.Ordinal)));
        Assert.Equal(0L, await PostgresScalarAsync(WholeHistory()));

        // A rerun starts the shadows again and completes them.
        var rerun = await Workspace.Sync("backfill", "--config", config, "--materializer", "accounts", "--shadow", "--no-progress");
        Assert.True(rerun.ExitCode == 0, rerun.ToString());
        Assert.Equal(Expected(longer), await PostgresEndStateAsync("accounts", "orders"));
        Assert.Equal(0L, await PostgresScalarAsync($"SELECT count(*) FROM information_schema.tables WHERE table_schema = '{_schema}' AND table_name LIKE '%\\_\\_shadow'"));
    }

    [Fact]
    public async Task Sqlite_readers_see_the_old_tables_or_the_new_ones()
    {
        Workspace.Write("data/bank.jsonl", _before.Changelog(seed: 5));
        var config = Workspace.WriteFileToSqliteConfig("data/bank.jsonl", "bank.db", BankTransfers.Materializers("    batchSize: 50") + BankTransfers.GroupConfig);
        var database = Workspace.File("bank.db");
        var first = await Workspace.Sync("run", "--config", config);
        Assert.True(first.ExitCode == 0, first.ToString());

        Workspace.Write("data/bank.jsonl", _after.Changelog(seed: 6));
        using var done = new CancellationTokenSource();
        var poller = ConsistencyGroupTests.PollSqliteAsync(database, WholeHistory(), done.Token);
        var result = await Workspace.Sync("backfill", "--config", config, "--materializer", "ledger_entries", "--shadow", "--keep-old", "--no-progress");
        await done.CancelAsync();
        var (checks, violations) = await poller;

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Empty(violations);
        Assert.True(checks > 3, $"the reader checked only {checks} times");
        Assert.Equal(Enumerable.Range(1, _after.Accounts).Select(id => $"id={id}|balance={_after.Balances[id]}"), SqliteTables.Rows(database, "accounts"));
        Assert.Equal(_after.OrderLines, SqliteTables.Count(database, "SELECT count(*) FROM order_lines"));
        Assert.NotEqual(0L, SqliteTables.Count(database, WholeHistory(orders: "orders__old")) / 1000000);
        Assert.Equal(0L, SqliteTables.Count(database, "SELECT count(*) FROM _sync_checkpoints WHERE materializer LIKE '%\\_\\_shadow' ESCAPE '\\'"));
    }

    private string PostgresConfig()
    {
        Workspace.Write("data/bank.jsonl", _before.Changelog(seed: 5));
        return ConsistencyGroupTests.WritePostgresConfig(Workspace, _schema, BankTransfers.Materializers("    batchSize: 50") + BankTransfers.GroupConfig);
    }

    private static (string Balances, long Orders, long Lines, long Entries) Expected(BankTransfers bank) =>
        (string.Join(",", Enumerable.Range(1, bank.Accounts).Select(id => $"{id}={bank.Balances[id]}")), bank.Orders, bank.OrderLines, bank.LedgerEntries);

    private async Task<(string Balances, long Orders, long Lines, long Entries)> PostgresEndStateAsync(string accounts, string orders)
    {
        await using var connection = await OpenAsync();
        await using var command = new NpgsqlCommand(
            $"SELECT (SELECT string_agg(id || '=' || balance, ',' ORDER BY id) FROM {accounts}), (SELECT count(*) FROM {orders}), (SELECT count(*) FROM order_lines), (SELECT count(*) FROM ledger_entries)",
            connection);
        await using var reader = await command.ExecuteReaderAsync();
        await reader.ReadAsync();
        return (reader.GetString(0), reader.GetInt64(1), reader.GetInt64(2), reader.GetInt64(3));
    }

    /// <summary>Every checkpoint row as "materializer stream position", sorted.</summary>
    private async Task<List<string>> PostgresCheckpointsAsync()
    {
        await using var connection = await OpenAsync();
        await using var command = new NpgsqlCommand($"SELECT materializer || ' ' || stream || ' ' || position FROM {_schema}_state.checkpoints ORDER BY 1", connection);
        await using var reader = await command.ExecuteReaderAsync();
        var rows = new List<string>();
        while (await reader.ReadAsync())
        {
            rows.Add(reader.GetString(0));
        }

        return rows;
    }

    private async Task<long> ShadowRowsAsync()
    {
        try
        {
            return await PostgresScalarAsync("SELECT count(*) FROM ledger_entries__shadow");
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UndefinedTable)
        {
            return 0;
        }
    }

    private async Task<long> PostgresScalarAsync(string sql)
    {
        await using var connection = await OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        return Convert.ToInt64(await command.ExecuteScalarAsync(), CultureInfo.InvariantCulture);
    }

    private async Task<NpgsqlConnection> OpenAsync()
    {
        var connection = new NpgsqlConnection(TestServers.Postgres + $";Search Path={_schema}");
        await connection.OpenAsync();
        return connection;
    }
}
