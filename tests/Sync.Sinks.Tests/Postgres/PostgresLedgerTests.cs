using System.Diagnostics;
using Sync.Engine.Ledger;
using Sync.Testing.Ledger;

namespace Sync.Sinks.Tests.Postgres;

/// <summary>The ledger contract, run against tables in the test server: each test owns its schema.</summary>
public sealed class PostgresLedgerContractTests : SuppressionLedgerContract
{
    private readonly string _schema = $"ledger_{Guid.NewGuid():N}"[..20];

    protected override Task<ISuppressionLedger> OpenLedgerAsync() =>
        Task.FromResult<ISuppressionLedger>(new PostgresSuppressionLedger("ledger", Options(TestServers.Postgres), _schema));

    internal static PostgresSinkOptions Options(string connectionString) => new()
    {
        ConnectionString = connectionString,
        Password = "not-a-real-password",
        Tls = PostgresTlsMode.Disable,
    };

    protected override async Task<string> StoredTextAsync() =>
        string.Join('\n', await PostgresTestDb.RowsAsync($"SELECT t::text FROM {PostgresTestDb.Q(_schema)}.erasure_requests t"));

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        await PostgresTestDb.ScalarAsync($"DROP SCHEMA IF EXISTS {PostgresTestDb.Q(_schema)} CASCADE");
    }
}

