namespace Sync.Pulsar.Tests.Client;

/// <summary>Acknowledging single messages of a batch entry (ack_set), against a broker with acknowledgmentAtBatchIndexLevelEnabled.</summary>
public class BatchIndexAckTests : ClientTestBase
{
    protected override FakePulsarBrokerOptions BrokerOptions => new() { AcknowledgmentAtBatchIndexLevelEnabled = true };

    private static string Text(PulsarMessage message) => Encoding.UTF8.GetString(message.Data.Span);

    private MessageId PublishBatchOfTen()
    {
        var batch = BatchPayload.Encode(Enumerable.Range(0, 10).Select(i => (new SingleMessageMetadata(), (ReadOnlyMemory<byte>)Encoding.UTF8.GetBytes($"b{i}"))));
        return Broker.Publish(Topic, new MessageMetadata { ProducerName = "p", SequenceId = 0, PublishTime = 1, NumMessagesInBatch = 10 }, batch);
    }

    private async Task<PulsarConsumer> BatchAckingConsumerAsync(SubscriptionType type = SubscriptionType.Shared, bool batchIndexAck = true) =>
        (PulsarConsumer)await Client.SubscribeAsync(new ConsumerOptions
        {
            Topic = Topic,
            SubscriptionName = "sub",
            SubscriptionType = type,
            InitialPosition = SubscriptionInitialPosition.Earliest,
            AckReceiptEnabled = true,
            BatchIndexAcknowledgment = batchIndexAck,
        });

    [Theory]
    [InlineData(SubscriptionType.Shared)]
    [InlineData(SubscriptionType.Exclusive)]
    public async Task Three_messages_acked_inside_a_batch_of_ten_do_not_come_back_after_a_reconnect(SubscriptionType type)
    {
        var entry = PublishBatchOfTen();
        await using var consumer = await BatchAckingConsumerAsync(type);
        var received = await ReceiveAsync(consumer, 10);

        foreach (var index in new[] { 1, 4, 7 })
        {
            await consumer.AcknowledgeAsync(received[index].Id);
        }
        var brokerView = Broker.FindTopic(Topic)!.FindSubscription("sub")!.BatchAckSet(entry.EntryId);
        Broker.DropAllConnections();
        var again = await ReceiveAsync(consumer, 7);

        Assert.Equal(AckSet.FromPending(10, [0, 2, 3, 5, 6, 8, 9]), brokerView);
        Assert.Equal(["b0", "b2", "b3", "b5", "b6", "b8", "b9"], again.Select(Text));
        Assert.Equal([0, 2, 3, 5, 6, 8, 9], again.Select(m => m.Id.BatchIndex));
        await AssertOnlyAMarkerComesNextAsync(consumer);
    }

    [Fact]
    public async Task Messages_of_a_batch_received_before_a_reconnect_can_still_be_acked_one_by_one_after_it()
    {
        PublishBatchOfTen();
        await using var consumer = await BatchAckingConsumerAsync();
        var received = await ReceiveAsync(consumer, 10);
        using var timeout = new CancellationTokenSource(Patience);

        Broker.DropAllConnections();
        await consumer.OnStateChangeTo(PulsarObjectState.Reconnecting, timeout.Token);
        await consumer.OnStateChangeTo(PulsarObjectState.Connected, timeout.Token);
        await consumer.AcknowledgeAsync([received[1].Id, received[4].Id, received[7].Id]);
        Broker.DropAllConnections();
        await consumer.OnStateChangeTo(PulsarObjectState.Reconnecting, timeout.Token);

        var remaining = new HashSet<string>();
        while (remaining.Count < 7)
        {
            remaining.Add(Text(await consumer.ReceiveAsync(timeout.Token)));
        }
        Assert.Equal(["b0", "b2", "b3", "b5", "b6", "b8", "b9"], remaining.Order());
        await AssertOnlyAMarkerComesNextAsync(consumer);
    }

