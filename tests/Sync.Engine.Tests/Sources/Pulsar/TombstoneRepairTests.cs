using System.Text;
using Sync.Engine.Runtime;
using Sync.Engine.Sources;
using Sync.Pulsar;
using Sync.Pulsar.Admin;

namespace Sync.Engine.Tests.Sources.Pulsar;

/// <summary><c>repairTombstones: true</c> on Pulsar IO topics, and the topic log's truncation, on the fake broker.</summary>
public sealed class TombstoneRepairTests : PulsarSourceFixture
{
    private static string KeyJson(SourceMessage message) => Encoding.UTF8.GetString(message.Key.GetBytes());

    private async Task<List<SourceMessage>> CompactedAsync(string topic)
    {
        await using var log = Components.Sources["pulsar"].OpenLog(Config($"topics: [{topic}]").Sources["broker"]);
        using var admin = new PulsarAdminClient(new PulsarAdminOptions { ServiceUrl = Broker.AdminUrl });
        await admin.CompactAndWaitAsync(topic, TimeSpan.FromMilliseconds(20));
        var list = new List<SourceMessage>();
        using var timeout = new CancellationTokenSource(Patience);
        await foreach (var message in log.ReadCompactedAsync(t => t == topic, timeout.Token))
        {
            list.Add(message);
        }

        return list;
    }

    private async Task PublishDeletedUserAsync(string topic)
    {
        await using var producer = await ProducerAsync(topic);
        await PublishAsync(producer, 1, "c", "ann", 1);
        await PublishAsync(producer, 2, "c", "bob", 2);
        await PublishAsync(producer, 1, "d", null, 3);
    }

    [Fact]
    public async Task A_delete_without_tombstone_gets_one_so_that_compaction_removes_its_before_image()
    {
        var topic = NewTopic("repair");
        await PublishDeletedUserAsync(topic);
        var stored = Broker.FindTopic(topic)!;

        var outcome = await RunUntilAsync(Config($"topics: [{topic}]\n    repairTombstones: true"), () => stored.Entries.Count == 4);

        Assert.Null(outcome.Failure);
        Assert.Equal(1, outcome.Counters.TombstonesRepaired);
        var delete = stored.Entries[2].Metadata;
        var tombstone = stored.Entries[3].Metadata;
        Assert.Equal(delete.PartitionKey, tombstone.PartitionKey);
        Assert.True(tombstone.PartitionKeyB64Encoded);
        Assert.True(tombstone.NullValue);
        Assert.Equal(["{\"id\":2}"], (await CompactedAsync(topic)).Select(KeyJson));
        Assert.Equal("{\"id\":2,\"name\":\"bob\"}", Assert.Single(Sink.Rows("users")).Value);
    }

    [Fact]
    public async Task Without_repair_the_before_image_of_a_delete_stays_in_the_compacted_view()
    {
        var topic = NewTopic("norepair");
        await PublishDeletedUserAsync(topic);

        var outcome = await RunUntilAsync(Config($"topics: [{topic}]"), () => Sink.Rows("users").Count == 1);

        Assert.Equal(0, outcome.Counters.TombstonesRepaired);
        var compacted = await CompactedAsync(topic);
        Assert.Equal(["{\"id\":1}", "{\"id\":2}"], compacted.Select(KeyJson).Order(StringComparer.Ordinal));
        Assert.Contains("\"before\":{\"id\":1,\"name\":\"old\"}", Encoding.UTF8.GetString(compacted.Single(m => KeyJson(m) == "{\"id\":1}").Value.Span), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_repair_tombstone_is_not_applied_to_the_sink_so_a_racing_re_insert_survives()
    {
        var topic = NewTopic("raced");
        await using (var producer = await ProducerAsync(topic))
        {
            await PublishAsync(producer, 1, "c", "ann", 1);
            await PublishAsync(producer, 1, "d", null, 2);
            await PublishAsync(producer, 1, "c", "ann again", 3);
            // The repair of the delete, published after the re-insert (by a run that read up to the delete).
            await producer.SendAsync(OutgoingMessage.Tombstone(Encoding.UTF8.GetBytes("{\"id\":1}")) with
            {
                Properties = new Dictionary<string, string> { [TombstoneRepair.Property] = "1:1:-1" },
            });
            await PublishAsync(producer, 2, "c", "bob", 4);
        }

        var outcome = await RunUntilAsync(Config($"topics: [{topic}]"), () => Sink.Rows("users").Count == 2);

        Assert.Null(outcome.Failure);
        Assert.Contains("{\"id\":1,\"name\":\"ann again\"}", Sink.Rows("users").Values);
    }

    [Fact]
    public async Task Truncation_moves_every_cursor_to_the_end_and_says_the_current_ledger_stays()
    {
        var topic = NewTopic("truncate");
        await using var consumer = await Client.SubscribeAsync(new ConsumerOptions { Topic = topic, SubscriptionName = "analytics" });
        await PublishDeletedUserAsync(topic);
        var stored = Broker.FindTopic(topic)!;
        Assert.Equal(0UL, stored.FindSubscription("analytics")!.AckedBefore);

        await using var log = Components.Sources["pulsar"].OpenLog(Config($"topics: [{topic}]").Sources["broker"]);
        var outcome = await log.TruncateAsync(topic, default);

        Assert.Equal("SUCCESS", outcome.Status);
        Assert.Contains("every subscription's cursor moved to the end", outcome.Effect, StringComparison.Ordinal);
        Assert.Contains("the ledger being written is kept", outcome.Effect, StringComparison.Ordinal);
        Assert.Equal(3UL, stored.FindSubscription("analytics")!.AckedBefore);
        // The fake, like a broker whose only ledger is still open, keeps the entries.
        Assert.Equal(3, stored.Entries.Count);
    }
}
