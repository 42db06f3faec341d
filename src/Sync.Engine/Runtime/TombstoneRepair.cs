namespace Sync.Engine.Runtime;

/// <summary>Publishes the tombstone that Pulsar IO's Debezium source drops (<c>repairTombstones:
/// true</c>). Without it a deleted row's last message on the topic is the <c>op=d</c> event, whose
/// before-image keeps the row's data in the compacted view for good; with the tombstone after it,
/// the next compaction removes the key.
/// <para>The rule is erasure's: never tombstone a key whose current value is live. Compaction keeps
/// the latest message of each key, so a tombstone that lands after a newer value of its key removes
/// that value from the compacted view. Hence a delete only becomes a pending repair, and:</para>
/// <list type="bullet">
/// <item>any later message of the key that this materializer reads drops it (a re-insert, an update,
/// a tombstone, a newer delete, or a message it cannot decode, whose state is unknown);</item>
/// <item>it is published only once the reader has caught up with the end of the topic partition
/// it came from (<see cref="PublishAsync"/> is told which streams are caught up), so every message
/// published before that check has been seen;</item>
/// <item>a message published by the producer between that check and the tombstone cannot be seen
/// first. When the tombstone is read back (it carries <see cref="Property"/>) and a live value of
/// the key was read between the delete and it, the tombstone has superseded a live value: that
/// value is published again, unchanged except for <see cref="RestoredProperty"/>, under the same
/// catch-up rule, so the compacted view ends holding it.</item>
/// </list>
/// <para>Copies carrying <see cref="RestoredProperty"/> are ignored by this rule: they repeat an
/// older message, so they neither drop a pending repair (a delete published after the copied
/// value still needs its tombstone) nor count as a newer value to restore.</para>
/// <para>Everything here lives in memory and is touched by the materializer's applying stage only,
/// in message order.</para></summary>
public sealed class TombstoneRepair
{
    /// <summary>The property that marks a repair tombstone; its value is the position of the <c>op=d</c> it follows.</summary>
    public const string Property = "sync.repaired-delete";

    /// <summary>The property that marks a value published again after a repair tombstone superseded
    /// it; its value is the position of the message it copies.</summary>
    public const string RestoredProperty = "sync.restored-after-repair";

    private readonly ITombstonePublisher _publisher;
    private readonly Func<ChangeEvent, bool> _suppressed;
    private readonly Dictionary<(string Topic, string Key), (MessageKey Key, StreamPosition Position)> _pending = [];
    private readonly Dictionary<(string Topic, string Key), Published> _published = [];
    private readonly Dictionary<(string Topic, string Key), (SourceMessage Message, ChangeEvent? Change)> _restores = [];

    /// <param name="publisher">Where tombstones and restored values go: the topics the materializer reads.</param>
    /// <param name="suppressed">True for a change of an erased subject: its value is never published again.</param>
    public TombstoneRepair(ITombstonePublisher publisher, Func<ChangeEvent, bool>? suppressed = null)
    {
        ArgumentNullException.ThrowIfNull(publisher);
        _publisher = publisher;
        _suppressed = suppressed ?? (_ => false);
    }

    /// <summary>Repair tombstones published.</summary>
    public long Repaired { get; private set; }

    /// <summary>Pending repairs and restorations dropped because a later message of the key came first.</summary>
    public long Superseded { get; private set; }

    /// <summary>Values published again after a repair tombstone landed behind them.</summary>
    public long Restored { get; private set; }

    /// <summary>Where the counts also go, when the runner attaches its counters.</summary>
    internal MaterializerCounters? Counters { get; set; }

    /// <summary>True while a repair or a restoration waits for its stream to be caught up.</summary>
    public bool HasPending => _pending.Count > 0 || _restores.Count > 0;

    /// <summary>The streams (topic partitions) with a repair or restoration waiting.</summary>
    public IReadOnlyCollection<string> PendingStreams =>
        [.. _pending.Keys.Select(k => k.Topic).Concat(_restores.Keys.Select(k => k.Topic)).Distinct(StringComparer.Ordinal)];

    /// <summary>True for a tombstone that a repair published.</summary>
    public static bool IsRepairTombstone(SourceMessage message) =>
        message.IsTombstone && message.Properties.ContainsKey(Property);

    /// <summary>The position of the message that a restored copy repeats, or null for any other message.</summary>
    public static StreamPosition? RestoredFrom(SourceMessage message)
    {
        ArgumentNullException.ThrowIfNull(message);
        return message.PositionProperty(RestoredProperty);
    }

    /// <summary>True for a message that can leave work for the repair: an <c>op=d</c> event (a
    /// pending repair) or a repair tombstone (perhaps a restoration). The reading stage watches
    /// these streams for the end of the topic.</summary>
    public static bool MayLeaveWork(SourceMessage message, ChangeEvent? change) =>
        IsRepairTombstone(message) || (change is { Op: ChangeOp.Delete } && !message.IsTombstone);