    [Fact]
    public async Task Acknowledging_the_rest_of_a_partly_acked_batch_acknowledges_the_entry()
    {
        var entry = PublishBatchOfTen();
        await using var consumer = await BatchAckingConsumerAsync();
        var received = await ReceiveAsync(consumer, 10);
        await consumer.AcknowledgeAsync([received[1].Id, received[4].Id, received[7].Id]);
        Broker.DropAllConnections();
        var again = await ReceiveAsync(consumer, 7);

        await consumer.AcknowledgeAsync(again);

        var subscription = Broker.FindTopic(Topic)!.FindSubscription("sub")!;
        Assert.True(subscription.IsAcknowledged(entry.EntryId));
        Assert.Null(subscription.BatchAckSet(entry.EntryId));
    }

    [Fact]
    public async Task A_cumulative_ack_inside_a_batch_brings_back_only_the_later_messages()
    {
        PublishBatchOfTen();
        await using var consumer = await BatchAckingConsumerAsync(SubscriptionType.Exclusive);
        var received = await ReceiveAsync(consumer, 10);

        await consumer.AcknowledgeCumulativeAsync(received[4].Id);
        Broker.DropAllConnections();

        Assert.Equal(["b5", "b6", "b7", "b8", "b9"], (await ReceiveAsync(consumer, 5)).Select(Text));
        await AssertOnlyAMarkerComesNextAsync(consumer);
    }

    [Fact]
    public async Task A_cumulative_ack_of_the_last_message_acknowledges_everything()
    {
        var first = PublishBatchOfTen();
        var second = PublishBatchOfTen();
        await using var consumer = await BatchAckingConsumerAsync(SubscriptionType.Exclusive);
        var received = await ReceiveAsync(consumer, 20);
        await consumer.AcknowledgeAsync(received[3].Id);

        await consumer.AcknowledgeCumulativeAsync(received[^1].Id);
        Broker.DropAllConnections();

        await AssertOnlyAMarkerComesNextAsync(consumer);
        var subscription = Broker.FindTopic(Topic)!.FindSubscription("sub")!;
        Assert.True(subscription.IsAcknowledged(first.EntryId) && subscription.IsAcknowledged(second.EntryId));
    }

    [Fact]
    public async Task Without_batch_index_ack_on_the_client_a_partly_acked_batch_comes_back_whole()
    {
        PublishBatchOfTen();
        await using var consumer = await BatchAckingConsumerAsync(batchIndexAck: false);
        var received = await ReceiveAsync(consumer, 10);
        await consumer.AcknowledgeAsync([received[1].Id, received[4].Id, received[7].Id]);

        Broker.DropAllConnections();

        Assert.Equal(10, (await ReceiveAsync(consumer, 10)).Count);
        await AssertOnlyAMarkerComesNextAsync(consumer);
    }
}

/// <summary>The same client against a broker that keeps no batch-index acks (the broker default).</summary>
public class BatchIndexAckOnPlainBrokerTests : ClientTestBase
{
    [Fact]
    public async Task A_broker_without_batch_index_ack_ignores_partial_acks_and_takes_the_final_one()
    {
        var batch = BatchPayload.Encode(Enumerable.Range(0, 10).Select(i => (new SingleMessageMetadata(), (ReadOnlyMemory<byte>)new[] { (byte)i })));
        var entry = Broker.Publish(Topic, new MessageMetadata { ProducerName = "p", SequenceId = 0, PublishTime = 1, NumMessagesInBatch = 10 }, batch);
        await using var consumer = (PulsarConsumer)await Client.SubscribeAsync(new ConsumerOptions
        {
            Topic = Topic,
            SubscriptionName = "sub",
            InitialPosition = SubscriptionInitialPosition.Earliest,
            AckReceiptEnabled = true,
            BatchIndexAcknowledgment = true,
        });
        var received = await ReceiveAsync(consumer, 10);
        await consumer.AcknowledgeAsync([received[1].Id, received[4].Id, received[7].Id]);

        Broker.DropAllConnections();
        var again = await ReceiveAsync(consumer, 10);
        await consumer.AcknowledgeAsync(again);

        Assert.True(Broker.FindTopic(Topic)!.FindSubscription("sub")!.IsAcknowledged(entry.EntryId));
    }
}
