using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using Sync.Engine.Formats;
using Sync.Pulsar;
using Sync.Sinks;
using Sync.Sources;
using Sync.Testing.Pulsar;

namespace Sync.Compliance.Tests;

/// <summary>An erasure whose ledger is a topic on the source's cluster (<c>erasure.ledger: { topic: … }</c>),
/// on the fake broker: the erase records there first, and a later backfill of the raw backlog, which
/// still holds the subject's messages, suppresses them through the topic ledger's view.</summary>
public sealed class TopicLedgerErasureTests : IAsyncLifetime
{
    private const string LedgerTopic = "persistent://public/default/sync-erasure-ledger";

    private readonly string _dir = Directory.CreateTempSubdirectory("sync-topic-ledger-").FullName;
    private readonly SyncComponents _components = new(SourceCatalog.All, SinkCatalog.All, MessageFormats.Names, MessageFormats.Create);
    private FakePulsarBroker _broker = null!;

    private string Database => Path.Combine(_dir, "customers.db");

    public Task InitializeAsync()
    {
        _broker = FakePulsarBroker.Start();
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await _broker.DisposeAsync();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public async Task An_erasure_recorded_on_the_ledger_topic_keeps_a_backfill_of_the_raw_backlog_from_bringing_the_subject_back()
    {
        var topic = "persistent://public/default/customers";
        await using (var client = new PulsarClient(new PulsarClientOptions { ServiceUrl = _broker.ServiceUrl }))
        await using (var producer = await client.CreateProducerAsync(new ProducerOptions { Topic = topic }))
        {
            foreach (var (id, name) in new[] { (1, "Ada"), (2, "Grace"), (3, "Edsger") })
            {
                await producer.SendAsync(new OutgoingMessage { Key = $"{{\"id\":{id}}}", Data = Encoding.UTF8.GetBytes($"{{\"id\":{id},\"name\":\"{name}\"}}") });
            }
        }

        var config = Config(topic);
        Assert.All(await BackfillAsync(config), o => Assert.Null(o.Failure));
        Assert.Equal(3, SqliteTables.Rows(Database, "customers").Count);

        var report = await new ErasureService(config, _components, TimeProvider.System, () => "request-1")
            .EraseAsync(new ErasureCommand("customer", ["1"], "dpo@example.com", DryRun: false), CancellationToken.None);

        // Incomplete: the raw backlog keeps customer 1's message until retention (the report says so).
        Assert.Equal(ErasureVerdict.Incomplete, report.Verdict);
        Assert.Equal(1, Assert.Single(report.Topics).RawResidue);
        Assert.Equal(0, report.Topics[0].CompactedViewMatches);
        Assert.Equal(0, Assert.Single(report.Sinks).Remaining);
        var entries = _broker.FindTopic(LedgerTopic)!.Entries;
        Assert.All(entries, e => Assert.Equal("request-1", e.Metadata.PartitionKey));
        Assert.All(entries, e => Assert.DoesNotContain("Ada", Encoding.UTF8.GetString(e.MessageBytes), StringComparison.Ordinal));

        // The raw backlog still holds customer 1's message (retention kept it): a backfill from the
        // earliest message into an empty database must not bring it back.
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        File.Delete(Database);
        var outcomes = await BackfillAsync(config);

        Assert.All(outcomes, o => Assert.Null(o.Failure));
        Assert.True(outcomes.Single().Counters.Suppressed >= 1);
        Assert.Equal(["id=2|name=Grace", "id=3|name=Edsger"], SqliteTables.Rows(Database, "customers").Select(r => string.Join('|', r.Split('|').Where(c => c.StartsWith("id=", StringComparison.Ordinal) || c.StartsWith("name=", StringComparison.Ordinal)))).Order(StringComparer.Ordinal));
    }

    private async Task<IReadOnlyList<MaterializerOutcome>> BackfillAsync(SyncConfig config)
    {
        await using var suppression = new LedgerSuppression(config, _components);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        return await new SyncRuntime(config, _components, NullLoggerFactory.Instance, suppression.Filter)
            .RunAsync([], RunMode.Backfill, timeout.Token);
    }

    private SyncConfig Config(string topic) => ConfigLoader.Parse(
        $"""
        sources:
          broker: {_broker.SourceYaml("initialPosition: earliest", "compactionPollInterval: 20ms", "compactedReadIdle: 300ms")}
        sinks:
          local: {"{"} type: sqlite, path: customers.db {"}"}
        materializers:
          customers: {"{"} source: broker, topics: [{topic}], format: json, sink: local, table: customers {"}"}
        subjects:
          customer:
            customers: {"{"} key: id {"}"}
        erasure:
          secret: topic-ledger-test-secret-0123456789
          ledger: {"{"} topic: {LedgerTopic}, source: broker {"}"}
        """,
        Path.Combine(_dir, "sync.yaml"),
        _components.Types,
        _ => null);
}
