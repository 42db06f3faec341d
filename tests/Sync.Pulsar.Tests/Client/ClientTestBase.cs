namespace Sync.Pulsar.Tests.Client;

/// <summary>Each test owns a fresh fake broker, a client on it, and its own topic.</summary>
public abstract class ClientTestBase : IAsyncLifetime
{
    /// <summary>Against hangs only: every wait ends on what the broker or a consumer shows, and
    /// a loaded machine must not run out of it before that.</summary>
    protected static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

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

    /// <summary>Sends <paramref name="count"/> messages <c>m0</c>, <c>m1</c>, … to <see cref="Topic"/>.</summary>
    protected async Task<List<MessageId>> ProduceNumberedAsync(int count)
    {
        await using var producer = await ProducerAsync();
        var ids = new List<MessageId>();
        for (var i = 0; i < count; i++)
        {
            ids.Add(await producer.SendAsync(new OutgoingMessage { Data = Encoding.UTF8.GetBytes($"m{i}") }));
        }

        return ids;
    }

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

    /// <summary>Shows that nothing more is on its way to <paramref name="consumer"/> (of an
    /// exclusive or failover subscription to <see cref="Topic"/>, or of a key-shared one that owns
    /// <paramref name="key"/>): a marker published now must be the next message it receives,
    /// since anything still due comes before it. For the end of a test: the marker stays on the
    /// topic.</summary>
    protected Task AssertOnlyAMarkerComesNextAsync(IPulsarConsumer consumer, string? key = null) =>
        AssertOnlyMarkersComeNextAsync(consumer, [Topic], key);

    /// <summary><see cref="AssertOnlyAMarkerComesNextAsync"/> for a consumer of several topics: a
    /// marker on each, and the next messages are these markers.</summary>
    protected async Task AssertOnlyMarkersComeNextAsync(IPulsarConsumer consumer, IReadOnlyList<string> topics, string? key = null)
    {
        var markers = topics.Select(_ => $"marker-{Guid.NewGuid():N}").ToList();
        for (var i = 0; i < topics.Count; i++)
        {
            // Published by the broker itself, so that a connection the test just dropped does not matter.
            var metadata = new Sync.Pulsar.Protocol.Proto.MessageMetadata { ProducerName = "marker", SequenceId = 0, PublishTime = (ulong)DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() };
            if (key is not null)
            {
                metadata.PartitionKey = key;
            }

            Broker.Publish(topics[i], metadata, System.Text.Encoding.UTF8.GetBytes(markers[i]));
        }

        var next = await ReceiveAsync(consumer, markers.Count);
        Assert.Equal(markers.Order(StringComparer.Ordinal), next.Select(m => System.Text.Encoding.UTF8.GetString(m.Data.Span)).Order(StringComparer.Ordinal));
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
