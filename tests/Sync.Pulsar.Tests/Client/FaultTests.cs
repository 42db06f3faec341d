namespace Sync.Pulsar.Tests.Client;

public class FaultTests : ClientTestBase
{
    [Fact]
    public async Task Corrupt_message_is_discarded_and_reported_with_a_checksum_validation_ack()
    {
        await using var consumer = await ConsumerAsync();
        await using var producer = await ProducerAsync();
        Broker.Faults.CorruptNextDeliveries(1);

        await producer.SendAsync(new OutgoingMessage { Data = "broken"u8.ToArray() });
        await producer.SendAsync(new OutgoingMessage { Data = "fine"u8.ToArray() });
        var message = (await ReceiveAsync(consumer, 1))[0];

        Assert.Equal("fine", Encoding.UTF8.GetString(message.Data.Span));
        Assert.Equal(1, Broker.Faults.Fired(nameof(FakeBrokerFaults.CorruptNextDeliveries)));
        await EventuallyAsync(() => Broker.FindTopic(Topic)!.FindSubscription("sub")!.IsAcknowledged(0), "the corrupt entry was acked with a validation error");
    }

    [Fact]
    public async Task Send_error_fails_that_send_only()
    {
        await using var producer = await ProducerAsync();
        Broker.Faults.FailNextSends(1, ServerError.PersistenceError);

        var error = await Assert.ThrowsAsync<PulsarServerException>(async () => await producer.SendAsync(new OutgoingMessage { Data = "a"u8.ToArray() }));
        var id = await producer.SendAsync(new OutgoingMessage { Data = "b"u8.ToArray() });

        Assert.Equal(ServerError.PersistenceError, error.Error);
        Assert.Equal(0ul, id.EntryId);
        Assert.Equal(PulsarObjectState.Connected, producer.State);
    }

    [Fact]
    public async Task Subscribe_error_surfaces_as_its_own_exception_type()
    {
        Broker.Faults.FailNextSubscribes(1, ServerError.ServiceNotReady);

        await Assert.ThrowsAsync<ServiceNotReadyException>(() => ConsumerAsync());
        await using var consumer = await ConsumerAsync();

        Assert.Equal(PulsarObjectState.Connected, consumer.State);
    }

    [Fact]
    public async Task Read_compacted_on_a_shared_subscription_is_refused_before_asking_the_broker()
    {
        var error = await Assert.ThrowsAsync<ArgumentException>(() => Client.SubscribeAsync(new ConsumerOptions
        {
            Topic = Topic,
            SubscriptionName = "s",
            SubscriptionType = SubscriptionType.Shared,
            ReadCompacted = true,
        }));

        Assert.Contains("readCompacted (true) requires an Exclusive or Failover subscription", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Disposing_a_producer_waits_for_outstanding_receipts()
    {
        var producer = await ProducerAsync();
        var sends = Enumerable.Range(0, 200).Select(i => producer.SendAsync(new OutgoingMessage { Data = BitConverter.GetBytes(i) }).AsTask()).ToList();

        await producer.DisposeAsync();

        await Task.WhenAll(sends).WaitAsync(TimeSpan.FromSeconds(5));
        Assert.Equal(200, Broker.FindTopic(Topic)!.Entries.Count);
        Assert.Equal(1, Broker.Received(BaseCommand.Types.Type.CloseProducer));
        await Assert.ThrowsAsync<PulsarObjectClosedException>(async () => await producer.SendAsync(new OutgoingMessage()));
    }

    [Fact]
    public async Task Connection_still_works_after_a_refused_request()
    {
        await using var first = await ConsumerAsync();
        await Assert.ThrowsAsync<ConsumerBusyException>(() => ConsumerAsync());

        await using var producer = await ProducerAsync();
        await producer.SendAsync(new OutgoingMessage { Data = "ok"u8.ToArray() });

        Assert.Equal("ok", Encoding.UTF8.GetString((await ReceiveAsync(first, 1))[0].Data.Span));
        Assert.Equal(1, Broker.ConnectionCount);
    }
}
