using Sync.Pulsar;
using Sync.Testing.Pulsar;
using Xunit;

namespace Sync.Testing.Fixtures;

/// <summary>A test class with a fake broker of its own in this process and a client on it, started
/// before each test and disposed after it.</summary>
public abstract class FakeBrokerTest : IAsyncLifetime
{
    private readonly Dictionary<string, IPulsarProducer> _producers = new(StringComparer.Ordinal);

    protected FakePulsarBroker Broker { get; private set; } = null!;

    protected PulsarClient Client { get; private set; } = null!;

    /// <summary>A topic name no other test uses.</summary>
    protected static string NewTopic(string name) => $"persistent://public/default/{name}-{Guid.NewGuid():N}"[..60];

    /// <summary>The topics <see cref="ProducerOfAsync"/> opened a producer on.</summary>
    protected IReadOnlyCollection<string> ProducedTopics => _producers.Keys;

    /// <summary>The test's one producer on <paramref name="topic"/>, opened at its first use and closed
    /// with the client.</summary>
    protected async Task<IPulsarProducer> ProducerOfAsync(string topic)
    {
        if (!_producers.TryGetValue(topic, out var producer))
        {
            _producers[topic] = producer = await Client.CreateProducerAsync(new ProducerOptions { Topic = topic });
        }

        return producer;
    }

    public virtual Task InitializeAsync()
    {
        Broker = FakePulsarBroker.Start();
        Client = new PulsarClient(new PulsarClientOptions { ServiceUrl = Broker.ServiceUrl });
        return Task.CompletedTask;
    }

    public virtual async Task DisposeAsync()
    {
        foreach (var producer in _producers.Values)
        {
            await producer.DisposeAsync();
        }

        await Client.DisposeAsync();
        await Broker.DisposeAsync();
    }
}
