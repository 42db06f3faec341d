namespace Sync.Engine.Topics;

/// <summary>Publishes keyed messages with properties to a topic log: tombstones for the runtime's
/// tombstone repair and for erasure, and copies of a key's latest value where a message must
/// supersede another of the same key without changing the key's state (a repair tombstone that
/// landed after a newer value; a before-image that names an erased subject).</summary>
public interface ITombstonePublisher
{
    /// <summary>Appends a tombstone (empty value, the key exactly as given, routed as the key
    /// routes) carrying <paramref name="properties"/>.</summary>
    ValueTask<StreamPosition> PublishTombstoneAsync(string topic, MessageKey key, IReadOnlyDictionary<string, string> properties, CancellationToken cancellationToken) =>
        PublishAsync(topic, key, null, properties, null, cancellationToken);

    /// <summary>Appends a message with the key exactly as given (its encoding kept, routed as the key
    /// routes), <paramref name="value"/> as its payload (null: a tombstone), and
    /// <paramref name="properties"/> and <paramref name="eventTime"/> (null: the time of publishing).</summary>
    ValueTask<StreamPosition> PublishAsync(string topic, MessageKey key, ReadOnlyMemory<byte>? value, IReadOnlyDictionary<string, string> properties, DateTimeOffset? eventTime, CancellationToken cancellationToken);
}
