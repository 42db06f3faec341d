using Sync.Pulsar;

namespace Sync.Cli.Tests;

/// <summary>A fleet sharing one erasure ledger: two <c>sync run</c> processes, each in a working folder
/// of its own, on one Key_Shared subscription of the fake broker, and a third process in a third folder
/// erasing a subject. Nothing is shared but the ledger and the sinks, so only the ledger can keep the
/// subject's later changes out of each process, and out of a later <c>backfill</c> from either folder.
/// The file ledger is not a case here: a file in one folder cannot be shared with the others. Real
/// processes, the fake broker in this process, a real PostgreSQL (SYNC_TEST_POSTGRES).</summary>
public sealed class FleetLedgerTests() : PulsarPostgresCliFixture("fleet")
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(90);
    private const string Subscription = "sync-users";
    private const int Users = 20;
    private const string Erased = "7";

    private readonly string _topic = NewTopic("shop.public.users");
    private readonly string _ledgerTopic = NewTopic("sync-erasure-ledger");
    private readonly string _ledgerSchema = $"fleet_ledger_{Guid.NewGuid():N}"[..24];
    private readonly Workspace _second = new();
    private readonly Workspace _eraser = new();

    public override async Task DisposeAsync()
    {
        Count($"DROP SCHEMA IF EXISTS \"{_ledgerSchema}\" CASCADE; SELECT 0");
        _second.Dispose();
        _eraser.Dispose();
        await base.DisposeAsync();
    }

    [Theory]
    [InlineData("postgres")]
    [InlineData("topic")]
    public async Task An_erasure_reaches_every_process_of_the_fleet_and_no_backfill_brings_the_subject_back(string ledger)
    {
        await using var producer = await Client.CreateProducerAsync(new ProducerOptions { Topic = _topic });
        long lsn = 0;
        for (var id = 1; id <= Users; id++)
        {
            await PublishAsync(producer, id.ToString(CultureInfo.InvariantCulture), "c", $"user-{id}", ++lsn);
        }

        var folders = new[] { Workspace, _second };
        var configs = folders.Select(folder => WriteConfig(folder, ledger)).ToArray();
        var eraserConfig = WriteConfig(_eraser, ledger);
        var running = folders.Zip(configs, (folder, config) => new RunningSync(SyncProcess.Start(folder.Directory, "run", "--config", config))).ToArray();
        try
        {
            await Poll.UntilAsync(() => Broker.DeliveredPerConsumer(_topic, Subscription).Count == 2, Patience);
            await Poll.UntilAsync(() => TableRows() == Users, Patience);

            var erase = await _eraser.Sync("erase", "--config", eraserConfig, "--subject", "user", "--key", Erased);
            // 3: the raw backlog keeps the subject's create until retention; every sink is clean.
            Assert.True(erase.ExitCode is 0 or 3, erase.ToString());
            Assert.Equal(0, ErasedRows());

            // A new change of the erased subject, then a change of every other user, so that both
            // processes have messages to read past it; every message acknowledged means both did.
            await PublishAsync(producer, Erased, "u", "user-7-again", ++lsn);
            for (var id = 1; id <= Users; id++)
            {
                if (id.ToString(CultureInfo.InvariantCulture) != Erased)
                {
                    await PublishAsync(producer, id.ToString(CultureInfo.InvariantCulture), "u", $"user-{id}-later", ++lsn);
                }
            }

            await Poll.UntilAsync(() => AllAcknowledged(_topic, Subscription), Patience);
            Assert.Equal(Users - 1, Count($"SELECT count(*) FROM {Table} WHERE name LIKE '%-later'"));
            Assert.True(ErasedRows() == 0, Outputs(running));
            Assert.All(running, r => Assert.False(r.Process.HasExited, r.Output()));
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"a step did not get there; the table has {TableRows()} rows\n{Outputs(running)}");
        }
        finally
        {
            foreach (var r in running.Where(r => !r.Process.HasExited))
            {
                await StopAsync(r.Process);
            }

            using var exit = new CancellationTokenSource(Patience);
            foreach (var r in running)
            {
                await r.Process.WaitForExitAsync(exit.Token);
                r.Process.WaitForExit();
            }
        }

        Assert.All(running, r => Assert.True(r.Process.ExitCode == 0, r.Output()));
        // The erased subject's update was kept out by the ledger in whichever process read it.
        Assert.True(running.Sum(r => Suppressed(r.Output())) >= 1, Outputs(running));

        // A full backfill from each folder reads the raw backlog from its start, the subject's create
        // and update included: the shared ledger alone keeps them out of PostgreSQL.
        foreach (var (folder, config) in folders.Zip(configs))
        {
            var backfill = await folder.Sync("backfill", "--config", config, "--materializer", "users", "--no-progress");
            Assert.True(backfill.ExitCode == 0, backfill.ToString());
            Assert.True(ErasedRows() == 0, backfill.ToString());
            Assert.True(Suppressed(backfill.Output + backfill.Error) >= 1, backfill.ToString());
        }

        Assert.Equal(Users - 1, TableRows());
    }

    private long ErasedRows() => Count($"SELECT count(*) FROM {Table} WHERE id = {Erased}");

    /// <summary>The suppressed column of the users row of the summary a run or backfill printed.</summary>
    private long Suppressed(string output)
    {
        var row = output.Split('\n').SkipWhile(line => !line.Contains("summary", StringComparison.Ordinal))
            .FirstOrDefault(line => line.Contains($"pg/{Table}", StringComparison.Ordinal))
            ?? throw new InvalidOperationException($"no summary row for pg/{Table}:\n{output}");
        // materializer, target, read, applied, deleted, stale, collapsed, suppressed, ...
        return long.Parse(row.Split(' ', StringSplitOptions.RemoveEmptyEntries)[7], CultureInfo.InvariantCulture);
    }

    private static string Outputs(IEnumerable<RunningSync> running) =>
        string.Join('\n', running.Select((r, i) => $"--- process {i + 1}\n{r.Output()}"));

    private string WriteConfig(Workspace folder, string ledger) => folder.Write("sync.yaml", $$"""
        sources:
          broker:
            type: pulsar
            serviceUrl: {{Broker.ServiceUrl}}
            adminUrl: {{Broker.AdminUrl}}
            subscriptionType: key-shared
            initialPosition: earliest
        sinks:
          pg: { type: postgres, connectionString: '{{Postgres}}', tls: disable }
        materializers:
          users: { source: broker, topics: ['{{_topic}}'], sink: pg, table: {{Table}}, linger: 0ms, batchSize: 1 }
        subjects:
          user:
            users: { key: id }
        erasure:
          secret: 'fleet-ledger-secret-0123456789'
          ledger: {{(ledger == "postgres" ? $"{{ postgres: pg, schema: {_ledgerSchema} }}" : $"{{ topic: '{_ledgerTopic}' }}")}}
        """);
}
