using Microsoft.Data.Sqlite;
using Npgsql;
using Sync.Testing.Changes;

namespace Sync.Cli.Tests;

/// <summary>
/// Consistency groups end to end: bank transfers and orders with lines (<see cref="BankTransfers"/>, the
/// shapes of Debezium's transaction metadata through Pulsar IO, cited there) read by `sync run` from a
/// changelog file into SQLite and PostgreSQL, while a reader polls the sink and checks, in one
/// statement each time, that the total balance never changes (once the accounts exist) and that no
/// order is visible without all of its lines.
/// </summary>
public sealed class ConsistencyGroupTests : WorkspaceTests
{
    [Fact]
    public async Task A_reader_of_sqlite_never_sees_half_a_transaction_and_the_end_state_is_exact()
    {
        var bank = new BankTransfers(accounts: 20, transactions: 3000, seed: 11);
        Workspace.Write("data/bank.jsonl", bank.Changelog(seed: 5));
        var config = Workspace.WriteFileToSqliteConfig("data/bank.jsonl", "bank.db", BankTransfers.Materializers("    batchSize: 50") + BankTransfers.GroupConfig);

        var (result, checks, violations) = await RunWhilePollingSqliteAsync(config, Workspace.File("bank.db"), bank);

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.True(checks > 3, $"the reader checked only {checks} times");
        Assert.Empty(violations);
        AssertEndState(Workspace.File("bank.db"), bank);
        Assert.DoesNotContain("consistency relaxed", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Without_the_group_the_same_reader_sees_half_transactions()
    {
        // The checker's own check: the tables are applied independently, so a reader catches them apart.
        var bank = new BankTransfers(accounts: 20, transactions: 3000, seed: 11);
        Workspace.Write("data/bank.jsonl", bank.Changelog(seed: 5));
        var config = Workspace.WriteFileToSqliteConfig("data/bank.jsonl", "bank.db", BankTransfers.Materializers("    batchSize: 50"));

        var (result, _, violations) = await RunWhilePollingSqliteAsync(config, Workspace.File("bank.db"), bank);

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.NotEmpty(violations);
        AssertEndState(Workspace.File("bank.db"), bank);
    }

    [Fact]
    public async Task A_reader_of_postgres_never_sees_half_a_transaction_and_the_end_state_is_exact()
    {
        var schema = $"bank_{Guid.NewGuid():N}"[..20];
        var bank = new BankTransfers(accounts: 20, transactions: 2000, seed: 12);
        Workspace.Write("data/bank.jsonl", bank.Changelog(seed: 6));
        var config = WritePostgresConfig(Workspace, schema, BankTransfers.Materializers("    batchSize: 50") + BankTransfers.GroupConfig);

        using var done = new CancellationTokenSource();
        var poller = PollPostgresAsync(TestServers.Postgres + $";Search Path={schema}", bank.Violations, done.Token);

        var result = await Workspace.Sync("run", "--config", config);
        await done.CancelAsync();
        var (checks, violations) = await poller;

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Empty(violations);
        Assert.True(checks > 3, $"the reader checked only {checks} times");
        await using var check = new NpgsqlConnection(TestServers.Postgres + $";Search Path={schema}");
        await check.OpenAsync();
        await using var sum = new NpgsqlCommand("SELECT sum(balance)::bigint, (SELECT count(*) FROM order_lines), (SELECT count(*) FROM ledger_entries) FROM accounts", check);
        await using var reader = await sum.ExecuteReaderAsync();
        await reader.ReadAsync();
        Assert.Equal((bank.TotalBalance, (long)bank.OrderLines, (long)bank.LedgerEntries), (reader.GetInt64(0), reader.GetInt64(1), reader.GetInt64(2)));
    }

    [Fact]
    public async Task Killed_mid_transaction_several_times_the_run_ends_exact_and_readers_never_saw_half_a_transaction()
    {
        var bank = new BankTransfers(accounts: 20, transactions: 6000, seed: 13);
        Workspace.Write("data/bank.jsonl", bank.Changelog(seed: 7));
        var config = Workspace.WriteFileToSqliteConfig("data/bank.jsonl", "bank.db", BankTransfers.Materializers("    batchSize: 20") + BankTransfers.GroupConfig);
        var database = Workspace.File("bank.db");
        var random = new Random(3);
        var violations = new List<long>();
        for (var kill = 0; kill < 3; kill++)
        {
            using var process = Testing.Process.SyncProcess.Start(Workspace.Directory, "run", "--config", config);
            var waitFor = random.Next(300, 1200);
            var started = DateTime.UtcNow;
            while (!process.HasExited && (DateTime.UtcNow - started).TotalMilliseconds < waitFor)
            {
                violations.AddRange(Check(database, bank));
            }

            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }

            await process.WaitForExitAsync();
            violations.AddRange(Check(database, bank));
        }

        var (result, _, during) = await RunWhilePollingSqliteAsync(config, database, bank);

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Empty(violations.Concat(during));
        AssertEndState(database, bank);
    }

    [Fact]
    public async Task A_transaction_over_the_limit_is_applied_in_parts_with_a_log_line_and_the_end_state_stays_exact()
    {
        var bank = new BankTransfers(accounts: 50, transactions: 30, seed: 14);

        // The accounts' creation (50 changes) is larger than the limit.
        await AssertRunRelaxesConsistencyAsync(bank, changelogSeed: 8, "\n    maxTransactionChanges: 10", "consistency relaxed for transaction 701", "(oversized)");
    }

    [Fact]
    public async Task A_transaction_whose_end_never_comes_is_applied_once_a_later_one_is_complete()
    {
        var bank = new BankTransfers(accounts: 10, transactions: 20, seed: 15);
        bank.DropEnd(5);

        await AssertRunRelaxesConsistencyAsync(bank, changelogSeed: 9, string.Empty, "consistency relaxed for transaction 705", "(missing-end)");
    }

    /// <summary>Runs the group over the bank's changelog into SQLite, the group's config ending in
    /// <paramref name="groupExtra"/>: the run succeeds, logs that it relaxed consistency for the
    /// transaction named in <paramref name="relaxed"/> for <paramref name="reason"/>, and ends in the
    /// bank's end state.</summary>
    private async Task AssertRunRelaxesConsistencyAsync(BankTransfers bank, int changelogSeed, string groupExtra, string relaxed, string reason)
    {
        Workspace.Write("data/bank.jsonl", bank.Changelog(changelogSeed));
        var config = Workspace.WriteFileToSqliteConfig("data/bank.jsonl", "bank.db", BankTransfers.Materializers() + BankTransfers.GroupConfig + groupExtra);

        var result = await Workspace.Sync("run", "--config", config);

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains(relaxed, result.Error, StringComparison.Ordinal);
        Assert.Contains(reason, result.Error, StringComparison.Ordinal);
        AssertEndState(Workspace.File("bank.db"), bank);
    }

    [Fact]
    public async Task A_change_its_member_cannot_decode_goes_to_the_dead_letters_and_the_rest_is_applied()
    {
        // Members decode on a task of their own, ahead of the thread that assembles transactions: a
        // message a member cannot decode must still reach that member's dead letters, in its place.
        var bank = new BankTransfers(accounts: 10, transactions: 40, seed: 16);
        var lines = bank.Changelog(seed: 10).Split('\n', StringSplitOptions.RemoveEmptyEntries).ToList();
        var key = Convert.ToBase64String("{\"id\":999}"u8.ToArray());
        lines.Insert(lines.Count / 2, "{\"topic\":\"" + BankTransfers.Prefix + "public.orders\",\"key\":\"" + key + "\",\"keyBase64\":true,\"value\":{\"payload\":{\"op\":\"?\"}}}");
        Workspace.Write("data/bank.jsonl", string.Join('\n', lines) + "\n");
        var config = Workspace.WriteFileToSqliteConfig("data/bank.jsonl", "bank.db", BankTransfers.Materializers() + BankTransfers.GroupConfig);

        var result = await Workspace.Sync("run", "--config", config);

        // Exit code 3: the run finished with dead letters (docs/operations.md, "What a run says about its dead letters, and exit codes").
        Assert.True(result.ExitCode == 3, result.ToString());
        Assert.Contains("dead letters of orders: 1 in this run", result.Output, StringComparison.Ordinal);
        AssertEndState(Workspace.File("bank.db"), bank);
        var letters = File.ReadAllLines(Workspace.File("orders.deadletter.jsonl"));
        Assert.Single(letters);
        Assert.Contains("\"decode\"", letters[0], StringComparison.Ordinal);
        Assert.DoesNotContain("consistency relaxed", result.Error, StringComparison.Ordinal);
    }

    private async Task<(Testing.Process.ProcessResult Result, int Checks, List<long> Violations)> RunWhilePollingSqliteAsync(string config, string database, BankTransfers bank)
    {
        var violations = new List<long>();
        var checks = 0;
        using var done = new CancellationTokenSource();
        var poller = Task.Run(() =>
        {
            while (!done.IsCancellationRequested)
            {
                violations.AddRange(Check(database, bank));
                checks++;
            }
        });
        var result = await Workspace.Sync("run", "--config", config);
        await done.CancelAsync();
        await poller;
        return (result, checks, violations);
    }

    private static IEnumerable<long> Check(string database, BankTransfers bank)
    {
        if (!File.Exists(database))
        {
            return [];
        }

        try
        {
            var found = SqliteTables.Count(database, bank.Violations);
            return found == 0 ? [] : [found];
        }
        catch (SqliteException)
        {
            // Not every table exists yet, or the file is being created.
            return [];
        }
    }

    private static void AssertEndState(string database, BankTransfers bank)
    {
        Assert.Equal(
            Enumerable.Range(1, bank.Accounts).Select(id => $"id={id}|balance={bank.Balances[id]}"),
            SqliteTables.Rows(database, "accounts"));
        Assert.Equal(bank.LedgerEntries, SqliteTables.Count(database, "SELECT count(*) FROM ledger_entries"));
        Assert.Equal(bank.Orders, SqliteTables.Count(database, "SELECT count(*) FROM orders"));
        Assert.Equal(bank.OrderLines, SqliteTables.Count(database, "SELECT count(*) FROM order_lines"));
    }

    /// <summary>Writes sync.yaml: the changelog data/bank.jsonl into a PostgreSQL sink <c>local</c> whose
    /// tables are in <paramref name="schema"/>, then <paramref name="rest"/>.</summary>
    internal static string WritePostgresConfig(Workspace workspace, string schema, string rest) =>
        workspace.Write("sync.yaml", $$"""
            sources:
              changelog: { type: file, path: data/bank.jsonl }
            sinks:
              local: { type: postgres, connectionString: '{{TestServers.Postgres}}', tls: disable, schema: {{schema}}, stateSchema: {{schema}}_state }

            """ + rest);

    /// <summary>A reader of a SQLite sink: runs <paramref name="violations"/> (a count in one statement)
    /// again and again until <paramref name="stop"/>, passing over the moments the database is busy
    /// with a write; returns how often it checked and the counts that were not 0.</summary>
    internal static Task<(int Checks, List<long> Violations)> PollSqliteAsync(string database, string violations, CancellationToken stop) => Task.Run(() =>
    {
        var found = new List<long>();
        var checks = 0;
        while (!stop.IsCancellationRequested)
        {
            try
            {
                var count = SqliteTables.Count(database, violations);
                checks++;
                if (count != 0)
                {
                    found.Add(count);
                }
            }
            catch (SqliteException)
            {
                // The database is busy with the writer's commit.
            }
        }

        return (checks, found);
    });

    /// <summary>A reader of a PostgreSQL sink: runs <paramref name="violations"/> (a count in one
    /// statement, such as <see cref="BankTransfers.Violations"/>) again and again until
    /// <paramref name="stop"/>; returns how often it checked and the counts that were not 0.</summary>
    internal static async Task<(int Checks, List<long> Violations)> PollPostgresAsync(string connectionString, string violations, CancellationToken stop)
    {
        await Task.Yield();
        var found = new List<long>();
        var checks = 0;
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync(CancellationToken.None);
        while (!stop.IsCancellationRequested)
        {
            try
            {
                await using var command = new NpgsqlCommand(violations, connection);
                var count = Convert.ToInt64(await command.ExecuteScalarAsync(CancellationToken.None), CultureInfo.InvariantCulture);
                checks++;
                if (count != 0)
                {
                    found.Add(count);
                }
            }
            catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UndefinedTable)
            {
                // Not every table exists yet.
            }
        }

        return (checks, found);
    }
}
