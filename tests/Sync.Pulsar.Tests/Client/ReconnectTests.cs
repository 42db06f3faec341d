namespace Sync.Pulsar.Tests.Client;

/// <summary>Losses of connection, producer or consumer: no message lost, none acknowledged by mistake.</summary>
public class ReconnectTests : ClientTestBase
{
    private static string Text(PulsarMessage message) => Encoding.UTF8.GetString(message.Data.Span);

    [Fact]
    public async Task Consumer_resubscribes_after_the_connection_drops_and_loses_nothing()
    {
        await using var consumer = await ConsumerAsync(ackReceipts: true);
        await using var producer = await ProducerAsync();
        for (var i = 0; i < 10; i++)
        {
            await producer.SendAsync(new OutgoingMessage { Data = Encoding.UTF8.GetBytes($"m{i}") });
        }
        var before = await ReceiveAsync(consumer, 5);
        foreach (var message in before)
        {
            await consumer.AcknowledgeAsync(message.Id);
        }

        Broker.DropAllConnections();
        await EventuallyAsync(() => consumer.SubscribeCount == 2 && consumer.State == PulsarObjectState.Connected, "the consumer resubscribed");
        await producer.SendAsync(new OutgoingMessage { Data = "m10"u8.ToArray() });
        var after = await ReceiveAsync(consumer, 6);

        Assert.Equal(Enumerable.Range(5, 6).Select(i => $"m{i}"), after.Select(Text));
        Assert.Equal(1, Broker.Faults.Fired(nameof(FakePulsarBroker.DropAllConnections)));
    }

    [Fact]
    public async Task Receive_waiting_during_the_loss_completes_after_the_resubscribe()
    {
        await using var consumer = await ConsumerAsync();
        var waiting = consumer.ReceiveAsync().AsTask();

        Broker.DropAllConnections();
        await EventuallyAsync(() => consumer.SubscribeCount == 2, "the consumer resubscribed");
        await using var producer = await ProducerAsync();
        await producer.SendAsync(new OutgoingMessage { Data = "late"u8.ToArray() });

        Assert.Equal("late", Text(await waiting.WaitAsync(Patience)));
    }

    [Fact]
    public async Task Messages_received_but_not_acknowledged_before_the_loss_come_again()
    {
        await using var producer = await ProducerAsync();
        await producer.SendAsync(new OutgoingMessage { Data = "unacked"u8.ToArray() });
        await using var consumer = await ConsumerAsync();
        var first = (await ReceiveAsync(consumer, 1))[0];

        Broker.DropAllConnections();
        var again = (await ReceiveAsync(consumer, 1))[0];

        Assert.Equal(first.Id, again.Id);
        Assert.Equal("unacked", Text(again));
    }

    [Fact]
    public async Task Broker_initiated_close_makes_the_consumer_resubscribe()
    {
        await using var consumer = await ConsumerAsync();

        Broker.CloseConsumers(Topic, "sub");
        await EventuallyAsync(() => consumer.SubscribeCount == 2 && consumer.State == PulsarObjectState.Connected, "the consumer resubscribed");
        await using var producer = await ProducerAsync();
        await producer.SendAsync(new OutgoingMessage { Data = "after close"u8.ToArray() });

        Assert.Equal("after close", Text((await ReceiveAsync(consumer, 1))[0]));
        Assert.Equal(2, Broker.Received(BaseCommand.Types.Type.Subscribe));
    }

    [Fact]
    public async Task Consumer_retries_a_refused_resubscribe_with_backoff()
    {
        await using var consumer = await ConsumerAsync();

        Broker.Faults.FailNextSubscribes(3, ServerError.ServiceNotReady);
        Broker.DropAllConnections();
        await EventuallyAsync(() => consumer.State == PulsarObjectState.Connected && Broker.Received(BaseCommand.Types.Type.Subscribe) == 5, "the fourth attempt succeeded");

        Assert.Equal(3, Broker.Faults.Fired(nameof(FakeBrokerFaults.FailNextSubscribes)));
    }

