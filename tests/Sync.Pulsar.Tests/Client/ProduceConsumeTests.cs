namespace Sync.Pulsar.Tests.Client;

public class ProduceConsumeTests : ClientTestBase
{
    private static byte[] Payload(int i) => Encoding.UTF8.GetBytes($"{{\"id\":{i},\"body\":\"{new string('x', i % 50)}\"}}");

    [Fact]
    public async Task Every_produced_message_is_consumed_byte_for_byte_in_order()
    {
        const int count = 2000;
        await using var consumer = await ConsumerAsync(receiverQueueSize: 100);
        await using var producer = await ProducerAsync();

        var sends = Enumerable.Range(0, count)
            .Select(i => producer.SendAsync(new OutgoingMessage
            {
                Data = Payload(i),
                Key = $"k{i % 10}",
                Properties = new Dictionary<string, string> { ["i"] = i.ToString(System.Globalization.CultureInfo.InvariantCulture) },
                EventTimeMs = 1_000_000 + (ulong)i,
            }).AsTask())
            .ToList();
        var ids = await Task.WhenAll(sends);
        var received = await ReceiveAsync(consumer, count);

        Assert.Equal(ids, received.Select(m => m.Id));
        for (var i = 0; i < count; i++)
        {
            Assert.Equal(Payload(i), received[i].Data.ToArray());
            Assert.Equal($"k{i % 10}", received[i].Key);
            Assert.Equal(i.ToString(System.Globalization.CultureInfo.InvariantCulture), Assert.Single(received[i].Properties).Value);
            Assert.Equal(1_000_000 + (ulong)i, received[i].EventTimeMs);
            Assert.Equal((ulong)i, received[i].SequenceId);
            Assert.Equal(producer.Name, received[i].ProducerName);
        }
    }

    [Fact]
    public async Task Stored_entries_are_the_exact_bytes_the_producer_sent()
    {
        await using var producer = await ProducerAsync();

        await producer.SendAsync(new OutgoingMessage { Data = "hello"u8.ToArray(), Key = "k" });

        var entry = Assert.Single(Broker.FindTopic(Topic)!.Entries);
        var frame = FrameDecoder.DecodeMessagePart(new BaseCommand { Type = BaseCommand.Types.Type.Message }, entry.MessageBytes);
        Assert.True(frame.HasChecksum);
        Assert.True(frame.ChecksumMatches);
        Assert.Equal("hello"u8.ToArray(), frame.Payload.ToArray());
    }

    [Fact]
    public async Task Tombstone_arrives_as_null_value_with_its_key_and_no_payload()
    {
        await using var consumer = await ConsumerAsync();
        await using var producer = await ProducerAsync();

        await producer.SendAsync(OutgoingMessage.Tombstone("customer-7"));
        var message = (await ReceiveAsync(consumer, 1))[0];

        Assert.True(message.IsNullValue);
        Assert.True(message.Data.IsEmpty);
        Assert.Equal("customer-7", message.Key);
        Assert.True(Assert.Single(Broker.FindTopic(Topic)!.Entries).Metadata.NullValue);
    }

    [Fact]
    public async Task Binary_key_travels_base64_encoded_and_flagged()
    {
        await using var consumer = await ConsumerAsync();
        await using var producer = await ProducerAsync();
        byte[] key = [0x7B, 0x22, 0x69, 0x64, 0x22, 0x3A, 0x31, 0x7D, 0x00, 0xFF];

        await producer.SendAsync(new OutgoingMessage { KeyBytes = key, Data = "v"u8.ToArray() });
        var message = (await ReceiveAsync(consumer, 1))[0];

        Assert.True(message.KeyIsBase64);
        Assert.Equal(Convert.ToBase64String(key), message.Key);
        Assert.Equal(key, message.KeyBytes);
        Assert.True(Broker.FindTopic(Topic)!.Entries[0].Metadata.PartitionKeyB64Encoded);
    }

    [Fact]
    public async Task Tombstone_with_a_payload_is_refused_before_sending()
    {
        await using var producer = await ProducerAsync();

        await Assert.ThrowsAsync<ArgumentException>(async () =>
            await producer.SendAsync(new OutgoingMessage { Key = "k", IsNullValue = true, Data = "x"u8.ToArray() }));
        Assert.Empty(Broker.FindTopic(Topic)!.Entries);
    }

    [Theory]
    [MemberData(nameof(CompressionCodecs.Compressing), MemberType = typeof(CompressionCodecs))]
    public async Task Compressed_messages_are_decompressed_on_receive(CompressionType compression)
    {
        await using var consumer = await ConsumerAsync();
        await using var producer = await ProducerAsync(new ProducerOptions { Topic = Topic, Compression = compression });
        var payload = Encoding.UTF8.GetBytes(string.Concat(Enumerable.Repeat("compress me ", 100)));

        await producer.SendAsync(new OutgoingMessage { Data = payload });
        var message = (await ReceiveAsync(consumer, 1))[0];

        Assert.Equal(payload, message.Data.ToArray());
        var stored = Broker.FindTopic(Topic)!.Entries[0];
        Assert.Equal(compression, stored.Metadata.Compression);
        Assert.Equal((uint)payload.Length, stored.Metadata.UncompressedSize);
        Assert.True(stored.MessageBytes.Length < payload.Length);
    }

