namespace Sync.Pulsar.Tests.Client;

public class SeekAndLastIdTests : ClientTestBase
{
    private static string Text(PulsarMessage message) => Encoding.UTF8.GetString(message.Data.Span);

    [Fact]
    public async Task Last_message_id_is_the_last_entry()
    {
        var ids = await ProduceNumberedAsync(3);
        await using var consumer = await ConsumerAsync();

        var last = await consumer.GetLastMessageIdAsync();

        Assert.Equal(ids[^1].LedgerId, last.LedgerId);
        Assert.Equal(ids[^1].EntryId, last.EntryId);
        Assert.Equal(-1, last.BatchIndex);
    }

    [Fact]
    public async Task Last_message_id_of_a_batch_entry_names_its_last_index()
    {
        await using var consumer = await ConsumerAsync();
        var batch = BatchPayload.Encode(Enumerable.Range(0, 4).Select(i => (new SingleMessageMetadata(), (ReadOnlyMemory<byte>)new byte[] { (byte)i })));
        Broker.Publish(Topic, new MessageMetadata { ProducerName = "p", SequenceId = 0, PublishTime = 1, NumMessagesInBatch = 4 }, batch);

        var last = await consumer.GetLastMessageIdAsync();

        Assert.Equal(0ul, last.EntryId);
        Assert.Equal(3, last.BatchIndex);
    }

    [Fact]
    public async Task Last_message_id_of_an_empty_topic_is_before_the_first_entry()
    {
        await using var consumer = await ConsumerAsync();

        var last = await consumer.GetLastMessageIdAsync();

        Assert.Equal(ulong.MaxValue, last.EntryId);
        Assert.True(last < new MessageId(last.LedgerId, 0));
    }

    [Fact]
    public async Task Seek_to_a_message_id_replays_from_that_message()
    {
        var ids = await ProduceNumberedAsync(5);
        await using var consumer = await ConsumerAsync(ackReceipts: true);
        foreach (var message in await ReceiveAsync(consumer, 5))
        {
            await consumer.AcknowledgeAsync(message.Id);
        }

        await consumer.SeekAsync(ids[2]);
        var replayed = await ReceiveAsync(consumer, 3);

        Assert.Equal(["m2", "m3", "m4"], replayed.Select(Text));
        Assert.Equal(2, consumer.SubscribeCount);
        await AssertOnlyAMarkerComesNextAsync(consumer);
    }

    [Fact]
    public async Task Seek_to_earliest_replays_everything()
    {
        await ProduceNumberedAsync(3);
        await using var consumer = await ConsumerAsync();
        await ReceiveAsync(consumer, 3);

        await consumer.SeekAsync(MessageId.Earliest);

        Assert.Equal(["m0", "m1", "m2"], (await ReceiveAsync(consumer, 3)).Select(Text));
    }

    [Fact]
    public async Task Seek_by_publish_time_starts_at_the_first_message_at_or_after_it()
    {
        await using var consumer = await ConsumerAsync();
        for (var i = 0; i < 4; i++)
        {
            Broker.Publish(Topic, new MessageMetadata { ProducerName = "p", SequenceId = (ulong)i, PublishTime = 1000 + ((ulong)i * 100) }, Encoding.UTF8.GetBytes($"t{i}"));
        }
        await ReceiveAsync(consumer, 4);

        await consumer.SeekAsync(DateTimeOffset.FromUnixTimeMilliseconds(1150));

        Assert.Equal(["t2", "t3"], (await ReceiveAsync(consumer, 2)).Select(Text));
    }

    private async Task<PulsarConsumer> ReaderAsync(MessageId start) =>
        (PulsarConsumer)await Client.SubscribeAsync(new ConsumerOptions { Topic = Topic, SubscriptionName = "reader", StartMessageId = start });

