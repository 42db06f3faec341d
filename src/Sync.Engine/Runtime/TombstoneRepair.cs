using Sync.Engine.Changes;
using Sync.Engine.Sources;
using Sync.Engine.Topics;

namespace Sync.Engine.Runtime;

/// <summary>Publishes the tombstone that Pulsar IO's Debezium source drops (<c>repairTombstones:
/// true</c>). Without it a deleted row's last message on the topic is the <c>op=d</c> event, whose
/// before-image keeps the row's data in the compacted view for good; with the tombstone after it,
/// the next compaction removes the key.
/// <para>A key is repaired when its last message in a batch is an <c>op=d</c> event that carries a
/// key (a tombstone, or any later change of the key in the batch, makes a repair needless). The
/// tombstones go out after the sink has committed the batch and before the source is acknowledged,
/// so a crash in between repeats a repair (harmless) instead of losing it.</para>
/// <para>Every materializer skips the repair tombstones it reads (they carry
/// <see cref="Property"/>): the delete was applied from the <c>op=d</c> already, and a repair that
/// raced with a re-insert of the key must not delete the new row from a sink.</para></summary>
public sealed class TombstoneRepair
{
    /// <summary>The property that marks a repair tombstone; its value is the position of the <c>op=d</c> it follows.</summary>
    public const string Property = "sync.repaired-delete";

    private readonly ITombstonePublisher _publisher;
    private readonly Dictionary<(string Topic, string Key), (MessageKey Key, StreamPosition Position)?> _last = [];

    public TombstoneRepair(ITombstonePublisher publisher)
    {
        ArgumentNullException.ThrowIfNull(publisher);
        _publisher = publisher;
    }

    /// <summary>True for a tombstone that a repair published.</summary>
    public static bool IsRepairTombstone(SourceMessage message) =>
        message.IsTombstone && message.Properties.ContainsKey(Property);

    /// <summary>Notes a message of the batch and the change decoded from it, in order.</summary>
    public void Observe(SourceMessage message, ChangeEvent change)
    {
        if (message.Key.Text is not { } key)
        {
            return;
        }

        _last[(message.Topic, key)] = change.Op == ChangeOp.Delete ? (message.Key, message.Position) : null;
    }

    /// <summary>Publishes a tombstone for every key whose last message in the batch was an
    /// <c>op=d</c> event, and forgets the batch. Returns how many were published.</summary>
    public async ValueTask<int> PublishAsync(CancellationToken cancellationToken)
    {
        var published = 0;
        foreach (var ((topic, _), pending) in _last)
        {
            if (pending is not { } delete)
            {
                continue;
            }

            var properties = new Dictionary<string, string>(StringComparer.Ordinal) { [Property] = delete.Position.ToString() };
            await _publisher.PublishTombstoneAsync(topic, delete.Key, properties, cancellationToken);
            published++;
        }

        _last.Clear();
        return published;
    }
}