    [Theory]
    [MemberData(nameof(CompressionCodecs.All), MemberType = typeof(CompressionCodecs))]
    public async Task Batch_entries_are_split_into_their_messages(CompressionType compression)
    {
        await using var consumer = await ConsumerAsync();
        var (metadata, payload) = Batch(compression, 5, i => ($"key-{i}", Payload(i)));

        var entryId = Broker.Publish(Topic, metadata, payload);
        var messages = await ReceiveAsync(consumer, 5);

        Assert.Equal(Enumerable.Range(0, 5), messages.Select(m => m.Id.BatchIndex));
        Assert.All(messages, m => Assert.Equal(entryId.EntryId, m.Id.EntryId));
        Assert.All(messages, m => Assert.Equal(5, m.Id.BatchSize));
        Assert.Equal(Enumerable.Range(0, 5).Select(i => $"key-{i}"), messages.Select(m => m.Key));
        Assert.Equal(Enumerable.Range(0, 5).Select(Payload), messages.Select(m => m.Data.ToArray()));
    }

    [Fact]
    public async Task Compacted_out_batch_items_are_skipped()
    {
        await using var consumer = await ConsumerAsync();
        var items = new (SingleMessageMetadata, ReadOnlyMemory<byte>)[]
        {
            (new SingleMessageMetadata { PartitionKey = "a", CompactedOut = true }, ReadOnlyMemory<byte>.Empty),
            (new SingleMessageMetadata { PartitionKey = "b" }, "live"u8.ToArray()),
            (new SingleMessageMetadata { PartitionKey = "c", NullValue = true }, ReadOnlyMemory<byte>.Empty),
        };
        var metadata = new MessageMetadata { ProducerName = "compactor", SequenceId = 0, PublishTime = 1, NumMessagesInBatch = 3 };

        Broker.Publish(Topic, metadata, BatchPayload.Encode(items));
        var messages = await ReceiveAsync(consumer, 2);

        Assert.Equal(["b", "c"], messages.Select(m => m.Key));
        Assert.Equal([1, 2], messages.Select(m => m.Id.BatchIndex));
        Assert.True(messages[1].IsNullValue);
        await AssertOnlyAMarkerComesNextAsync(consumer);
    }

    [Fact]
    public async Task Batch_entry_is_acknowledged_once_all_its_messages_are()
    {
        await using var consumer = await ConsumerAsync(ackReceipts: true);
        var (metadata, payload) = Batch(CompressionType.None, 3, i => ($"k{i}", Payload(i)));
        Broker.Publish(Topic, metadata, payload);
        var messages = await ReceiveAsync(consumer, 3);
        var subscription = Broker.FindTopic(Topic)!.FindSubscription("sub")!;

        await consumer.AcknowledgeAsync(messages[0].Id);
        await consumer.AcknowledgeAsync(messages[2].Id);
        Assert.False(subscription.IsAcknowledged(0));

        await consumer.AcknowledgeAsync(messages[1].Id);
        Assert.True(subscription.IsAcknowledged(0));
        Assert.Equal(1, Broker.Received(BaseCommand.Types.Type.Ack));
    }

    private static (MessageMetadata Metadata, byte[] Payload) Batch(CompressionType compression, int count, Func<int, (string Key, byte[] Payload)> item)
    {
        var batch = BatchPayload.Encode(Enumerable.Range(0, count).Select(i =>
        {
            var (key, payload) = item(i);
            return (new SingleMessageMetadata { PartitionKey = key }, (ReadOnlyMemory<byte>)payload);
        }));
        var metadata = new MessageMetadata { ProducerName = "batcher", SequenceId = 0, PublishTime = 1_700_000_000_000, NumMessagesInBatch = count };
        if (compression == CompressionType.None)
        {
            return (metadata, batch);
        }
        metadata.Compression = compression;
        metadata.UncompressedSize = (uint)batch.Length;
        return (metadata, PayloadCompression.Compress(compression, batch));
    }

    [Fact]
    public async Task Message_above_the_brokers_maximum_is_refused_before_sending()
    {
        await using var broker = Sync.Testing.Pulsar.FakePulsarBroker.Start(new Sync.Testing.Pulsar.FakePulsarBrokerOptions { MaxMessageSize = 1024 });
        await using var client = new PulsarClient(ClientOptions(broker.ServiceUrl));
        await using var producer = await client.CreateProducerAsync(new ProducerOptions { Topic = Topic });

        var error = await Assert.ThrowsAsync<ArgumentException>(async () => await producer.SendAsync(new OutgoingMessage { Data = new byte[2048] }));

        Assert.Contains("exceeds the broker's maximum message size of 1024 bytes", error.Message, StringComparison.Ordinal);
        Assert.Equal(0ul, (await producer.SendAsync(new OutgoingMessage { Data = new byte[512] })).EntryId);
    }
}
