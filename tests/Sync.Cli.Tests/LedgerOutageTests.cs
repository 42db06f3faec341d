using System.Net;
using System.Net.Sockets;
using Sync.Pulsar;
using Sync.Sinks.Tests.Postgres;
using Sync.Testing.Pulsar;

namespace Sync.Cli.Tests;

/// <summary>A shared ledger out of reach under a real <c>sync run</c> process while changes of an
/// erased subject arrive: the batch is held (nothing of it applied, nothing acknowledged), /healthz
/// says degraded in stage <c>ledger</c>, and once the ledger is back every change applies but the
/// erased subject's. The ledger lives apart from the sink so that only the ledger goes away: a
/// PostgreSQL server of the test's own (stopped with <c>pg_ctl stop -m immediate</c>), or a topic on
/// a second fake broker (every connection dropped, new ones closed at once). The sink is the suite's
/// PostgreSQL (SYNC_TEST_POSTGRES).</summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class LedgerOutageTests() : PulsarPostgresCliFixture("ledger_out")
{
    private static readonly HttpClient Http = new();
    private const string Subscription = "sync-users";
    private const int Users = 10;
    private const string Erased = "7";

    private readonly string _topic = NewTopic("shop.public.users");

    [Fact]
    public async Task While_the_postgres_ledger_is_stopped_nothing_is_applied_and_after_it_returns_the_erased_subject_stays_suppressed()
    {
        await using var ledger = await PostgresServerProcess.StartAsync();
        // While the server is down, the test listens on its port: the process reconnects only after its
        // listening connection failed and its copy was marked unavailable (PostgresSuppressionView), so
        // a connection arriving here is the signal that it knows. Closed with a reset (linger 0), so
        // that the server can bind its port again at once.
        var standIn = new TcpListener(IPAddress.Loopback, ledger.Port);
        try
        {
            await RunThroughLedgerOutageAsync(
                $"ledger: {{ type: postgres, connectionString: '{ledger.ConnectionString}', tls: disable, connectTimeout: 1s }}",
                "{ postgres: ledger, schema: sync_ledger }",
                async () =>
                {
                    await ledger.StopAsync();
                    standIn.Start();
                },
                async () =>
                {
                    using var attempt = await standIn.AcceptTcpClientAsync().WaitAsync(TimeSpan.FromSeconds(60));
                    attempt.Client.LingerState = new LingerOption(true, 0);
                },
                async () =>
                {
                    standIn.Stop();
                    await ledger.StartAgainAsync();
                });
        }
        finally
        {
            standIn.Dispose();
        }
    }

    [Fact]
    public async Task While_the_topic_ledgers_broker_connections_are_cut_nothing_is_applied_and_after_they_return_the_erased_subject_stays_suppressed()
    {
        await using var ledgerBroker = FakePulsarBroker.Start();
        await RunThroughLedgerOutageAsync(
            string.Empty,
            $"{{ topic: '{NewTopic("sync-erasure-ledger")}', source: ledgercluster }}",
            () =>
            {
                ledgerBroker.Faults.ListenerPaused = true;
                ledgerBroker.DropAllConnections();
                return Task.CompletedTask;
            },
            // The view's reader marks the copy unavailable when its connection is lost, before it tries
            // to reconnect (PulsarTopicLedgerView.OnStateChanged): a refused reconnect is the signal.
            () => Poll.UntilAsync(() => ledgerBroker.Faults.Fired(nameof(FakeBrokerFaults.ListenerPaused)) > 0),
            () =>
            {
                ledgerBroker.Faults.ListenerPaused = false;
                return Task.CompletedTask;
            },
            $"ledgercluster: {{ type: pulsar, serviceUrl: '{ledgerBroker.ServiceUrl}', adminUrl: '{ledgerBroker.AdminUrl}' }}");
    }

    /// <summary>Runs <c>sync run</c> until every user is in the sink, erases one with <c>sync erase</c>,
    /// takes the ledger away, waits for the sign that the process knows (<paramref name="noticed"/>),
    /// publishes a change of the erased user and of every other one, waits for
    /// /healthz to say degraded, checks that nothing was applied or acknowledged, brings the ledger
    /// back and waits until every change is acknowledged and /healthz says running.</summary>
    private async Task RunThroughLedgerOutageAsync(string ledgerSinkYaml, string ledgerYaml, Func<Task> takeAway, Func<Task> noticed, Func<Task> bringBack, string ledgerSourceYaml = "")
    {
        await using var producer = await Client.CreateProducerAsync(new ProducerOptions { Topic = _topic });
        long lsn = 0;
        for (var id = 1; id <= Users; id++)
        {
            await PublishAsync(producer, Id(id), "c", $"user-{id}", ++lsn);
        }

        var config = Workspace.Write("sync.yaml", $"""
            sources:
              broker: {Broker.SourceYaml()}
              {ledgerSourceYaml}
            sinks:
              pg: {"{"} type: postgres, connectionString: '{Postgres}', tls: disable {"}"}
              {ledgerSinkYaml}
            materializers:
              users: {"{"} source: broker, topics: ['{_topic}'], sink: pg, table: {Table}, linger: 0ms, batchSize: 100 {"}"}
            subjects:
              user:
                users: {"{"} key: id {"}"}
            erasure:
              secret: 'ledger-outage-secret-0123456789'
              ledger: {ledgerYaml}
            """);

        ProcessResult? erase = null;
        JsonElement? degraded = null;
        var heldAtDegraded = (Later: -1L, ErasedRows: -1L, AllAcknowledged: true);
        var phase = 0;
        var run = await RunServingMetricsUntilAsync(
            port =>
            {
                switch (phase)
                {
                    case 0 when TableRows() == Users && AllAcknowledged(_topic, Subscription):
                        erase = Workspace.Sync("erase", "--config", config, "--subject", "user", "--key", Erased).GetAwaiter().GetResult();
                        takeAway().GetAwaiter().GetResult();
                        // The process learns that its ledger is gone when the connection closes
                        // under it; until then its copy is still the ledger's latest and may rightly
                        // decide a batch, so the changes are published once it knows.
                        noticed().GetAwaiter().GetResult();
                        PublishAsync(producer, Erased, "u", "user-7-again", ++lsn).GetAwaiter().GetResult();
                        for (var id = 1; id <= Users; id++)
                        {
                            if (Id(id) != Erased)
                            {
                                PublishAsync(producer, Id(id), "u", $"user-{id}-later", ++lsn).GetAwaiter().GetResult();
                            }
                        }

                        phase = 1;
                        return false;
                    case 1 when Health(port) is { State: "degraded" } health:
                        heldAtDegraded = (LaterRows(), ErasedRows(), AllAcknowledged(_topic, Subscription));
                        degraded = health.Body;
                        bringBack().GetAwaiter().GetResult();
                        phase = 2;
                        return false;
                    case 2 when AllAcknowledged(_topic, Subscription) && Health(port) is { State: "running" }:
                        return true;
                    default:
                        return false;
                }
            },
            "run", "--config", config);

        Assert.True(erase is { ExitCode: 0 or 3 }, erase?.ToString());
        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.True(degraded is not null, run.ToString());
        var users = degraded.Value.GetProperty("materializers")[0];
        Assert.True(users.GetProperty("stage").GetString() == "ledger", degraded.ToString());
        Assert.Contains("ledger", users.GetProperty("error").GetString(), StringComparison.Ordinal);
        // Held: nothing of the batch applied, neither the erased user's change nor the others'.
        Assert.True(heldAtDegraded == (0, 0, false), $"{heldAtDegraded}\n{run}");
        Assert.Contains("the suppression ledger cannot be read", run.Error, StringComparison.Ordinal);
        // After the ledger came back, the erased user's change was kept out by the ledger itself.
        Assert.True(RunSummary.Suppressed(run.Output + run.Error, $"pg/{Table}") >= 1, run.ToString());

        Assert.Equal(Users - 1, LaterRows());
        Assert.Equal(0, ErasedRows());
        Assert.Equal(Users - 1, TableRows());
    }

    private static string Id(int id) => id.ToString(CultureInfo.InvariantCulture);

    private long LaterRows() => Count($"SELECT count(*) FROM {Table} WHERE name LIKE '%-later'");

    private long ErasedRows() => Count($"SELECT count(*) FROM {Table} WHERE id = {Erased}");

    private static (HttpStatusCode Status, string State, JsonElement Body)? Health(int port)
    {
        using var response = Http.GetAsync(new Uri($"http://127.0.0.1:{port}/healthz")).GetAwaiter().GetResult();
        var body = JsonDocument.Parse(response.Content.ReadAsStringAsync().GetAwaiter().GetResult()).RootElement.Clone();
        return (response.StatusCode, body.GetProperty("materializers")[0].GetProperty("state").GetString()!, body);
    }
}
