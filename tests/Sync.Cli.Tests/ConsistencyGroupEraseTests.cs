using System.Text.Json;
using Npgsql;
using Sync.Testing.Changes;

namespace Sync.Cli.Tests;

/// <summary>
/// <c>sync erase</c> of a subject bound to two members of a consistency group (an order: its row in
/// <c>orders</c> and its rows in <c>order_lines</c>): the subject leaves both tables in one sink
/// transaction, so that a reader polling the sink never sees an order without all of its lines nor a
/// line without its order; without the group the same reader does, since each table is erased in its
/// own transaction (lines first: the subject lists them first). On PostgreSQL the erasure is held
/// half-way by a lock on <c>orders</c>, so both outcomes are seen at the same point. Bank transfers as in
/// <see cref="ConsistencyGroupTests"/> (<see cref="BankTransfers"/> cites the shapes).
/// </summary>
public sealed class ConsistencyGroupEraseTests : WorkspaceTests
{
    private const string Subjects = """

        subjects:
          order:
            order_lines: { field: order_id }
            orders: { key: id }
        erasure:
          secret: 'group-erase-secret-0123456789'
        """;

    /// <summary>In one statement, so one snapshot: orders whose lines are not all visible plus lines
    /// whose order is not visible.</summary>
    private const string HalfErased =
        "SELECT (SELECT count(*) FROM orders o LEFT JOIN (SELECT order_id, count(*) AS n FROM order_lines GROUP BY order_id) l ON l.order_id = o.id WHERE o.line_count <> coalesce(l.n, 0)) "
        + "+ (SELECT count(*) FROM order_lines l WHERE NOT EXISTS (SELECT 1 FROM orders o WHERE o.id = l.order_id))";

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Erasing_orders_from_postgres_a_reader_sees_half_an_order_only_without_the_group(bool grouped)
    {
        var schema = $"ge_{Guid.NewGuid():N}"[..18];
        var bank = new BankTransfers(accounts: 10, transactions: 2000, seed: 41);
        Workspace.Write("data/bank.jsonl", bank.Changelog(seed: 7));
        var config = ConsistencyGroupTests.WritePostgresConfig(Workspace, schema, BankTransfers.Materializers() + (grouped ? BankTransfers.GroupConfig : string.Empty) + Subjects);
        var run = await Workspace.Sync("run", "--config", config);
        Assert.True(run.ExitCode == 0, run.ToString());

        using var done = new CancellationTokenSource();
        var connectionString = TestServers.Postgres + $";Search Path={schema}";
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        // The erasure stopped half-way, not by chance of timing: a SHARE lock on orders lets readers
        // in and keeps the DELETE on orders waiting (https://www.postgresql.org/docs/current/explicit-locking.html:
        // SHARE conflicts with the ROW EXCLUSIVE lock that DELETE takes), after order_lines was erased.
        var held = await connection.BeginTransactionAsync();
        await using (var lockOrders = new NpgsqlCommand("LOCK TABLE orders IN SHARE MODE", connection, held))
        {
            await lockOrders.ExecuteNonQueryAsync();
        }

        var poller = ConsistencyGroupTests.PollPostgresAsync(connectionString, HalfErased, done.Token);
        var erasing = EraseEveryOrderAsync(config, bank);
        await Poll.UntilAsync(async () =>
        {
            Assert.False(erasing.IsCompleted, "the erasure ended while orders was locked");
            return await PostgresQueries.ScalarAsync($"SELECT count(*) FROM pg_locks WHERE relation = '{schema}.orders'::regclass AND NOT granted", connectionString) > 0;
        });
        var halfWay = await PostgresQueries.ScalarAsync(HalfErased, connectionString);
        await held.CommitAsync();
        var erase = await erasing;
        await done.CancelAsync();
        var (checks, violations) = await poller;

        Assert.True(checks > 3, $"the reader checked only {checks} times");
        if (grouped)
        {
            Assert.Equal(0, halfWay);
            Assert.Empty(violations);
        }
        else
        {
            Assert.True(halfWay > 0, "without the group the lines were erased and committed before their orders");
        }

        await using var left = new NpgsqlCommand("SELECT (SELECT count(*) FROM orders) + (SELECT count(*) FROM order_lines), (SELECT sum(balance)::bigint FROM accounts)", connection);
        await using var reader = await left.ExecuteReaderAsync();
        await reader.ReadAsync();
        Assert.Equal((0L, bank.TotalBalance), (reader.GetInt64(0), reader.GetInt64(1)));
        AssertReport(erase, bank);
    }

    [Fact]
    public async Task Erasing_orders_from_sqlite_in_a_group_a_reader_never_sees_half_an_order()
    {
        var bank = new BankTransfers(accounts: 10, transactions: 2000, seed: 42);
        Workspace.Write("data/bank.jsonl", bank.Changelog(seed: 8));
        var database = Workspace.File("bank.db");
        var config = Workspace.WriteFileToSqliteConfig("data/bank.jsonl", "bank.db", BankTransfers.Materializers() + BankTransfers.GroupConfig + Subjects);
        var run = await Workspace.Sync("run", "--config", config);
        Assert.True(run.ExitCode == 0, run.ToString());

        using var done = new CancellationTokenSource();
        var poller = ConsistencyGroupTests.PollSqliteAsync(database, HalfErased, done.Token);
        var erase = await EraseEveryOrderAsync(config, bank);
        await done.CancelAsync();
        var (checks, violations) = await poller;

        Assert.True(checks > 3, $"the reader checked only {checks} times");
        Assert.Empty(violations);
        Assert.Equal(0, SqliteTables.Count(database, "SELECT (SELECT count(*) FROM orders) + (SELECT count(*) FROM order_lines)"));
        Assert.Equal(bank.TotalBalance, SqliteTables.Count(database, "SELECT sum(balance) FROM accounts"));
        AssertReport(erase, bank);
    }

    /// <summary>Erases every order (more than one chunk of keys: 500), with a report.</summary>
    private async Task<JsonElement> EraseEveryOrderAsync(string config, BankTransfers bank)
    {
        Assert.True(bank.Orders > 500, $"only {bank.Orders} orders: one chunk of keys");
        var keys = Workspace.Write("orders.txt", string.Join("\n", Enumerable.Range(1, bank.Orders)) + "\n");
        var report = Workspace.File("erasure.json");
        var erase = await Workspace.Sync("erase", "--config", config, "--subject", "order", "--keys-from", keys, "--report", report);
        Assert.True(erase.ExitCode == 0, erase.ToString());
        return JsonDocument.Parse(await File.ReadAllTextAsync(report)).RootElement;
    }

    /// <summary>The report lists each table's deletions on its own row.</summary>
    private static void AssertReport(JsonElement report, BankTransfers bank)
    {
        Assert.Equal("complete", report.GetProperty("verdict").GetString());
        var sinks = report.GetProperty("sinks").EnumerateArray().ToDictionary(s => s.GetProperty("materializer").GetString()!);
        Assert.Equal(new[] { "order_lines", "orders" }, sinks.Keys.Order(StringComparer.Ordinal));
        Assert.Equal(bank.Orders, sinks["orders"].GetProperty("deleted").GetInt64());
        Assert.Equal(bank.OrderLines, sinks["order_lines"].GetProperty("deleted").GetInt64());
        Assert.All(sinks.Values, s => Assert.Equal(0, s.GetProperty("remaining").GetInt64()));
    }
}
