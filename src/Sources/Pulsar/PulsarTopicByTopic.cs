namespace Sync.Sources.Pulsar;

/// <summary>What a reader that reads its topics one after another holds open: a client, made on
/// first use, and the consumer of the topic it reads now. Disposing closes both.</summary>
internal sealed class PulsarTopicByTopic(PulsarSourceOptions options) : IAsyncDisposable
{
    private PulsarClient? _client;

    /// <summary>The client, made on first use.</summary>
    public PulsarClient Client => _client ??= PulsarConnections.Client(options);

    /// <summary>The client if it was made, else null.</summary>
    public PulsarClient? ClientIfMade => _client;

    /// <summary>The consumer of the topic read now; null between topics.</summary>
    public PulsarConsumer? Current { get; set; }

    /// <summary>Closes the consumer of the topic read now, if any.</summary>
    public async Task CloseCurrentAsync()
    {
        if (Current is { } current)
        {
            Current = null;
            await current.DisposeAsync();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await CloseCurrentAsync();
        if (_client is { } client)
        {
            _client = null;
            await client.DisposeAsync();
        }
    }
}
