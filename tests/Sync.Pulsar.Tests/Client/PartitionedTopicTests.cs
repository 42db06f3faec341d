namespace Sync.Pulsar.Tests.Client;

public class PartitionedTopicTests : ClientTestBase
{
    [Theory]
    [InlineData("", 0)]
    [InlineData("a", 97)]
    [InlineData("hello", 99162322)]
    [InlineData("Aa", 2112)]
    [InlineData("BB", 2112)]
    public void Java_string_hash_matches_String_hashCode(string key, int expected)
    {
        // Known values of Java's String.hashCode(), including the classic "Aa"/"BB" collision.
        Assert.Equal(expected, KeyHashing.JavaStringHash(key));
    }

    [Fact]
    public void Java_string_hash_of_a_long_key_wraps_and_is_masked_positive()
    {
        var key = new string('z', 40);
        var expected = 0;
        foreach (var c in key)
        {
            expected = unchecked((expected * 31) + c);
        }

        Assert.Equal(expected & int.MaxValue, KeyHashing.JavaStringHash(key));
        Assert.True(KeyHashing.JavaStringHash(key) >= 0);
    }

    [Theory]
    [InlineData("", 0x00000000)]
    [InlineData("hello", 0x248bfa47)]
    [InlineData("The quick brown fox jumps over the lazy dog", 0x2e4ff723)]
    public void Murmur3_matches_the_reference_vectors(string input, int expected)
    {
        Assert.Equal(expected, KeyHashing.Murmur3_32(Encoding.UTF8.GetBytes(input)));
    }

    [Fact]
    public void Partition_of_a_key_is_its_hash_modulo_the_partition_count()
    {
        Assert.Equal(99162322 % 7, KeyHashing.PartitionFor("hello", 7));
        Assert.Equal((0x248bfa47 & int.MaxValue) % 5, KeyHashing.PartitionFor("hello", 5, HashingScheme.Murmur3_32Hash));
    }

    [Fact]
    public async Task Keyed_messages_land_in_the_partition_the_Java_client_would_choose()
    {
        Broker.CreatePartitionedTopic(Topic, 4);
        await using var producer = await Client.CreateProducerAsync(new ProducerOptions { Topic = Topic });

        var ids = new List<(string Key, MessageId Id)>();
        for (var i = 0; i < 40; i++)
        {
            var key = $"customer-{i}";
            ids.Add((key, await producer.SendAsync(new OutgoingMessage { Key = key, Data = Encoding.UTF8.GetBytes(key) })));
        }

        Assert.IsType<PartitionedProducer>(producer);
        Assert.All(ids, x => Assert.Equal(KeyHashing.PartitionFor(x.Key, 4), x.Id.Partition));
        Assert.All(Enumerable.Range(0, 4), p => Assert.All(
            Broker.FindTopic(TopicName.Partition(Topic, p))!.Entries,
            e => Assert.Equal(p, KeyHashing.PartitionFor(e.Metadata.PartitionKey, 4))));
    }

    [Fact]
    public async Task Keyless_messages_are_spread_round_robin()
    {
        Broker.CreatePartitionedTopic(Topic, 3);
        await using var producer = await Client.CreateProducerAsync(new ProducerOptions { Topic = Topic });

        for (var i = 0; i < 9; i++)
        {
            await producer.SendAsync(new OutgoingMessage { Data = new[] { (byte)i } });
        }

        Assert.All(Enumerable.Range(0, 3), p => Assert.Equal(3, Broker.FindTopic(TopicName.Partition(Topic, p))!.Entries.Count));
    }

    [Fact]
    public async Task Partitioned_consumer_receives_every_partition_and_acks_each_one()
    {
        Broker.CreatePartitionedTopic(Topic, 3);
        await using var consumer = await Client.SubscribeAsync(new ConsumerOptions
        {
            Topic = Topic,
            SubscriptionName = "sub",
            InitialPosition = SubscriptionInitialPosition.Earliest,
            AckReceiptEnabled = true,
        });
        await using var producer = await Client.CreateProducerAsync(new ProducerOptions { Topic = Topic });
        for (var i = 0; i < 30; i++)
        {
            await producer.SendAsync(new OutgoingMessage { Key = $"k{i}", Data = Encoding.UTF8.GetBytes($"m{i}") });
        }

        var received = await ReceiveAsync(consumer, 30);
        foreach (var message in received)
        {
            await consumer.AcknowledgeAsync(message.Id);
        }

        Assert.IsType<PartitionedConsumer>(consumer);
        Assert.Equal(Enumerable.Range(0, 30).Select(i => $"m{i}").Order(), received.Select(m => Encoding.UTF8.GetString(m.Data.Span)).Order());
        Assert.All(received, m => Assert.Equal(KeyHashing.PartitionFor(m.Key!, 3), m.Id.Partition));
        // Per key (and per partition) the order is the send order.
        foreach (var partition in received.GroupBy(m => m.Id.Partition))
        {
            Assert.Equal(partition.Select(m => m.Id.EntryId).Order(), partition.Select(m => m.Id.EntryId));
        }
        Assert.All(Enumerable.Range(0, 3), p =>
        {
            var topic = Broker.FindTopic(TopicName.Partition(Topic, p))!;
            Assert.Equal((ulong)topic.Entries.Count, topic.FindSubscription("sub")!.AckedBefore);
        });
    }

    [Fact]
    public async Task A_single_partition_can_be_consumed_on_its_own()
    {
        Broker.CreatePartitionedTopic(Topic, 2);
        await using var producer = await Client.CreateProducerAsync(new ProducerOptions { Topic = Topic });
        await producer.SendAsync(new OutgoingMessage { Key = "hello", Data = "x"u8.ToArray() });

        var partition = KeyHashing.PartitionFor("hello", 2);
        await using var consumer = await Client.SubscribeAsync(new ConsumerOptions
        {
            Topic = TopicName.Partition(Topic, partition),
            SubscriptionName = "one",
            InitialPosition = SubscriptionInitialPosition.Earliest,
        });

        var message = Assert.Single(await ReceiveAsync(consumer, 1));
        Assert.IsType<PulsarConsumer>(consumer);
        Assert.Equal(partition, message.Id.Partition);
    }
}
