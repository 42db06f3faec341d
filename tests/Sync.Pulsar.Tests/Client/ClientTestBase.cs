using Sync.Testing.Pulsar;
using Xunit;

namespace Sync.Pulsar.Tests.Client;

/// <summary>Each test owns a fresh fake broker, a client on it, and its own topic.</summary>
public abstract class ClientTestBase : IAsyncLifetime
{
    protected static readonly TimeSpan Patience = TimeSpan.FromSeconds(15);

    protected FakePulsarBroker Broker { get; private set; } = null!;

    protected PulsarClient Client { get; private set; } = null!;

    protected string Topic { get; } = $"persistent://public/default/t-{Guid.NewGuid():N}";

    protected virtual FakePulsarBrokerOptions BrokerOptions => new();

    protected virtual PulsarClientOptions ClientOptions(Uri serviceUrl) => new()
    {
        ServiceUrl = serviceUrl,
        OperationTimeout = Patience,
        // Reconnects in tests should take milliseconds, not the production backoff.
        RetryInitialDelay = TimeSpan.FromMilliseconds(10),
        RetryMaxDelay = TimeSpan.FromMilliseconds(200),
    };

    public virtual Task InitializeAsync()
    {
        Broker = FakePulsarBroker.Start(BrokerOptions);
        Client = new PulsarClient(ClientOptions(Broker.ServiceUrl));
        return Task.CompletedTask;
    }

    public virtual async Task DisposeAsync()
    {
        await Client.DisposeAsync();
        await Broker.DisposeAsync();
    }

    protected async Task<PulsarProducer> ProducerAsync(ProducerOptions? options = null) =>
        (PulsarProducer)await Client.CreateProducerAsync(options ?? new ProducerOptions { Topic = Topic });

    protected async Task<PulsarConsumer> ConsumerAsync(
        string subscription = "sub",
        SubscriptionType type = SubscriptionType.Exclusive,
        int receiverQueueSize = 1000,
        bool ackReceipts = false) =>
        (PulsarConsumer)await Client.SubscribeAsync(new ConsumerOptions
        {
            Topic = Topic,
            SubscriptionName = subscription,
            SubscriptionType = type,
            InitialPosition = SubscriptionInitialPosition.Earliest,
            ReceiverQueueSize = receiverQueueSize,
            AckReceiptEnabled = ackReceipts,
        });

    protected static async Task<List<PulsarMessage>> ReceiveAsync(IPulsarConsumer consumer, int count)
    {
        var messages = new List<PulsarMessage>(count);
        using var timeout = new CancellationTokenSource(Patience);
        while (messages.Count < count)
        {
            messages.Add(await consumer.ReceiveAsync(timeout.Token));
        }
        return messages;
    }

    /// <summary>
    /// Receives until <paramref name="count"/> different payloads have arrived, returning them in
    /// order of first arrival. Around a reconnect delivery is at-least-once: a message received
    /// but not acknowledged before the loss comes again, so counting messages is not enough.
    /// </summary>
    protected static async Task<List<string>> ReceiveDistinctAsync(IPulsarConsumer consumer, int count)
    {
        var seen = new List<string>(count);
        using var timeout = new CancellationTokenSource(Patience);
        while (seen.Count < count)
        {
            var text = System.Text.Encoding.UTF8.GetString((await consumer.ReceiveAsync(timeout.Token)).Data.Span);
            if (!seen.Contains(text))
            {
                seen.Add(text);
            }
        }
        return seen;
    }

    /// <summary>Asserts nothing more arrives within a short grace period.</summary>
    protected static async Task AssertNothingMoreAsync(IPulsarConsumer consumer)
    {
        using var grace = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await consumer.ReceiveAsync(grace.Token));
    }

    /// <summary>Polls a condition on broker state until it holds (state changes asynchronously after a send).</summary>
    protected static async Task EventuallyAsync(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                Assert.Fail($"timed out waiting until {what}");
            }
            await Task.Delay(10);
        }
    }
}
