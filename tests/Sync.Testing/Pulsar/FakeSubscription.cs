using Sync.Pulsar.Protocol.Proto;

namespace Sync.Testing.Pulsar;

/// <summary>A consumer attached to a subscription through one connection.</summary>
internal sealed class FakeConsumer(FakeBrokerConnection connection, ulong consumerId, string name, FakeSubscription subscription)
{
    public FakeBrokerConnection Connection { get; } = connection;

    public ulong ConsumerId { get; } = consumerId;

    public string Name { get; } = name;

    public FakeSubscription Subscription { get; } = subscription;

    /// <summary>Flow permits left. Counted in messages and allowed to go negative after a batch, as in the broker.</summary>
    public int Permits { get; set; }

    /// <summary>Messages delivered to this consumer in total (tests check back-pressure with it).</summary>
    public long Delivered { get; set; }
}

/// <summary>
/// A durable subscription: a cursor (mark-delete position plus individually acknowledged
/// entries), the entries delivered but not acknowledged, a replay set for redelivery, and the
/// consumers with their flow permits. Models ManagedCursor + the dispatchers of the Java broker
/// for Exclusive, Failover and Shared.
/// </summary>
public sealed class FakeSubscription
{
    private readonly FakeTopic _topic;

    internal FakeTopic Topic => _topic;
    private readonly SortedSet<ulong> _individuallyAcked = [];
    private readonly SortedSet<ulong> _replay = [];
    private readonly Dictionary<ulong, FakeConsumer> _pending = [];
    private readonly Dictionary<ulong, uint> _redeliveryCounts = [];
    private int _roundRobin;

    internal FakeSubscription(FakeTopic topic, string name, CommandSubscribe.Types.SubType type, ulong startEntry)
    {
        _topic = topic;
        Name = name;
        Type = type;
        AckedBefore = startEntry;
        ReadPosition = startEntry;
    }

    public string Name { get; }

    public CommandSubscribe.Types.SubType Type { get; }

    /// <summary>
    /// Reads the compacted view up to the compaction horizon, then the raw topic after it.
    /// Fixed by the first consumer, like the broker's cursor choice at subscribe time.
    /// </summary>
    public bool ReadCompacted { get; init; }

    /// <summary>False for a reader's cursor, which is removed when its consumer leaves.</summary>
    public bool IsDurable { get; init; } = true;

    /// <summary>Every entry below this id is acknowledged (the mark-delete position + 1).</summary>
    public ulong AckedBefore { get; private set; }

    /// <summary>Next entry never delivered before.</summary>
    internal ulong ReadPosition { get; set; }

    internal List<FakeConsumer> Consumers { get; } = [];

    /// <summary>Entries acknowledged so far (cumulatively or individually).</summary>
    public bool IsAcknowledged(ulong entryId) => entryId < AckedBefore || _individuallyAcked.Contains(entryId);

    /// <summary>Entries delivered to some consumer and not yet acknowledged.</summary>
    public int PendingCount => _pending.Count;

    /// <summary>Messages delivered to the subscription's consumers in total.</summary>
    public long DeliveredCount { get; private set; }

    /// <summary>Moves the cursor so that <paramref name="entryId"/> is read next, forgetting acks and deliveries after it.</summary>
    internal void ResetLocked(ulong entryId)
    {
        AckedBefore = entryId;
        ReadPosition = entryId;
        _individuallyAcked.Clear();
        _replay.Clear();
        _pending.Clear();
        _redeliveryCounts.Clear();
    }

    internal void AckIndividualLocked(ulong entryId)
    {
        _pending.Remove(entryId);
        _replay.Remove(entryId);
        if (entryId >= AckedBefore)
        {
            _individuallyAcked.Add(entryId);
        }
        // The mark-delete position moves over every contiguous acknowledged entry, as
        // ManagedCursor does after individual acks fill a gap.
        while (_individuallyAcked.Remove(AckedBefore))
        {
            AckedBefore++;
        }
    }

    internal void AckCumulativeLocked(ulong entryId)
    {
        if (entryId + 1 <= AckedBefore)
        {
            return;
        }
        AckedBefore = entryId + 1;
        foreach (var acked in _pending.Keys.Where(id => id < AckedBefore).ToList())
        {
            _pending.Remove(acked);
        }
        _replay.RemoveWhere(id => id < AckedBefore);
        _individuallyAcked.RemoveWhere(id => id < AckedBefore);
        while (_individuallyAcked.Remove(AckedBefore))
        {
            AckedBefore++;
        }
    }

    /// <summary>
    /// REDELIVER_UNACKNOWLEDGED_MESSAGES. Exclusive/Failover: the broker rewinds and sends every
    /// unacknowledged entry again. Shared/Key_Shared: only the listed entries (all of the
    /// consumer's pending ones when the list is empty) go to the replay set, with their
    /// redelivery count increased.
    /// </summary>
    internal void RedeliverLocked(FakeConsumer consumer, IReadOnlyCollection<ulong> entryIds)
    {
        var targets = entryIds.Count == 0 || Type is CommandSubscribe.Types.SubType.Exclusive or CommandSubscribe.Types.SubType.Failover
            ? _pending.Where(p => p.Value == consumer).Select(p => p.Key).ToList()
            : entryIds.Where(id => _pending.TryGetValue(id, out var owner) && owner == consumer).ToList();
        foreach (var entryId in targets)
        {
            _pending.Remove(entryId);
            _replay.Add(entryId);
            if (Type is CommandSubscribe.Types.SubType.Shared or CommandSubscribe.Types.SubType.KeyShared)
            {
                _redeliveryCounts[entryId] = _redeliveryCounts.GetValueOrDefault(entryId) + 1;
            }
        }
        DispatchLocked();
    }

