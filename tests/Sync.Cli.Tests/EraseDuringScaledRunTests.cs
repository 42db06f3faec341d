using Sync.Pulsar;

namespace Sync.Cli.Tests;

/// <summary>An erase while two <c>sync run</c> processes share one Key_Shared subscription: they may
/// apply the erase's tombstones before the erase reaches PostgreSQL. The report must still count the
/// subject's rows and say who removed them, and every erased key must hold an erasure marker, so that
/// a machine whose ledger lacks the erasure still finds a later change of it stale. The fake broker in
/// this process, real PostgreSQL (SYNC_TEST_POSTGRES), real <c>sync</c> processes.</summary>
public sealed class EraseDuringScaledRunTests() : PulsarPostgresCliFixture("scaled")
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(90);
    private static readonly int[] ErasedOrders = [100, 101, 102, 103, 104, 105];
    private readonly string _topic = NewTopic("shop.public.orders");

    [Fact]
    public async Task The_report_counts_what_running_materializers_removed_and_every_erased_key_keeps_an_erasure_marker()
    {
        await using var producer = await Client.CreateProducerAsync(new ProducerOptions { Topic = _topic });
        long lsn = 0;
        foreach (var id in ErasedOrders)
        {
            await PublishOrderAsync(producer, id, "c", user: 15, ++lsn);
        }

        foreach (var id in new[] { 200, 201, 202 })
        {
            await PublishOrderAsync(producer, id, "c", user: 243, ++lsn);
        }

        var config = WriteOrdersConfig("sync.yaml", "ledger.db");
        using var first = SyncProcess.Start(Workspace.Directory, "run", "--config", config);
        using var second = SyncProcess.Start(Workspace.Directory, "run", "--config", config);
        ProcessResult erase;
        try
        {
            await Poll.UntilAsync(() => Broker.DeliveredPerConsumer(_topic, "sync-orders").Count == 2, Patience);
            await Poll.UntilAsync(() => TableRows() == 9, Patience);

            erase = await Workspace.Sync("erase", "--config", config, "--subject", "user", "--key", "15", "--report", "report.json");
            await Poll.UntilAsync(() => AllAcknowledged(_topic, "sync-orders"), Patience);
        }
        finally
        {
            foreach (var process in new[] { first, second })
            {
                if (!process.HasExited)
                {
                    await StopAsync(process);
                }

                await process.WaitForExitAsync();
            }
        }

        // Exit 3 for the raw residue the broker keeps until retention; the sink is clean.
        Assert.True(erase.ExitCode == 3, erase.ToString());
        var sink = JsonDocument.Parse(await File.ReadAllTextAsync(Workspace.File("report.json"))).RootElement.GetProperty("sinks")[0];
        Assert.Equal(ErasedOrders.Length, sink.GetProperty("rowsBefore").GetInt64());
        Assert.Equal(0, sink.GetProperty("remaining").GetInt64());
        // Which of the erase and the two processes removed which row is a race; together they removed all.
        Assert.Equal(ErasedOrders.Length, sink.GetProperty("deleted").GetInt64() + sink.GetProperty("removedByMaterializers").GetInt64());
        Assert.Equal(3, Count($"SELECT count(*) FROM {Table}"));
        Assert.All(ErasedOrders, id => Assert.Equal(
            long.MaxValue,
            Count($"SELECT coalesce(max(lsn), 0) FROM sync.delete_markers WHERE key_text = '{{\"id\":{id}}}' AND target LIKE '%{Table}%'")));

        // A later update of an erased order, applied where the ledger does not hold the erasure: the
        // erasure marker alone makes it stale.
        await PublishOrderAsync(producer, ErasedOrders[0], "u", user: 15, ++lsn);
        var elsewhere = WriteOrdersConfig("elsewhere.yaml", "other-ledger.db");
        var run = await RunUntilAsync(() => AllAcknowledged(_topic, "sync-orders"), "run", "--config", elsewhere);
        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Equal(0, Count($"SELECT count(*) FROM {Table} WHERE id = {ErasedOrders[0]}"));
    }

    private string WriteOrdersConfig(string name, string ledger) => Workspace.Write(name, $"""
        sources:
          broker: {Broker.SourceYaml("subscriptionType: key-shared", "initialPosition: earliest")}
        sinks:
          pg: {"{"} type: postgres, connectionString: '{Postgres}', tls: disable {"}"}
        materializers:
          orders: {"{"} source: broker, topics: ['{_topic}'], sink: pg, table: {Table}, linger: 0ms, batchSize: 1 {"}"}
        subjects:
          user:
            orders: {"{"} field: user_id {"}"}
        erasure:
          secret: 'scaled-erase-secret-0123456789'
          ledger: {ledger}
        """);

    /// <summary>A Debezium change as Pulsar IO writes it: base64 JSON key, bare envelope.</summary>
    private static async Task PublishOrderAsync(IPulsarProducer producer, int id, string op, int user, long lsn)
    {
        var value = string.Create(
            CultureInfo.InvariantCulture,
            $"{{\"before\":null,\"after\":{{\"id\":{id},\"user_id\":{user},\"note\":\"order {id} at {lsn}\"}},\"source\":{{\"connector\":\"postgresql\",\"db\":\"shop\",\"schema\":\"public\",\"table\":\"orders\",\"lsn\":{lsn}}},\"op\":\"{op}\",\"ts_ms\":{1_700_000_000_000 + lsn}}}");
        await producer.SendAsync(new OutgoingMessage { KeyBytes = Encoding.UTF8.GetBytes($"{{\"id\":{id}}}"), Data = Encoding.UTF8.GetBytes(value) });
    }
}
