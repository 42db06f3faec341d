namespace Sync.Cli.Tests;

/// <summary>The README's first command, run as a real process on a copy of examples/.</summary>
public sealed class QuickstartTests : WorkspaceTests
{
    private static readonly string[] ExpectedCustomers =
    [
        "id=1|name=Ada Lovelace|email=ada.lovelace@example.org|country=GB|created_at=1704448800000000|loyalty_tier=null",
        "id=2|name=Grace Brewster Hopper|email=grace@example.com|country=US|created_at=1704540600000000|loyalty_tier=null",
        "id=4|name=Edsger Dijkstra|email=edsger@example.com|country=US|created_at=1748854801000000|loyalty_tier=null",
        "id=5|name=Barbara Liskov|email=barbara@example.com|country=US|created_at=1748854807000000|loyalty_tier=gold",
    ];

    private static readonly string[] ExpectedOrders =
    [
        "id=1001|customer_id=1|total=120.50|currency=EUR|status=shipped|placed_at=2025-06-02T09:00:10.123456|ship_date=2025-06-04|order_uuid=6f1e7c2a-3b4d-4e5f-8a9b-0c1d2e3f4a5b|notes={\"gift\": true}",
        "id=1003|customer_id=4|total=-20.00|currency=EUR|status=refunded|placed_at=2025-06-02T09:00:13.5|ship_date=null|order_uuid=8b3c9d4e-5f6a-4b7c-8d1e-2f3a4b5c6d7e|notes=null",
        "id=1004|customer_id=5|total=1969.07|currency=USD|status=placed|placed_at=1969-07-20T20:17:40|ship_date=null|order_uuid=9c4d0e5f-6a7b-4c8d-9e2f-3a4b5c6d7e8f|notes={\"note\": \"ordered from the moon\"}",
    ];


    [Fact]
    public async Task The_quickstart_leaves_exactly_the_expected_rows()
    {
        var result = await Workspace.Sync("run", "--config", Workspace.Quickstart);

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal(ExpectedCustomers, SqliteTables.Rows(Workspace.QuickstartDb, "customers"));
        Assert.Equal(ExpectedOrders, SqliteTables.Rows(Workspace.QuickstartDb, "orders"));
        Assert.Contains("customers", result.Output, StringComparison.Ordinal);
        // Only the lifecycle lines of the default log level: no warning, no error.
        Assert.All(result.Error.Split('\n', StringSplitOptions.RemoveEmptyEntries), line => Assert.Matches(@"^\d\d:\d\d:\d\d\.\d{3} info: ", line));
        Assert.False(File.Exists(Path.Combine(Workspace.Examples, "customers.deadletter.jsonl")));
    }

    [Fact]
    public async Task Running_the_quickstart_twice_changes_nothing()
    {
        var first = await Workspace.Sync("run", "--config", Workspace.Quickstart);
        var second = await Workspace.Sync("run", "--config", Workspace.Quickstart);

        Assert.True(first.ExitCode == 0, first.ToString());
        Assert.True(second.ExitCode == 0, second.ToString());
        Assert.Equal(ExpectedCustomers, SqliteTables.Rows(Workspace.QuickstartDb, "customers"));
        Assert.Equal(ExpectedOrders, SqliteTables.Rows(Workspace.QuickstartDb, "orders"));
        // The second run resumes after the stored cursor: it reads nothing again.
        Assert.Matches(@"customers\s+local/customers\s+0\s+0\s+0\s+0", second.Output);
    }

    [Fact]
    public async Task A_backfill_replays_from_the_start_and_leaves_the_same_rows()
    {
        Assert.Equal(0, (await Workspace.Sync("run", "--config", Workspace.Quickstart)).ExitCode);

        var backfill = await Workspace.Sync("backfill", "--config", Workspace.Quickstart, "--materializer", "orders");

        Assert.True(backfill.ExitCode == 0, backfill.ToString());
        Assert.Equal(ExpectedOrders, SqliteTables.Rows(Workspace.QuickstartDb, "orders"));
        // Every replayed change but the newest of each key is older than the state held: stale.
        Assert.Matches(@"orders\s+local/orders\s+8\s+", backfill.Output);
    }

    [Fact]
    public async Task Run_can_select_one_materializer()
    {
        var result = await Workspace.Sync("run", "--config", Workspace.Quickstart, "--materializer", "orders");

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal(ExpectedOrders, SqliteTables.Rows(Workspace.QuickstartDb, "orders"));
        Assert.Equal(0, SqliteTables.Count(Workspace.QuickstartDb, "SELECT count(*) FROM sqlite_master WHERE name = 'customers'"));
    }

    [Fact]
    public async Task An_unknown_materializer_is_a_usage_error()
    {
        var result = await Workspace.Sync("run", "--config", Workspace.Quickstart, "--materializer", "invoices");

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("--materializer invoices does not name a materializer (known: customers, orders)", result.Error, StringComparison.Ordinal);
    }
}
