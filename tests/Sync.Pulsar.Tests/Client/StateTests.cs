using System.Collections.Concurrent;

namespace Sync.Pulsar.Tests.Client;

public class StateTests : ClientTestBase
{
    private static ConcurrentQueue<PulsarObjectState> Record(IPulsarStateful observed)
    {
        var changes = new ConcurrentQueue<PulsarObjectState>();
        observed.StateChanged += (_, change) => changes.Enqueue(change.Current);
        return changes;
    }

    [Fact]
    public async Task Consumer_goes_reconnecting_then_connected_when_its_connection_drops()
    {
        var consumer = await ConsumerAsync();
        var changes = Record(consumer);
        using var timeout = new CancellationTokenSource(Patience);

        Broker.Faults.ListenerPaused = true;
        Broker.DropAllConnections();
        var whileDown = await consumer.OnStateChangeTo(PulsarObjectState.Reconnecting, timeout.Token);
        Broker.Faults.ListenerPaused = false;
        var afterwards = await consumer.OnStateChangeTo(PulsarObjectState.Connected, timeout.Token);
        await consumer.DisposeAsync();

        Assert.Equal(PulsarObjectState.Reconnecting, whileDown);
        Assert.Equal(PulsarObjectState.Connected, afterwards);
        Assert.Equal([PulsarObjectState.Reconnecting, PulsarObjectState.Connected, PulsarObjectState.Closed], changes);
    }

    [Fact]
    public async Task Producer_goes_reconnecting_then_connected_when_the_broker_closes_it()
    {
        var producer = await ProducerAsync();
        var changes = Record(producer);
        using var timeout = new CancellationTokenSource(Patience);

        var leaving = producer.OnStateChangeFrom(PulsarObjectState.Connected, timeout.Token);
        Broker.CloseProducers(Topic);
        var left = await leaving;
        var back = await producer.OnStateChangeTo(PulsarObjectState.Connected, timeout.Token);
        await producer.DisposeAsync();

        Assert.Equal(PulsarObjectState.Reconnecting, left);
        Assert.Equal(PulsarObjectState.Connected, back);
        Assert.Equal([PulsarObjectState.Reconnecting, PulsarObjectState.Connected, PulsarObjectState.Closed], changes);
    }

    [Fact]
    public async Task Waiting_for_connected_ends_with_faulted_when_the_consumer_cannot_come_back()
    {
        await using var consumer = await ConsumerAsync();
        using var timeout = new CancellationTokenSource(Patience);

        Broker.Faults.FailNextSubscribes(1, ServerError.AuthorizationError);
        Broker.Faults.ListenerPaused = true;
        Broker.DropAllConnections();
        await consumer.OnStateChangeTo(PulsarObjectState.Reconnecting, timeout.Token);
        Broker.Faults.ListenerPaused = false;
        var reached = await consumer.OnStateChangeTo(PulsarObjectState.Connected, timeout.Token);

        Assert.Equal(PulsarObjectState.Faulted, reached);
        Assert.Equal(PulsarObjectState.Faulted, consumer.State);
    }

    [Fact]
    public async Task A_partitioned_consumer_reports_the_worst_state_of_its_partitions()
    {
        Broker.CreatePartitionedTopic(Topic, 3);
        var consumer = await Client.SubscribeAsync(new ConsumerOptions { Topic = Topic, SubscriptionName = "sub" });
        var changes = Record(consumer);
        using var timeout = new CancellationTokenSource(Patience);

        Broker.Faults.ListenerPaused = true;
        Broker.DropAllConnections();
        await consumer.OnStateChangeTo(PulsarObjectState.Reconnecting, timeout.Token);
        Broker.Faults.ListenerPaused = false;
        await consumer.OnStateChangeTo(PulsarObjectState.Connected, timeout.Token);
        await consumer.DisposeAsync();

        Assert.Equal([PulsarObjectState.Reconnecting, PulsarObjectState.Connected, PulsarObjectState.Closed], changes);
        Assert.Equal(PulsarObjectState.Closed, await consumer.OnStateChangeTo(PulsarObjectState.Connected, timeout.Token));
    }

    [Fact]
    public async Task A_cancelled_wait_throws_and_leaves_the_state_alone()
    {
        await using var consumer = await ConsumerAsync();
        using var cancelled = new CancellationTokenSource();
        var waiting = consumer.OnStateChangeTo(PulsarObjectState.Reconnecting, cancelled.Token).AsTask();

        await cancelled.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting);
        Assert.Equal(PulsarObjectState.Connected, consumer.State);
    }
}
