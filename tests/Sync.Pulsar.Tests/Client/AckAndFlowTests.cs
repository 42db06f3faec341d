namespace Sync.Pulsar.Tests.Client;

public class AckAndFlowTests : ClientTestBase
{
    private async Task ProduceAsync(int count)
    {
        await using var producer = await ProducerAsync();
        await Task.WhenAll(Enumerable.Range(0, count).Select(i => producer.SendAsync(new OutgoingMessage { Data = Encoding.UTF8.GetBytes($"m{i}") }).AsTask()));
    }

    private Sync.Testing.Pulsar.FakeSubscription Subscription(string name = "sub") => Broker.FindTopic(Topic)!.FindSubscription(name)!;

    [Fact]
    public async Task Individually_acknowledged_messages_are_not_delivered_again()
    {
        await ProduceAsync(10);
        await using (var consumer = await ConsumerAsync(ackReceipts: true))
        {
            foreach (var message in await ReceiveAsync(consumer, 10))
            {
                await consumer.AcknowledgeAsync(message.Id);
            }
        }

        await using var again = await ConsumerAsync();
        await AssertOnlyAMarkerComesNextAsync(again);
        Assert.Equal(10ul, Subscription().AckedBefore);
    }

    [Fact]
    public async Task Unacknowledged_messages_come_back_to_the_next_consumer()
    {
        await ProduceAsync(6);
        await using (var consumer = await ConsumerAsync(ackReceipts: true))
        {
            var messages = await ReceiveAsync(consumer, 6);
            foreach (var message in messages.Where((_, i) => i % 2 == 0))
            {
                await consumer.AcknowledgeAsync(message.Id);
            }
        }

        await using var again = await ConsumerAsync();
        var redelivered = await ReceiveAsync(again, 3);

        Assert.Equal(["m1", "m3", "m5"], redelivered.Select(m => Encoding.UTF8.GetString(m.Data.Span)));
        await AssertOnlyAMarkerComesNextAsync(again);
    }

    [Fact]
    public async Task Cumulative_ack_covers_every_earlier_message()
    {
        await ProduceAsync(8);
        await using var consumer = await ConsumerAsync(ackReceipts: true);
        var messages = await ReceiveAsync(consumer, 8);

        await consumer.AcknowledgeCumulativeAsync(messages[4].Id);

        Assert.Equal(5ul, Subscription().AckedBefore);
        Assert.Equal(1, Broker.Received(BaseCommand.Types.Type.Ack));
    }

    [Fact]
    public async Task Ack_receipt_is_awaited_when_enabled()
    {
        await ProduceAsync(1);
        await using var consumer = await ConsumerAsync(ackReceipts: true);
        var message = (await ReceiveAsync(consumer, 1))[0];

        await consumer.AcknowledgeAsync(message.Id);

        // With receipts the ack has been processed by the broker when the call returns: no polling.
        Assert.True(Broker.FindTopic(Topic)!.FindSubscription("sub")!.IsAcknowledged(message.Id.EntryId));
    }

    [Fact]
    public async Task Redeliver_unacknowledged_sends_everything_unacked_again_on_exclusive()
    {
        await ProduceAsync(4);
        await using var consumer = await ConsumerAsync(ackReceipts: true);
        var first = await ReceiveAsync(consumer, 4);
        await consumer.AcknowledgeAsync(first[0].Id);

        await consumer.RedeliverUnacknowledgedMessagesAsync();
        var again = await ReceiveAsync(consumer, 3);

        Assert.Equal(first.Skip(1).Select(m => m.Id), again.Select(m => m.Id));
    }

    [Fact]
    public async Task Negative_ack_on_shared_redelivers_with_a_higher_count()
    {
        await ProduceAsync(3);
        await using var consumer = await ConsumerAsync(type: SubscriptionType.Shared);
        var first = await ReceiveAsync(consumer, 3);

        await consumer.RedeliverAsync([first[1].Id]);
        var again = (await ReceiveAsync(consumer, 1))[0];

        Assert.Equal(first[1].Id, again.Id);
        Assert.Equal(1u, again.RedeliveryCount);
        Assert.Equal(0u, first[1].RedeliveryCount);
    }

