using Sync.Pulsar;
using Sync.Pulsar.Admin;
using Sync.Pulsar.Protocol.Proto;

namespace Sync.Engine.Tests.Sources.Pulsar;

/// <summary><c>repairTombstones: true</c> on Pulsar IO topics, and the topic log's truncation, on the fake broker.
/// <para>What the compacted view must end up as follows Pulsar's compaction: the latest message of
/// each key is kept, and a key whose latest message has an empty payload (a tombstone) is removed
/// (apache/pulsar: pulsar-broker/src/main/java/org/apache/pulsar/compaction/TwoPhaseCompactor.java,
/// phase one; site2/docs/concepts-topic-compaction.md on empty-payload tombstones; the fake models it
/// in FakeTopic.Compaction). So a repair tombstone that lands after a live value of its key
/// loses that value from the compacted view.</para></summary>
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
    public async Task A_new_subscription_reading_history_leaves_a_re_created_key_live_in_the_compacted_view_and_removes_every_truly_deleted_key()
    {
        const int keys = 300;
        var topic = NewTopic("history");
        await using (var producer = await ProducerAsync(topic))
        {
            long lsn = 0;
            await PublishAsync(producer, 1, "c", "ann", ++lsn);
            await PublishAsync(producer, 1, "d", null, ++lsn);
            for (var id = 2; id <= keys; id++)
            {
                await PublishAsync(producer, id, "c", $"user {id}", ++lsn);
            }

            await PublishAsync(producer, 1, "c", "ann again", ++lsn);
            for (var id = 10; id <= keys; id += 10)
            {
                await PublishAsync(producer, id, "d", null, ++lsn);
            }
        }

        const int deleted = keys / 10;
        var stored = Broker.FindTopic(topic)!;
        var history = stored.Entries.Count;

        var outcome = await RunUntilAsync(
            Config($"topics: [{topic}]\n    repairTombstones: true"),
            () => stored.Entries.Count >= history + deleted && Sink.Rows("users").Count == keys - deleted);

        Assert.Null(outcome.Failure);
        Assert.Equal(deleted, outcome.Counters.TombstonesRepaired);
        Assert.Equal(1, outcome.Counters.RepairsSuperseded);
        var compacted = (await CompactedAsync(topic)).ToDictionary(KeyJson, m => Encoding.UTF8.GetString(m.Value.Span));
        Assert.Equal(keys - deleted, compacted.Count);
        Assert.Contains("\"after\":{\"id\":1,\"name\":\"ann again\"}", compacted["{\"id\":1}"], StringComparison.Ordinal);
        Assert.All(Enumerable.Range(1, deleted).Select(i => $"{{\"id\":{i * 10}}}"), key => Assert.DoesNotContain(key, compacted.Keys));
        Assert.Contains("{\"id\":1,\"name\":\"ann again\"}", Sink.Rows("users").Values);
    }

    [Fact]
    public async Task On_a_partitioned_topic_each_partition_is_caught_up_on_its_own_and_only_truly_deleted_keys_are_tombstoned()
    {
        var topic = NewTopic("parts");
        Broker.CreatePartitionedTopic(topic, 3);
        await using (var producer = await ProducerAsync(topic))
        {
            await PublishAsync(producer, 1, "c", "ann", 1);
            await PublishAsync(producer, 1, "d", null, 2);
            for (var id = 2; id <= 30; id++)
            {
                await PublishAsync(producer, id, "c", $"user {id}", id + 1);
            }

            await PublishAsync(producer, 1, "c", "ann again", 40);
            await PublishAsync(producer, 7, "d", null, 41);
            await PublishAsync(producer, 8, "d", null, 42);
        }

        var partitions = Enumerable.Range(0, 3).Select(i => Broker.FindTopic(Sync.Pulsar.TopicName.Partition(topic, i))!).ToList();
        var history = partitions.Sum(p => p.Entries.Count);

        var outcome = await RunUntilAsync(
            Config($"topics: [{topic}]\n    repairTombstones: true"),
            () => partitions.Sum(p => p.Entries.Count) >= history + 2 && Sink.Rows("users").Count == 28);

        Assert.Null(outcome.Failure);
        Assert.Equal(2, outcome.Counters.TombstonesRepaired);
        await using var log = Components.Sources["pulsar"].OpenLog(Config($"topics: [{topic}]").Sources["broker"]);
        Assert.True((await log.CompactAsync(topic, [], default)).Succeeded);
        var compacted = new Dictionary<string, string>(StringComparer.Ordinal);
        await foreach (var message in log.ReadCompactedAsync(t => Sync.Pulsar.TopicName.BaseName(t) == topic, default))
        {
            compacted[KeyJson(message)] = Encoding.UTF8.GetString(message.Value.Span);
        }

        Assert.Equal(28, compacted.Count);
        Assert.Contains("\"after\":{\"id\":1,\"name\":\"ann again\"}", compacted["{\"id\":1}"], StringComparison.Ordinal);
        Assert.DoesNotContain("{\"id\":7}", compacted.Keys);
        Assert.DoesNotContain("{\"id\":8}", compacted.Keys);
    }

    [Fact]
    public async Task A_re_create_published_between_the_catch_up_and_the_repair_tombstone_is_published_again_so_compaction_keeps_it()
    {
        var topic = NewTopic("healed");
        await using (var producer = await ProducerAsync(topic))
        {
            await PublishAsync(producer, 1, "c", "ann", 1);
            await PublishAsync(producer, 2, "c", "bob", 2);
            await PublishAsync(producer, 1, "d", null, 3);
        }

        var stored = Broker.FindTopic(topic)!;
        var history = stored.Entries.Count;
        var recreated = false;
        // The producer's re-create lands right after the broker has told the reader where the
        // topic ends, and before the reader acts on it: no read can see it first.
        Broker.Faults.AfterNextLastMessageIds(int.MaxValue, name =>
        {
            var everythingDelivered = stored.FindSubscription("sync-users")?.DeliveredCount == stored.Entries.Sum(e => e.MessageCount);
            if (!recreated && everythingDelivered)
            {
                recreated = true;
                Broker.Publish(name, new MessageMetadata
                {
                    ProducerName = "debezium",
                    SequenceId = 4,
                    PublishTime = 1_700_000_000_004,
                    PartitionKey = Convert.ToBase64String("{\"id\":1}"u8),
                    PartitionKeyB64Encoded = true,
                }, Encoding.UTF8.GetBytes(DebeziumValue(1, "c", "ann again", 4)));
            }
        });

        var outcome = await RunUntilAsync(
            Config($"topics: [{topic}]\n    repairTombstones: true"),
            () => stored.Entries.Count == history + 3 && Sink.Rows("users").Count == 2);

        Assert.Null(outcome.Failure);
        Assert.True(recreated);
        Assert.Equal(1, outcome.Counters.TombstonesRepaired);
        Assert.Equal(1, outcome.Counters.RestoredAfterRepair);
        var (recreate, tombstone, copy) = (stored.Entries[history], stored.Entries[history + 1], stored.Entries[history + 2]);
        Assert.Equal("debezium", recreate.Metadata.ProducerName);
        Assert.True(tombstone.Metadata.NullValue);
        Assert.Contains(tombstone.Metadata.Properties, p => p.Key == TombstoneRepair.Property);
        Assert.Equal(recreate.Metadata.PartitionKey, copy.Metadata.PartitionKey);
        Assert.True(copy.Metadata.PartitionKeyB64Encoded);
        Assert.Contains(copy.Metadata.Properties, p => p.Key == TombstoneRepair.RestoredProperty);
        var compacted = (await CompactedAsync(topic)).ToDictionary(KeyJson, m => Encoding.UTF8.GetString(m.Value.Span));
        Assert.Equal(["{\"id\":1}", "{\"id\":2}"], compacted.Keys.Order(StringComparer.Ordinal));
        Assert.Contains("\"after\":{\"id\":1,\"name\":\"ann again\"}", compacted["{\"id\":1}"], StringComparison.Ordinal);
        Assert.Contains("{\"id\":1,\"name\":\"ann again\"}", Sink.Rows("users").Values);
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
