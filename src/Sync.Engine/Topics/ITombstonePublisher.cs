using Sync.Engine.Changes;

namespace Sync.Engine.Topics;

/// <summary>Publishes tombstones with properties, for the runtime's tombstone repair: the one
/// capability a running materializer needs from a topic log.</summary>
public interface ITombstonePublisher
{
    /// <summary>Appends a tombstone (empty value, the key exactly as given, routed as the key
    /// routes) carrying <paramref name="properties"/>.</summary>
    ValueTask<StreamPosition> PublishTombstoneAsync(string topic, MessageKey key, IReadOnlyDictionary<string, string> properties, CancellationToken cancellationToken);
}