    /// <summary>A consumer left (closed or its connection dropped): its unacked entries go back for redelivery.</summary>
    internal void RemoveConsumerLocked(FakeConsumer consumer)
    {
        Consumers.Remove(consumer);
        if (!IsDurable && Consumers.Count == 0)
        {
            // A non-durable cursor lives only as long as its reader.
            if (_topic.Subscriptions.GetValueOrDefault(Name) == this)
            {
                _topic.Subscriptions.Remove(Name);
            }
            return;
        }
        foreach (var entryId in _pending.Where(p => p.Value == consumer).Select(p => p.Key).ToList())
        {
            _pending.Remove(entryId);
            _replay.Add(entryId);
        }
        DispatchLocked();
    }

    /// <summary>Delivers as much as permits allow.</summary>
    internal void DispatchLocked()
    {
        var entries = _topic.EntriesLocked;
        while (true)
        {
            var entryId = NextEntryLocked(entries);
            if (entryId is null)
            {
                NotifyEndOfTopicLocked();
                return;
            }
            var entry = ReadCompacted ? _topic.CompactedViewAt(entryId.Value) : entries[(int)entryId.Value];
            if (entry is null)
            {
                // Compacted away since it was queued for redelivery.
                _replay.Remove(entryId.Value);
                continue;
            }
            var consumer = PickConsumerLocked(entry);
            if (consumer is null)
            {
                return;
            }
            if (!_replay.Remove(entry.EntryId))
            {
                ReadPosition = entry.EntryId + 1;
            }
            _pending[entry.EntryId] = consumer;
            // A batch costs all its messages even when that drives permits negative: the broker
            // only checks for permits > 0 before sending an entry.
            consumer.Permits -= entry.MessageCount;
            consumer.Delivered += entry.MessageCount;
            DeliveredCount += entry.MessageCount;
            consumer.Connection.SendMessageLocked(consumer, _topic, entry, _redeliveryCounts.GetValueOrDefault(entry.EntryId));
        }
    }

    private readonly HashSet<FakeConsumer> _toldEndOfTopic = [];

    /// <summary>
    /// On a terminated topic, a consumer whose subscription has nothing left to read gets
    /// REACHED_END_OF_TOPIC once (PersistentDispatcher notifies when the cursor reaches the end).
    /// </summary>
    private void NotifyEndOfTopicLocked()
    {
        if (!_topic.IsTerminated || ReadPosition < (ulong)_topic.EntriesLocked.Count || _replay.Count > 0)
        {
            return;
        }
        foreach (var consumer in Consumers.Where(_toldEndOfTopic.Add))
        {
            consumer.Connection.SendLocked(new BaseCommand
            {
                Type = BaseCommand.Types.Type.ReachedEndOfTopic,
                ReachedEndOfTopic = new CommandReachedEndOfTopic { ConsumerId = consumer.ConsumerId },
            });
        }
    }

    private ulong? NextEntryLocked(List<FakeEntry> entries)
    {
        // Redeliveries go first, oldest first, as the broker's replay set does.
        while (_replay.Count > 0)
        {
            var first = _replay.Min;
            if (!IsAcknowledged(first))
            {
                return first;
            }
            _replay.Remove(first);
        }
        while (true)
        {
            if (ReadCompacted)
            {
                // Entries removed by compaction are skipped as if they were never written.
                if (_topic.NextInCompactedViewLocked(ReadPosition) is not { } next)
                {
                    return null;
                }
                ReadPosition = next;
            }
            if (ReadPosition >= (ulong)entries.Count)
            {
                return null;
            }
            if (!IsAcknowledged(ReadPosition))
            {
                return ReadPosition;
            }
            ReadPosition++;
        }
    }

    private FakeConsumer? PickConsumerLocked(FakeEntry entry)
    {
        if (Consumers.Count == 0)
        {
            return null;
        }
        switch (Type)
        {
            case CommandSubscribe.Types.SubType.Exclusive:
            case CommandSubscribe.Types.SubType.Failover:
                // One active consumer: the first attached; the others stand by until it leaves.
                var active = Consumers[0];
                return active.Permits > 0 ? active : null;
            case CommandSubscribe.Types.SubType.KeyShared:
                // Every key goes to one consumer for as long as the consumer set is stable.
                var key = entry.Metadata.HasOrderingKey ? entry.Metadata.OrderingKey.ToBase64() : entry.Metadata.PartitionKey;
                var owner = Consumers[(int)(StableHash(key) % (uint)Consumers.Count)];
                return owner.Permits > 0 ? owner : null;
            default:
                // Shared: round robin over consumers that have permits.
                for (var i = 0; i < Consumers.Count; i++)
                {
                    var candidate = Consumers[(_roundRobin + i) % Consumers.Count];
                    if (candidate.Permits > 0)
                    {
                        _roundRobin = (_roundRobin + i + 1) % Consumers.Count;
                        return candidate;
                    }
                }
                return null;
        }
    }

    private static uint StableHash(string key)
    {
        // FNV-1a: stable across processes (string.GetHashCode is randomized per process).
        var hash = 2166136261u;
        foreach (var c in key)
        {
            hash = (hash ^ c) * 16777619u;
        }
        return hash;
    }
}
