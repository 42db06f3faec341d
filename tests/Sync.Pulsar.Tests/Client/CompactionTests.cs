namespace Sync.Pulsar.Tests.Client;

/// <summary>The fake's compactor and read_compacted, seen through our client.</summary>
public class CompactionTests : ClientTestBase
{
    private static string Text(PulsarMessage message) => Encoding.UTF8.GetString(message.Data.Span);

    private async Task<IPulsarConsumer> CompactedReaderAsync(string subscription = "compacted") =>
        await Client.SubscribeAsync(new ConsumerOptions
        {
            Topic = Topic,
            SubscriptionName = subscription,
            InitialPosition = SubscriptionInitialPosition.Earliest,
            ReadCompacted = true,
        });

    private async Task ProduceAsync(params (string? Key, string? Value)[] messages)
    {
        await using var producer = await ProducerAsync();
        foreach (var (key, value) in messages)
        {
            await producer.SendAsync(value is null
                ? OutgoingMessage.Tombstone(key!)
                : new OutgoingMessage { Key = key, Data = Encoding.UTF8.GetBytes(value) });
        }
    }

    [Fact]
    public async Task Compacted_view_holds_the_latest_value_per_key_without_tombstoned_or_keyless_messages()
    {
        await ProduceAsync(("a", "a1"), ("b", "b1"), ("a", "a2"), ("c", "c1"), ("b", null), (null, "keyless"));

        Broker.Compact(Topic);
        await using var reader = await CompactedReaderAsync();
        var messages = await ReceiveAsync(reader, 2);

        Assert.Equal([("a", "a2"), ("c", "c1")], messages.Select(m => (m.Key, Text(m))));
        Assert.Equal([2ul, 3ul], messages.Select(m => m.Id.EntryId));
        await AssertOnlyAMarkerComesNextAsync(reader);
    }

    [Fact]
    public async Task Read_compacted_continues_with_the_raw_topic_after_the_horizon()
    {
        await ProduceAsync(("a", "a1"), ("a", "a2"));
        Broker.Compact(Topic);

        await ProduceAsync(("a", "a3"), ("b", null));
        await using var reader = await CompactedReaderAsync();
        var messages = await ReceiveAsync(reader, 3);

        Assert.Equal(["a2", "a3", ""], messages.Select(Text));
        Assert.True(messages[2].IsNullValue);
    }

    [Fact]
    public async Task Tombstone_removes_the_key_from_the_next_compaction()
    {
        await ProduceAsync(("subject-42", "personal data"), ("other", "keep"));
        Broker.Compact(Topic);
        await ProduceAsync(("subject-42", null));

        Broker.Compact(Topic);
        await using var reader = await CompactedReaderAsync();

        var message = Assert.Single(await ReceiveAsync(reader, 1));
        Assert.Equal("other", message.Key);
        Assert.DoesNotContain(Broker.FindTopic(Topic)!.CompactedEntries, e => e.Metadata.PartitionKey == "subject-42");
        await AssertOnlyAMarkerComesNextAsync(reader);
    }

    [Theory]
    [InlineData(CompressionType.None)]
    [InlineData(CompressionType.Zstd)]
    public async Task Batches_keep_their_indexes_with_compacted_out_placeholders(CompressionType compression)
    {
        var batch = BatchPayload.Encode(new (string Key, string Value)[] { ("a", "a1"), ("x", "x1"), ("a", "a2"), ("y", "y1") }
            .Select(m => (new SingleMessageMetadata { PartitionKey = m.Key }, (ReadOnlyMemory<byte>)Encoding.UTF8.GetBytes(m.Value))));
        var metadata = new MessageMetadata { ProducerName = "p", SequenceId = 0, PublishTime = 1, NumMessagesInBatch = 4 };
        var payload = batch;
        if (compression != CompressionType.None)
        {
            metadata.Compression = compression;
            metadata.UncompressedSize = (uint)batch.Length;
            payload = PayloadCompression.Compress(compression, batch);
        }
        Broker.Publish(Topic, metadata, payload);
        await ProduceAsync(("y", null));

        Broker.Compact(Topic);
        await using var reader = await CompactedReaderAsync();
        var messages = await ReceiveAsync(reader, 2);

        Assert.Equal([("x", 1), ("a", 2)], messages.Select(m => (m.Key!, m.Id.BatchIndex)));
        var rewritten = Assert.Single(Broker.FindTopic(Topic)!.CompactedEntries);
        Assert.Equal(compression, rewritten.Metadata.Compression);
        await AssertOnlyAMarkerComesNextAsync(reader);
    }

    [Fact]
    public async Task Raw_subscriptions_still_see_every_message_after_compaction()
    {
        await ProduceAsync(("a", "a1"), ("a", "a2"));
        Broker.Compact(Topic);

        await using var consumer = await ConsumerAsync();

        Assert.Equal(["a1", "a2"], (await ReceiveAsync(consumer, 2)).Select(Text));
    }
}