    [Fact]
    public async Task Consumer_gives_up_on_an_error_that_retrying_cannot_fix()
    {
        await using var consumer = await ConsumerAsync();
        var waiting = consumer.ReceiveAsync().AsTask();

        Broker.Faults.FailNextSubscribes(1, ServerError.AuthorizationError);
        Broker.DropAllConnections();

        await Assert.ThrowsAsync<AuthorizationException>(() => waiting.WaitAsync(Patience));
        Assert.Equal(PulsarObjectState.Faulted, consumer.State);
    }

    [Fact]
    public async Task Producer_resends_unconfirmed_messages_after_the_connection_drops()
    {
        await using var consumer = await ConsumerAsync();
        await using var producer = await ProducerAsync();
        await producer.SendAsync(new OutgoingMessage { Data = "first"u8.ToArray() });

        Broker.DropAllConnections();
        var sends = Enumerable.Range(0, 50).Select(i => producer.SendAsync(new OutgoingMessage { Data = Encoding.UTF8.GetBytes($"during-{i}") }).AsTask()).ToList();
        await Task.WhenAll(sends).WaitAsync(Patience);

        Assert.Equal(PulsarObjectState.Connected, producer.State);
        // Order of first appearance is the send order, whatever was delivered twice.
        var received = await ReceiveDistinctAsync(consumer, 51);
        Assert.Equal(["first", .. Enumerable.Range(0, 50).Select(i => $"during-{i}")], received);
    }

    [Fact]
    public async Task Broker_initiated_producer_close_makes_the_producer_reconnect()
    {
        await using var producer = await ProducerAsync();
        var name = producer.Name;

        Broker.CloseProducers(Topic);
        await EventuallyAsync(() => Broker.Received(BaseCommand.Types.Type.Producer) == 2 && producer.State == PulsarObjectState.Connected, "the producer was re-created");
        var id = await producer.SendAsync(new OutgoingMessage { Data = "x"u8.ToArray() });

        Assert.Equal(name, producer.Name);
        Assert.Equal(0ul, id.EntryId);
    }

    [Fact]
    public async Task Sequence_ids_continue_across_a_reconnect()
    {
        await using var producer = await ProducerAsync();
        await producer.SendAsync(new OutgoingMessage { Data = "a"u8.ToArray() });

        Broker.DropAllConnections();
        await producer.SendAsync(new OutgoingMessage { Data = "b"u8.ToArray() });

        Assert.Equal([0ul, 1ul], Broker.FindTopic(Topic)!.Entries.Select(e => e.Metadata.SequenceId));
    }

    [Fact]
    public async Task Consumer_keeps_retrying_while_the_broker_is_down_and_resumes_when_it_is_back()
    {
        await using var consumer = await ConsumerAsync();
        await using var producer = await ProducerAsync();

        Broker.Faults.ListenerPaused = true;
        Broker.DropAllConnections();
        await EventuallyAsync(() => Broker.Faults.Fired(nameof(FakeBrokerFaults.ListenerPaused)) >= 3, "three reconnect attempts were refused");
        Assert.Equal(PulsarObjectState.Reconnecting, consumer.State);
        var sent = producer.SendAsync(new OutgoingMessage { Data = "while down"u8.ToArray() }).AsTask();
        Broker.Faults.ListenerPaused = false;

        await sent.WaitAsync(Patience);
        Assert.Equal("while down", Text((await ReceiveAsync(consumer, 1))[0]));
        Assert.Equal(PulsarObjectState.Connected, consumer.State);
        Assert.Equal(PulsarObjectState.Connected, producer.State);
    }

    [Fact]
    public async Task A_slow_broker_fails_requests_with_a_timeout()
    {
        // The timeout also bounds the first call's connect, which a loaded machine can take long over:
        // seconds, not milliseconds, and a delay far beyond it (cancelled when the client closes).
        await using var client = new PulsarClient(ClientOptions(Broker.ServiceUrl) with { OperationTimeout = TimeSpan.FromSeconds(3) });
        await client.GetPartitionCountAsync(Topic);

        Broker.Faults.ResponseDelay = TimeSpan.FromMinutes(2);
        var error = await Assert.ThrowsAsync<PulsarTimeoutException>(() => client.GetPartitionCountAsync(Topic));

        Assert.Contains("PARTITIONED_METADATA got no answer", error.Message, StringComparison.Ordinal);
        Assert.True(Broker.Faults.Fired(nameof(FakeBrokerFaults.ResponseDelay)) >= 1);
    }
}
