using Sync.Pulsar;
using Sync.Pulsar.Admin;

namespace Sync.Cli.Tests;

/// <summary>A partitioned topic named as the topic ledger is refused, by <c>sync erase</c> before it
/// records anything and by <c>sync ledger list</c> before it reads, with an error that names the topic,
/// says why and what to do. The check asks the admin API for the topic's partitioned metadata
/// (GET /admin/v2/persistent/{tenant}/{namespace}/{topic}/partitions, which the fake broker serves
/// as Pulsar does: <c>{"partitions": N}</c>, 0 for a topic that is not partitioned).</summary>
public sealed class PartitionedLedgerTopicTests : PulsarCliFixture
{
    private const int Partitions = 3;

    private readonly string _topic = NewTopic("users");
    private readonly string _ledgerTopic = NewTopic("sync-erasure-ledger");

    [Fact]
    public async Task A_partitioned_ledger_topic_is_refused_with_its_name_the_reason_and_the_fix_and_nothing_is_recorded()
    {
        var config = await PartitionedLedgerAsync();

        var erase = await Workspace.Sync("erase", "--config", config, "--subject", "user", "--key", "1");
        var list = await Workspace.Sync("ledger", "list", "--config", config);

        foreach (var refused in new[] { erase, list })
        {
            Assert.True(refused.ExitCode is not (0 or 3), refused.ToString());
            Assert.Contains($"the ledger topic {_ledgerTopic} is a partitioned topic ({Partitions} partitions)", refused.Error, StringComparison.Ordinal);
            Assert.Contains("a ledger must be one non-partitioned topic", refused.Error, StringComparison.Ordinal);
            Assert.Contains("pulsar-admin topics create", refused.Error, StringComparison.Ordinal);
        }

        for (var partition = 0; partition < Partitions; partition++)
        {
            Assert.Empty(Broker.FindTopic($"{_ledgerTopic}-partition-{partition}")?.Entries ?? []);
        }

        Assert.Null(Broker.FindTopic(_ledgerTopic));
    }

    /// <summary>A users topic with one create, a partitioned ledger topic and a config naming both.</summary>
    private async Task<string> PartitionedLedgerAsync()
    {
        using (var admin = new PulsarAdminClient(new PulsarAdminOptions { ServiceUrl = Broker.AdminUrl }))
        {
            await admin.CreateTopicAsync(_ledgerTopic, Partitions);
        }

        await using (var producer = await Client.CreateProducerAsync(new ProducerOptions { Topic = _topic }))
        {
            await PublishAsync(producer, "1", "c", "a", 1);
        }

        return Workspace.Write("sync.yaml", $"""
            sources:
              broker: {Broker.SourceYaml()}
            sinks:
              local: {"{"} type: sqlite, path: users.db {"}"}
            materializers:
              users: {"{"} source: broker, topics: ['{_topic}'], sink: local, table: users {"}"}
            subjects:
              user:
                users: {"{"} key: id {"}"}
            erasure:
              secret: 'partitioned-ledger-secret-0123456789'
              ledger: {"{"} topic: '{_ledgerTopic}' {"}"}
            """);
    }
}
