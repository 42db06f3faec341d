using Sync.Pulsar;

namespace Sync.Cli.Tests;

/// <summary><c>sync backfill --from</c> on a Pulsar source (the fake broker): the non-durable
/// reader is sought to the message id, which is read again; a partitioned topic is named by partition.</summary>
public sealed class PulsarBackfillFromTests : PulsarCliFixture
{
    [Fact]
    public async Task A_backfill_from_a_message_id_applies_that_message_and_the_later_ones_and_none_before()
    {
        var topic = NewTopic("from-users");
        await using var producer = await Client.CreateProducerAsync(new ProducerOptions { Topic = topic });
        var ids = new List<MessageId>();
        for (var id = 1; id <= 8; id++)
        {
            ids.Add(await PublishAsync(producer, Text(id), "c", $"user {id}", 100 + id));
        }

        var config = WriteConfig($"""
              users: {"{"} source: broker, topics: ['{topic}'], sink: local, table: users, linger: 0ms, batchSize: 3 {"}"}
            """);

        var backfill = await Workspace.Sync("backfill", "--config", config, "--materializer", "users", "--from", Position(ids[4]), "--no-progress");

        Assert.True(backfill.ExitCode == 0, backfill.ToString());
        Assert.Equal([5, 6, 7, 8], Ids());
    }

    [Fact]
    public async Task On_a_partitioned_topic_a_named_partition_starts_at_its_position_and_the_other_at_the_earliest()
    {
        var topic = NewTopic("from-parts");
        Broker.CreatePartitionedTopic(topic, 2);
        await using var first = await Client.CreateProducerAsync(new ProducerOptions { Topic = TopicName.Partition(topic, 0) });
        await using var second = await Client.CreateProducerAsync(new ProducerOptions { Topic = TopicName.Partition(topic, 1) });
        var onSecond = new List<MessageId>();
        for (var id = 1; id <= 4; id++)
        {
            await PublishAsync(first, Text(id), "c", $"user {id}", 100 + id);
            onSecond.Add(await PublishAsync(second, Text(100 + id), "c", $"user {100 + id}", 200 + id));
        }

        var config = WriteConfig($"""
              users: {"{"} source: broker, topics: ['{topic}'], sink: local, table: users, linger: 0ms, batchSize: 3 {"}"}
            """);

        var backfill = await Workspace.Sync("backfill", "--config", config, "--materializer", "users", "--from", $"{TopicName.Partition(topic, 1)}={Position(onSecond[2])}", "--no-progress");

        Assert.True(backfill.ExitCode == 0, backfill.ToString());
        Assert.Equal([1, 2, 3, 4, 103, 104], Ids());
    }

    [Fact]
    public async Task A_position_for_a_partitioned_topic_as_a_whole_exits_2_naming_its_partitions()
    {
        var topic = NewTopic("from-whole");
        Broker.CreatePartitionedTopic(topic, 2);
        await using var producer = await Client.CreateProducerAsync(new ProducerOptions { Topic = TopicName.Partition(topic, 0) });
        await PublishAsync(producer, "1", "c", "user 1", 101);
        var config = WriteConfig($"""
              users: {"{"} source: broker, topics: ['{topic}'], sink: local, table: users, linger: 0ms {"}"}
            """);

        var backfill = await Workspace.Sync("backfill", "--config", config, "--materializer", "users", "--from", "0:0:-1", "--no-progress");

        Assert.Equal(2, backfill.ExitCode);
        Assert.Contains($"--from names {topic}, a partitioned topic; positions are per partition, so name each partition (one of: {TopicName.Partition(topic, 0)}, {TopicName.Partition(topic, 1)})", backfill.Error, StringComparison.Ordinal);
    }

    private static string Text(int id) => id.ToString(CultureInfo.InvariantCulture);

    /// <summary>A message id as <c>sync status</c> prints positions: ledger:entry:batch.</summary>
    private static string Position(MessageId id) => string.Create(CultureInfo.InvariantCulture, $"{(long)id.LedgerId}:{(long)id.EntryId}:{id.BatchIndex}");

    private List<long> Ids() =>
        [.. SqliteTables.Rows(Database, "users").Select(r => long.Parse(r.Split('|')[0]["id=".Length..], CultureInfo.InvariantCulture)).Order()];
}
