namespace Sync.Sources.Pulsar;

/// <summary>One client of a source and one producer per topic, opened on first use and closed
/// together: what the dead-letter topic, the changelog publisher and the topic log share.</summary>
internal sealed class PulsarTopicProducers(PulsarSourceOptions options) : IAsyncDisposable
{
    private readonly Dictionary<string, IPulsarProducer> _producers = new(StringComparer.Ordinal);
    private PulsarClient? _client;

    public PulsarClient Client => _client ??= PulsarConnections.Client(options);

    /// <summary>The topic's producer; the first call creates it, after <paramref name="beforeFirst"/>
    /// when given (e.g. a subscription that must exist before the first message).</summary>
    public async ValueTask<IPulsarProducer> GetAsync(string topic, CancellationToken cancellationToken, Func<PulsarClient, Task>? beforeFirst = null)
    {
        if (_producers.TryGetValue(topic, out var producer))
        {
            return producer;
        }

        if (beforeFirst is not null)
        {
            await beforeFirst(Client);
        }

        producer = await Client.CreateProducerAsync(new ProducerOptions { Topic = topic }, cancellationToken);
        _producers[topic] = producer;
        return producer;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var producer in _producers.Values)
        {
            await producer.DisposeAsync();
        }

        _producers.Clear();
        if (_client is not null)
        {
            await _client.DisposeAsync();
            _client = null;
        }
    }
}
