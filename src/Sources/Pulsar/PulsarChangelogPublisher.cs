namespace Sync.Sources.Pulsar;

/// <summary>Publishes changelog messages to a Pulsar source, one producer per topic, in file order
/// per topic. A base64 key is sent as its bytes with partition_key_b64_encoded, a null value as a
/// tombstone (null_value, empty payload); properties and event time go along. The publish time is
/// the producer's (a producer cannot backdate a message), so the file's <c>publishTime</c> is not kept.
/// A KeyValue message goes out as Pulsar IO sends it: through a producer with the KEY_VALUE schema
/// of BYTES key and value in its encoding (so the message names that schema's version), an INLINE
/// one with its payload and message key exactly as the line holds them.</summary>
public sealed class PulsarChangelogPublisher : IChangelogPublisher
{
    /// <summary>Receipts awaited at most at once; the producer pipelines its sends below this.</summary>
    private const int MaxOutstanding = 4096;

    private readonly PulsarSourceOptions _options;
    private readonly string _sourceName;
    private readonly PulsarTopicProducers _producers;
    private readonly Queue<Task<MessageId>> _outstanding = new();
    private readonly Dictionary<(string Topic, KeyValueEncoding Encoding), IPulsarProducer> _schemaProducers = [];

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
        var producer = await Wrap(() => ProducerAsync(message, cancellationToken), message.Topic);
        if (message.Inline is { } inline)
        {
            var inlineMessage = new OutgoingMessage
            {
                Data = inline.Payload,
                Properties = message.Properties.Count > 0 ? message.Properties : null,
                EventTimeMs = message.EventTime is { } inlineEventTime ? (ulong)inlineEventTime.ToUnixTimeMilliseconds() : null,
            };
            if (inline.MessageKey.Text is { } wireKey)
            {
                inlineMessage = inline.MessageKey.IsBase64 ? inlineMessage with { KeyBytes = inline.MessageKey.GetBytes() } : inlineMessage with { Key = wireKey };
            }

            await EnqueueAsync(producer.SendAsync(inlineMessage, cancellationToken).AsTask(), message.Topic);
            return;
        }

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

        await EnqueueAsync(producer.SendAsync(outgoing, cancellationToken).AsTask(), message.Topic);
    }

    private async ValueTask EnqueueAsync(Task<MessageId> receipt, string topic)
    {
        _outstanding.Enqueue(receipt);
        if (_outstanding.Count >= MaxOutstanding)
        {
            await Wrap(_outstanding.Dequeue, topic);
        }
    }

    private async Task<IPulsarProducer> ProducerAsync(SourceMessage message, CancellationToken cancellationToken)
    {
        if (message.KeyValueEncoding == KeyValueEncoding.None)
        {
            return await _producers.GetAsync(message.Topic, cancellationToken);
        }

        var key = (message.Topic, message.KeyValueEncoding);
        if (!_schemaProducers.TryGetValue(key, out var producer))
        {
            var schema = PulsarSchema.KeyValueOfBytes(message.KeyValueEncoding == KeyValueEncoding.Inline ? KeyValueEncodingType.Inline : KeyValueEncodingType.Separated);
            producer = await _producers.Client.CreateProducerAsync(new ProducerOptions { Topic = message.Topic, Schema = schema }, cancellationToken);
            _schemaProducers[key] = producer;
        }

        return producer;
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
        foreach (var producer in _schemaProducers.Values)
        {
            await producer.DisposeAsync();
        }

        _schemaProducers.Clear();
        await _producers.DisposeAsync();
    }
}