    /// <summary>Notes a message read by the materializer, in order, with the change decoded from it
    /// (null when it could not be decoded or mapped). Repair tombstones are noted here too.</summary>
    public void Observe(SourceMessage message, ChangeEvent? change)
    {
        ArgumentNullException.ThrowIfNull(message);
        if (message.Key.Text is not { } text || RestoredFrom(message) is not null)
        {
            return;
        }

        var key = (message.Topic, text);
        if (IsRepairTombstone(message))
        {
            ObserveRepairTombstone(key, message);
            return;
        }

        var delete = change is { Op: ChangeOp.Delete } && !message.IsTombstone;
        var dropped = _pending.Remove(key) | _restores.Remove(key);
        if (_published.TryGetValue(key, out var published))
        {
            if (SameOrLaterEntry(message.Position, published.Tombstone))
            {
                // The tombstone landed before this message (its read-back went to another reader):
                // the compacted view follows this message, nothing to heal.
                _published.Remove(key);
            }
            else
            {
                // Kept past the batch's acknowledgement, after which the source may reuse the message's buffer.
                published.Latest = delete || message.IsTombstone ? null : (message.Detached(), change);
            }
        }

        if (delete)
        {
            _pending[key] = (message.Key, message.Position);
        }
        else if (dropped)
        {
            Count(superseded: 1);
        }
    }

    private void ObserveRepairTombstone((string Topic, string Key) key, SourceMessage tombstone)
    {
        if (!_published.TryGetValue(key, out var published)
            || !string.Equals(tombstone.Properties[Property], published.Delete.ToString(), StringComparison.Ordinal))
        {
            // Not the read-back of a repair of ours (another materializer's, or one from before a restart).
            return;
        }

        _published.Remove(key);
        if (published.Latest is { } live)
        {
            // A value published after the delete landed before its tombstone, which now hides it.
            _pending.Remove(key);
            _restores[key] = live;
        }
    }

    /// <summary>Publishes the repairs and restorations waiting on <paramref name="caughtUp"/>: streams
    /// whose every message, as of a check made after the last message read from them, has been
    /// noted. Others keep waiting. Returns how many tombstones and how many restored values went out.</summary>
    public async ValueTask<(int Repaired, int Restored)> PublishAsync(IReadOnlyCollection<string> caughtUp, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(caughtUp);
        var repaired = 0;
        var restored = 0;
        if (caughtUp.Count == 0 || !HasPending)
        {
            return (0, 0);
        }

        foreach (var (key, delete) in _pending.Where(p => caughtUp.Contains(p.Key.Topic)).OrderBy(p => p.Value.Position).ToList())
        {
            var properties = new Dictionary<string, string>(StringComparer.Ordinal) { [Property] = delete.Position.ToString() };
            var at = await _publisher.PublishTombstoneAsync(key.Topic, delete.Key, properties, cancellationToken);
            _pending.Remove(key);
            _published[key] = new Published(delete.Position, at);
            repaired++;
            Count(repaired: 1);
        }

        foreach (var (key, (message, change)) in _restores.Where(r => caughtUp.Contains(r.Key.Topic)).OrderBy(r => r.Value.Message.Position).ToList())
        {
            _restores.Remove(key);
            if (change is not null && _suppressed(change))
            {
                // Erased since it was read: its value must not come back, and erasure tombstoned it.
                continue;
            }

            var properties = new Dictionary<string, string>(message.Properties, StringComparer.Ordinal) { [RestoredProperty] = message.Position.ToString() };
            await _publisher.PublishAsync(key.Topic, message.Key, message.Value, properties, message.EventTime, cancellationToken);
            restored++;
            Count(restored: 1);
        }

        return (repaired, restored);
    }

    /// <summary>Compares entries only: a send receipt names the entry a message went to, not its
    /// index inside a batch entry.</summary>
    private static bool SameOrLaterEntry(StreamPosition position, StreamPosition entry) =>
        (position.Ledger, position.Entry).CompareTo((entry.Ledger, entry.Entry)) >= 0;

    private void Count(int repaired = 0, int superseded = 0, int restored = 0)
    {
        Repaired += repaired;
        Superseded += superseded;
        Restored += restored;
        Counters?.AddRepairs(repaired, superseded, restored);
    }

    /// <summary>A repair tombstone on its way: where its delete was and where it landed, and the
    /// latest live value of the key read after the delete (null: none, or the key was deleted again;
    /// a message that could not be decoded counts as live: its bytes can be copied all the same).</summary>
    private sealed class Published(StreamPosition delete, StreamPosition tombstone)
    {
        public StreamPosition Delete { get; } = delete;

        public StreamPosition Tombstone { get; } = tombstone;

        public (SourceMessage Message, ChangeEvent? Change)? Latest { get; set; }
    }
}
