using System.Collections.Concurrent;

namespace Sync.Sources.Pulsar;

/// <summary>
/// Turns Pulsar messages into source records, telling INLINE KeyValue messages (key and value in
/// the payload) from SEPARATED and plain ones. With <see cref="PulsarKeyValueEncoding.Auto"/> the
/// topic's schema decides: a message names its schema version (MessageMetadata.schema_version),
/// the schema at that version is fetched once over the binary protocol (GET_SCHEMA) and cached;
/// type KEY_VALUE with <c>kv.encoding.type</c> INLINE (or no such property: KeyValueSchemaInfo
/// .decodeKeyValueEncodingType defaults to INLINE) means INLINE, SEPARATED means SEPARATED, any
/// other schema and a message without a schema version mean plain. The other settings force one
/// reading for brokers that keep no schemas.
/// </summary>
internal sealed class PulsarKeyValueResolver(PulsarKeyValueEncoding mode, Func<PulsarClient> client)
{
    private readonly ConcurrentDictionary<(string Topic, string Version), KeyValueEncoding> _bySchemaVersion = new();

    /// <summary>Schema fetches so far (one per topic and schema version).</summary>
    public int SchemaLookups => _lookups;

    private int _lookups;

    private volatile LastHit? _lastHit;

    public async ValueTask<SourceRecord> ToSourceRecordAsync(PulsarMessage message, CancellationToken cancellationToken)
    {
        if (message.Corruption is not null)
        {
            return PulsarConnections.ToSourceRecord(message);
        }

        var wire = PulsarConnections.ToSourceMessage(message);
        var encoding = await EncodingOfAsync(message, cancellationToken);
        switch (encoding)
        {
            case KeyValueEncoding.Inline:
                return KeyValuePayload.UnwrapInline(wire, out var error) is { } unwrapped
                    ? new SourceRecord(unwrapped, null)
                    : new SourceRecord(null, new SourceError(
                        $"{message.Topic}@{message.Id}", message.Topic, wire.Position,
                        $"message {message.Id} on {message.Topic}: {error}", message.Data));
            case KeyValueEncoding.Separated:
                return new SourceRecord(wire.WithKeyValueEncoding(KeyValueEncoding.Separated), null);
            default:
                return new SourceRecord(wire, null);
        }
    }

    /// <summary>The message for readers of the raw log (dump, erasure scans), which have no
    /// dead-letter path: an INLINE message that does not split is kept as it travelled
    /// (<see cref="KeyValuePayload.Undecoded"/>).</summary>
    public async ValueTask<SourceMessage> ToLogMessageAsync(PulsarMessage message, CancellationToken cancellationToken)
    {
        var record = await ToSourceRecordAsync(message, cancellationToken);
        return record.Message ?? KeyValuePayload.Undecoded(PulsarConnections.ToSourceMessage(message));
    }

    private async ValueTask<KeyValueEncoding> EncodingOfAsync(PulsarMessage message, CancellationToken cancellationToken)
    {
        switch (mode)
        {
            case PulsarKeyValueEncoding.Inline:
                return KeyValueEncoding.Inline;
            case PulsarKeyValueEncoding.Separated:
                return KeyValueEncoding.Separated;
            case PulsarKeyValueEncoding.None:
                return KeyValueEncoding.None;
        }

        if (message.SchemaVersion.IsEmpty)
        {
            return KeyValueEncoding.None;
        }

        // Messages of a topic nearly always name the schema version the one before named: that
        // answer is kept apart, so that the common case costs a byte comparison, not two strings.
        if (_lastHit is { } last && string.Equals(last.Topic, message.Topic, StringComparison.Ordinal)
            && last.Version.AsSpan().SequenceEqual(message.SchemaVersion.Span))
        {
            return last.Encoding;
        }

        var topic = TopicName.BaseName(message.Topic);
        var key = (topic, Convert.ToHexString(message.SchemaVersion.Span));
        if (_bySchemaVersion.TryGetValue(key, out var known))
        {
            _lastHit = new LastHit(message.Topic, message.SchemaVersion.ToArray(), known);
            return known;
        }

        PulsarSchemaVersion? schema;
        try
        {
            Interlocked.Increment(ref _lookups);
            schema = await client().GetSchemaAsync(topic, message.SchemaVersion, cancellationToken);
        }
        catch (PulsarException e)
        {
            throw new SourceException($"reading the schema (version {key.Item2}) of {topic} for message {message.Id} failed: {e.Message}", e);
        }

        var encoding = schema?.Schema.KeyValueEncoding switch
        {
            KeyValueEncodingType.Inline => KeyValueEncoding.Inline,
            KeyValueEncodingType.Separated => KeyValueEncoding.Separated,
            _ => KeyValueEncoding.None,
        };
        _bySchemaVersion[key] = encoding;
        _lastHit = new LastHit(message.Topic, message.SchemaVersion.ToArray(), encoding);
        return encoding;
    }

    private sealed record LastHit(string Topic, byte[] Version, KeyValueEncoding Encoding);
}