    [Fact]
    public async Task Seek_on_a_reader_back_to_a_message_id_replays_from_that_message()
    {
        var ids = await ProduceNumberedAsync(5);
        await using var reader = await ReaderAsync(MessageId.Earliest);
        await ReceiveAsync(reader, 5);

        await reader.SeekAsync(ids[1]);

        Assert.Equal(["m1", "m2", "m3", "m4"], (await ReceiveAsync(reader, 4)).Select(Text));
        Assert.Equal(2, reader.SubscribeCount);
        await AssertOnlyAMarkerComesNextAsync(reader);
    }

    [Fact]
    public async Task Seek_on_a_reader_forward_skips_what_lies_before()
    {
        var ids = await ProduceNumberedAsync(6);
        await using var reader = await ReaderAsync(MessageId.Earliest);
        Assert.Equal("m0", Text(await reader.ReceiveAsync()));

        await reader.SeekAsync(ids[4]);

        Assert.Equal(["m4", "m5"], (await ReceiveAsync(reader, 2)).Select(Text));
        await AssertOnlyAMarkerComesNextAsync(reader);
    }

    [Fact]
    public async Task Seek_on_a_reader_into_a_batch_starts_at_that_message_of_the_batch()
    {
        var batch = BatchPayload.Encode(Enumerable.Range(0, 5).Select(i => (new SingleMessageMetadata(), (ReadOnlyMemory<byte>)Encoding.UTF8.GetBytes($"b{i}"))));
        var entry = Broker.Publish(Topic, new MessageMetadata { ProducerName = "p", SequenceId = 0, PublishTime = 1, NumMessagesInBatch = 5 }, batch);
        await using var reader = await ReaderAsync(MessageId.Earliest);
        await ReceiveAsync(reader, 5);

        await reader.SeekAsync(entry with { BatchIndex = 3 });

        Assert.Equal(["b3", "b4"], (await ReceiveAsync(reader, 2)).Select(Text));
        await AssertOnlyAMarkerComesNextAsync(reader);
    }

    [Fact]
    public async Task Seek_on_a_reader_by_publish_time_starts_at_the_first_message_at_or_after_it()
    {
        for (var i = 0; i < 4; i++)
        {
            Broker.Publish(Topic, new MessageMetadata { ProducerName = "p", SequenceId = (ulong)i, PublishTime = 1000 + ((ulong)i * 100) }, Encoding.UTF8.GetBytes($"t{i}"));
        }
        await using var reader = await ReaderAsync(MessageId.Earliest);
        await ReceiveAsync(reader, 4);

        await reader.SeekAsync(DateTimeOffset.FromUnixTimeMilliseconds(1150));

        Assert.Equal(["t2", "t3"], (await ReceiveAsync(reader, 2)).Select(Text));
        await AssertOnlyAMarkerComesNextAsync(reader);
    }

    [Fact]
    public async Task A_reader_keeps_its_seek_position_across_a_later_reconnect()
    {
        var ids = await ProduceNumberedAsync(4);
        await using var reader = await ReaderAsync(MessageId.Earliest);
        await ReceiveAsync(reader, 4);
        await reader.SeekAsync(ids[1]);
        Assert.Equal("m1", Text(await reader.ReceiveAsync()));

        Broker.DropAllConnections();

        // Resumes after m1, the last message received, not at the seek target again.
        Assert.Equal(["m2", "m3"], (await ReceiveAsync(reader, 2)).Select(Text));
        await AssertOnlyAMarkerComesNextAsync(reader);
    }

    [Fact]
    public async Task A_readers_cursor_is_gone_once_the_reader_closes_after_a_seek()
    {
        var ids = await ProduceNumberedAsync(2);
        var reader = await ReaderAsync(MessageId.Earliest);
        await ReceiveAsync(reader, 2);
        await reader.SeekAsync(ids[0]);
        await ReceiveAsync(reader, 2);

        await reader.DisposeAsync();

        Assert.Null(Broker.FindTopic(Topic)!.FindSubscription("reader"));
    }
}
