using Sync.Engine.Sources.File;
using Sync.Engine.Topics;
using Sync.Pulsar;

namespace Sync.Engine.Sources.Pulsar;

/// <summary>Publishes changelog messages to a Pulsar source, one producer per topic, in file order
/// per topic. A base64 key is sent as its bytes with partition_key_b64_encoded, a null value as a
/// tombstone (null_value, empty payload); properties and event time go along. The publish time is
/// the producer's (a producer cannot backdate a message), so the file's <c>publishTime</c> is not kept.</summary>
public sealed class PulsarChangelogPublisher : IChangelogPublisher
{
    /// <summary>Receipts awaited at most at once; the producer pipelines its sends below this.</summary>
    private const int MaxOutstanding = 4096;

    private readonly PulsarSourceOptions _options;
    private readonly string _sourceName;
    private readonly PulsarTopicProducers _producers;
    private readonly Queue<Task<MessageId>> _outstanding = new();

    public PulsarChangelogPublisher(string sourceName, PulsarSourceOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        _sourceName = sourceName;
        _options = options;
        _producers = new PulsarTopicProducers(options);
    }

    public string? Check(SourceMessage message)
    {
        ArgumentNullException.ThrowIfNull(message);
        if (message.Key is { IsBase64: true, Text: { } text } && Convert.ToBase64String(message.Key.GetBytes()) != text)
        {
            // The client sends binary keys in canonical base64; any other spelling would arrive as a different key text.
            return $"the base64 key {text} is not in canonical form and cannot be published exactly";
        }

        if (!message.Topic.StartsWith("persistent://", StringComparison.Ordinal))
        {
            return $"topic {message.Topic} must be a persistent:// topic on a pulsar source";
        }

        return null;
    }

    public async ValueTask PublishAsync(SourceMessage message, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(message);
        var producer = await Wrap(() => _producers.GetAsync(message.Topic, cancellationToken).AsTask(), message.Topic);

        var outgoing = new OutgoingMessage
        {
            Data = message.Value,
            IsNullValue = !message.HasValue,
            Properties = message.Properties.Count > 0 ? message.Properties : null,
            EventTimeMs = message.EventTime is { } eventTime ? (ulong)eventTime.ToUnixTimeMilliseconds() : null,
        };
        if (message.Key.Text is { } key)
        {
            outgoing = message.Key.IsBase64 ? outgoing with { KeyBytes = message.Key.GetBytes() } : outgoing with { Key = key };
        }

        _outstanding.Enqueue(producer.SendAsync(outgoing, cancellationToken).AsTask());
        if (_outstanding.Count >= MaxOutstanding)
        {
            await Wrap(_outstanding.Dequeue, message.Topic);
        }
    }

    public async ValueTask FlushAsync(CancellationToken cancellationToken)
    {
        while (_outstanding.TryDequeue(out var receipt))
        {
            await Wrap(() => receipt, "the topics");
        }
    }

    private async Task<T> Wrap<T>(Func<Task<T>> send, string topic)
    {
        try
        {
            return await send();
        }
        catch (PulsarException e)
        {
            throw new SourceException($"source {_sourceName}: publishing to {topic} failed: {e.Message}", e);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _producers.DisposeAsync();
    }
}