    [Fact]
    public async Task Shared_subscription_spreads_messages_without_duplicates()
    {
        await using var one = await ConsumerAsync(type: SubscriptionType.Shared, receiverQueueSize: 10);
        await using var two = await ConsumerAsync(type: SubscriptionType.Shared, receiverQueueSize: 10);
        await ProduceAsync(100);

        var received = new List<PulsarMessage>();
        using var timeout = new CancellationTokenSource(Patience);
        var perConsumer = new int[2];
        while (received.Count < 100)
        {
            // Each receiver takes what it has; permits flow back as they are taken.
            foreach (var (consumer, index) in new[] { (one, 0), (two, 1) })
            {
                while (consumer.QueuedMessages > 0)
                {
                    received.Add(await consumer.ReceiveAsync(timeout.Token));
                    perConsumer[index]++;
                }
            }
            await Task.Delay(1, timeout.Token);
        }

        Assert.Equal(100, received.Select(m => m.Id).Distinct().Count());
        Assert.All(perConsumer, count => Assert.True(count > 0, "both consumers must get messages"));
    }

    [Fact]
    public async Task Second_exclusive_consumer_is_refused_as_busy()
    {
        await using var first = await ConsumerAsync();

        await Assert.ThrowsAsync<ConsumerBusyException>(() => ConsumerAsync());
    }

    [Fact]
    public async Task Slow_consumer_keeps_its_queue_within_the_receiver_queue_size()
    {
        const int queueSize = 20;
        await using var consumer = await ConsumerAsync(receiverQueueSize: queueSize);
        await ProduceAsync(500);
        var subscription = Broker.FindTopic(Topic)!.FindSubscription("sub")!;

        // With no permit left the broker cannot deliver more: the queue stays as it is until the
        // consumer takes from it.
        await EventuallyAsync(() => consumer.QueuedMessages == queueSize && subscription.PermitsLeft <= 0, "the first permits were used");
        Assert.Equal(queueSize, consumer.QueuedMessages);
        Assert.Equal(queueSize, subscription.DeliveredCount);

        var peak = 0;
        using var timeout = new CancellationTokenSource(Patience);
        for (var i = 0; i < 500; i++)
        {
            peak = Math.Max(peak, consumer.QueuedMessages);
            await consumer.ReceiveAsync(timeout.Token);
        }

        Assert.True(peak <= queueSize, $"queue peaked at {peak}, above its limit of {queueSize}");
        Assert.Equal(500, subscription.DeliveredCount);
    }

    [Fact]
    public async Task Permits_are_topped_up_by_half_the_queue()
    {
        await using var consumer = await ConsumerAsync(receiverQueueSize: 10);
        await ProduceAsync(10);
        await EventuallyAsync(() => consumer.QueuedMessages == 10, "the queue filled");
        var flowsBefore = Broker.Received(BaseCommand.Types.Type.Flow);

        await ReceiveAsync(consumer, 4);
        Assert.Equal(flowsBefore, Broker.Received(BaseCommand.Types.Type.Flow));

        // The FLOW the fifth take sends comes after any the first four could have sent, on the
        // same connection: once the broker holds its 5 permits, it has counted every FLOW before.
        await ReceiveAsync(consumer, 1);
        await EventuallyAsync(() => Subscription().PermitsLeft >= 5, "one FLOW of 5 permits was sent");
        Assert.Equal(flowsBefore + 1, Broker.Received(BaseCommand.Types.Type.Flow));
        Assert.Equal(5, Subscription().PermitsLeft);
    }

    [Fact]
    public async Task A_list_of_messages_is_acknowledged_with_one_command()
    {
        await ProduceAsync(100);
        await using var consumer = await ConsumerAsync(type: SubscriptionType.Shared, ackReceipts: true);
        var messages = await ReceiveAsync(consumer, 100);

        await consumer.AcknowledgeAsync(messages);

        Assert.Equal(1, Broker.Received(BaseCommand.Types.Type.Ack));
        Assert.Equal(100ul, Subscription().AckedBefore);
    }

    [Fact]
    public async Task A_list_acknowledgement_through_the_interface_works_for_partitioned_topics()
    {
        Broker.CreatePartitionedTopic(Topic, 2);
        await using (var producer = await Client.CreateProducerAsync(new ProducerOptions { Topic = Topic }))
        {
            for (var i = 0; i < 10; i++)
            {
                await producer.SendAsync(new OutgoingMessage { Key = $"k{i}", Data = new[] { (byte)i } });
            }
        }
        await using var consumer = await Client.SubscribeAsync(new ConsumerOptions
        {
            Topic = Topic,
            SubscriptionName = "sub",
            InitialPosition = SubscriptionInitialPosition.Earliest,
            AckReceiptEnabled = true,
        });

        await consumer.AcknowledgeAsync(await ReceiveAsync(consumer, 10));

        Assert.Equal(2, Broker.Received(BaseCommand.Types.Type.Ack));
        Assert.All(Enumerable.Range(0, 2), p =>
        {
            var partition = Broker.FindTopic(TopicName.Partition(Topic, p))!;
            Assert.Equal((ulong)partition.Entries.Count, partition.FindSubscription("sub")!.AckedBefore);
        });
    }
}