/// <summary>What a fleet relies on: concurrent first use, changes pushed to running views, and
/// no suppressed set served while the server is out of reach.</summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class PostgresLedgerTests : IAsyncLifetime
{
    private static readonly DateTimeOffset Now = new(2026, 11, 25, 10, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan SafetyTimeout = TimeSpan.FromSeconds(60);

    private readonly string _schema = $"ledger_{Guid.NewGuid():N}"[..20];

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await PostgresTestDb.ScalarAsync($"DROP SCHEMA IF EXISTS {PostgresTestDb.Q(_schema)} CASCADE");

    private PostgresSuppressionLedger Ledger(string? connectionString = null) => new("fleet", PostgresLedgerContractTests.Options(connectionString ?? TestServers.Postgres), _schema);

    private static ErasureRequest Request(string id, string hash) => new(id, "customer", hash, Now, "dpo", RequestStatus.InProgress, null);

    [Fact]
    public async Task Nothing_connects_before_first_use_and_the_location_names_sink_and_schema_but_no_password()
    {
        await using var ledger = Ledger("Host=127.0.0.1;Port=1;Username=postgres;Database=postgres");
        await using var view = ledger.OpenView(TimeSpan.FromSeconds(5), TimeProvider.System);

        Assert.Equal($"postgres sink fleet, schema {_schema}", ledger.Location);
        Assert.DoesNotContain("not-a-real-password", ledger.Location, StringComparison.Ordinal);
        var unreachable = await Assert.ThrowsAsync<LedgerUnavailableException>(() => ledger.FindAsync("customer", "h", CancellationToken.None));
        Assert.Contains(ledger.Location, unreachable.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("not-a-real-password", unreachable.ToString(), StringComparison.Ordinal);
        await Assert.ThrowsAsync<LedgerUnavailableException>(async () => await view.CurrentAsync(CancellationToken.None));
    }

    [Fact]
    public async Task Processes_starting_together_on_an_empty_database_create_the_schema_once_and_record_one_request_per_key()
    {
        var ledgers = Enumerable.Range(0, 6).Select(_ => Ledger()).ToList();
        var views = ledgers.Take(2).Select(l => l.OpenView(TimeSpan.FromSeconds(5), TimeProvider.System)).ToList();
        try
        {
            using var start = new Barrier(ledgers.Count + views.Count);
            var records = ledgers.Select((ledger, i) => Task.Run(async () =>
            {
                start.SignalAndWait();
                return await ledger.RecordAsync([Request($"r{i}", "same-key"), Request($"own{i}", $"key{i}")], CancellationToken.None);
            })).ToList();
            var reads = views.Select(view => Task.Run(async () =>
            {
                start.SignalAndWait();
                return await view.CurrentAsync(CancellationToken.None);
            })).ToList();

            var recorded = await Task.WhenAll(records);
            await Task.WhenAll(reads);

            var winner = Assert.Single(recorded.Select(r => r[0].RequestId).Distinct());
            Assert.Equal(["1"], await PostgresTestDb.RowsAsync($"SELECT count(*) FROM {PostgresTestDb.Q(_schema)}.erasure_requests WHERE key_hash = 'same-key'"));
            Assert.Equal(winner, (await ledgers[0].FindAsync("customer", "same-key", CancellationToken.None))!.RequestId);
            Assert.Equal(7, await ledgers[1].ListAsync(CancellationToken.None).CountAsync());
        }
        finally
        {
            foreach (var view in views)
            {
                await view.DisposeAsync();
            }

            foreach (var ledger in ledgers)
            {
                await ledger.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task A_running_view_hears_of_a_new_and_a_revoked_request_at_once_without_waiting_for_its_refresh_interval()
    {
        var refresh = TimeSpan.FromMinutes(10);
        await using var eraser = Ledger();
        await using var runner = Ledger();
        await using var view = runner.OpenView(refresh, TimeProvider.System);
        Assert.Empty(await view.CurrentAsync(CancellationToken.None));
        var clock = Stopwatch.StartNew();

        await eraser.RecordAsync([Request("r1", "h1")], CancellationToken.None);
        await UntilAsync(view, s => s.Contains(("customer", "h1")));
        await eraser.RevokeAsync("r1", new Revocation(Now, "dpo", "mistyped"), CancellationToken.None);
        await UntilAsync(view, s => s.Count == 0);

        Assert.True(clock.Elapsed < refresh, $"took {clock.Elapsed}");
    }

    [Fact]
    public async Task A_view_whose_server_is_down_throws_unavailable_and_after_the_restart_serves_what_was_written_meanwhile()
    {
        await using var server = await PostgresServerProcess.StartAsync();
        await using var eraser = Ledger(server.ConnectionString);
        await using var runner = Ledger(server.ConnectionString);
        await using var view = runner.OpenView(TimeSpan.FromMinutes(10), TimeProvider.System);
        await eraser.RecordAsync([Request("r1", "h1")], CancellationToken.None);
        Assert.Equal([("customer", "h1")], await view.CurrentAsync(CancellationToken.None));

        await server.StopAsync();
        await UntilUnavailableAsync(view);
        await Assert.ThrowsAsync<LedgerUnavailableException>(() => eraser.RecordAsync([Request("r2", "h2")], CancellationToken.None));
        await server.StartAgainAsync();
        // Written while the view is still away: it must not serve a set without it once it is back.
        await eraser.RecordAsync([Request("r2", "h2")], CancellationToken.None);

        await UntilAsync(view, s => s.Contains(("customer", "h2")), throwsWhileAway: true);
        Assert.Equal(2, (await view.CurrentAsync(CancellationToken.None)).Count);
    }

    [Fact]
    public async Task A_view_whose_listening_connection_is_terminated_reconnects_and_serves_what_was_written_meanwhile()
    {
        await using var eraser = Ledger();
        await using var runner = Ledger();
        await using var view = runner.OpenView(TimeSpan.FromMinutes(10), TimeProvider.System);
        Assert.Empty(await view.CurrentAsync(CancellationToken.None));

        await PostgresTestDb.ScalarAsync("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'sync:fleet:ledger'");
        await eraser.RecordAsync([Request("r1", "h1")], CancellationToken.None);

        await UntilAsync(view, s => s.Contains(("customer", "h1")), throwsWhileAway: true);
    }

    /// <summary>Asks the view, as a materializer does before each batch, until it reports what is expected.</summary>
    private static async Task UntilAsync(ISuppressionView view, Func<IReadOnlySet<(string Subject, string KeyHash)>, bool> expected, bool throwsWhileAway = false)
    {
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                if (expected(await view.CurrentAsync(CancellationToken.None)))
                {
                    return;
                }
            }
            catch (LedgerUnavailableException) when (throwsWhileAway && deadline.Elapsed < SafetyTimeout)
            {
            }

            Assert.True(deadline.Elapsed < SafetyTimeout, "the view never reported the change");
            await Task.Delay(5);
        }
    }

    private static async Task UntilUnavailableAsync(ISuppressionView view)
    {
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                await view.CurrentAsync(CancellationToken.None);
            }
            catch (LedgerUnavailableException)
            {
                return;
            }

            Assert.True(deadline.Elapsed < SafetyTimeout, "the view went on serving its set with the server down");
            await Task.Delay(5);
        }
    }
}
