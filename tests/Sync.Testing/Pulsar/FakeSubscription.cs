using Sync.Pulsar.Protocol.Proto;

namespace Sync.Testing.Pulsar;

/// <summary>A consumer attached to a subscription through one connection.</summary>
internal sealed class FakeConsumer(FakeBrokerConnection connection, ulong consumerId, string name, FakeSubscription subscription, KeySharedMeta? keyShared = null)
{
    /// <summary>The Key_Shared policy the consumer declared in SUBSCRIBE, if any.</summary>
    public KeySharedMeta? KeyShared { get; } = keyShared;

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
    private readonly Dictionary<ulong, long[]> _batchUnacked = [];
    private int _roundRobin;

    internal FakeSubscription(FakeTopic topic, string name, CommandSubscribe.Types.SubType type, ulong startEntry)
    {
        _topic = topic;
        Name = name;
        Type = type;
        AckedBefore = startEntry;
        ReadPosition = startEntry;
        if (type == CommandSubscribe.Types.SubType.KeyShared)
        {
            KeyShared = new FakeKeySharedSelector();
        }
    }

    /// <summary>How a Key_Shared subscription maps key hashes to consumers; null for other types.</summary>
    internal FakeKeySharedSelector? KeyShared { get; }

    private readonly FakeDrainingHashes _draining = new();

    /// <summary>
    /// Key_Shared AUTO_SPLIT: the hash slots that changed owner while their old owner still holds
    /// unacknowledged entries of them, by the name of that old owner, as the broker's consumer stats
    /// show them (drainingHashes). Their entries go to the new owner only once these are acknowledged.
    /// </summary>
    public IReadOnlyDictionary<string, IReadOnlyList<DrainingHash>> KeySharedDrainingHashes
    {
        get
        {
            lock (_topic.Broker.Sync)
            {
                return _draining.ByConsumer();
            }
        }
    }

    /// <summary>Key_Shared: the inclusive hash ranges each consumer (by name) owns, as the broker's stats show them.</summary>
    public IReadOnlyDictionary<string, IReadOnlyList<Sync.Pulsar.HashRange>> KeySharedRanges
    {
        get
        {
            lock (_topic.Broker.Sync)
            {
                return KeyShared?.RangesByConsumer() ?? new Dictionary<string, IReadOnlyList<Sync.Pulsar.HashRange>>();
            }
        }
    }

    /// <summary>
    /// Attaches a consumer; null, or the error the broker answers SUBSCRIBE with (a Key_Shared
    /// consumer whose policy does not fit: ConsumerBusy for another mode, ConsumerAssignError for
    /// conflicting sticky ranges).
    /// </summary>
    internal (ServerError Error, string Message)? AddConsumerLocked(FakeConsumer consumer)
    {
        if (KeyShared?.Add(consumer) is { } refused)
        {
            return refused;
        }
        Consumers.Add(consumer);
        RegisterDrainingHashesLocked();
        return null;
    }

    /// <summary>
    /// After the hash ranges changed: every entry a consumer holds unacknowledged whose slot now
    /// belongs to another consumer makes that slot drain (Pulsar 4.0, PIP-379:
    /// PersistentStickyKeyDispatcherMultipleConsumers.addConsumer and removeConsumer call
    /// registerDrainingHashes with the ranges the selector moved). Before this, the fake handed a
    /// newcomer its range at once, while the old owner still had the range's keys in flight.
    /// </summary>
    private void RegisterDrainingHashesLocked()
    {
        if (KeyShared is not { DrainingRequired: true })
        {
            return;
        }
        foreach (var (entryId, holder) in _pending)
        {
            if (_topic.EntryAtLocked(entryId) is not { } entry)
            {
                continue;
            }
            var slot = FakeKeySharedSelector.SlotOf(entry.Metadata);
            if (KeyShared.Select(slot) == holder)
            {
                _draining.ReturnedTo(holder, slot);
            }
            else
            {
                _draining.Add(holder, slot, entryId);
            }
        }
    }

    /// <summary>
    /// An entry left its consumer's pending acks. Returns true when that ends a slot's draining,
    /// so entries held back for it may go now.
    /// </summary>
    private bool ReleasePendingLocked(ulong entryId) => _pending.Remove(entryId) && _draining.Release(entryId);

    /// <summary>Indexes of a batch entry still unacknowledged (Java BitSet words), when some of it was acknowledged.</summary>
    public IReadOnlyList<long>? BatchAckSet(ulong entryId)
    {
        lock (_topic.Broker.Sync)
        {
            return _batchUnacked.GetValueOrDefault(entryId);
        }
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

    /// <summary>Flow permits its consumers have left: at 0 the broker delivers nothing more until a FLOW.</summary>
    public int PermitsLeft
    {
        get
        {
            lock (_topic.Broker.Sync)
            {
                return Consumers.Sum(c => c.Permits);
            }
        }
    }

    /// <summary>Moves the cursor so that <paramref name="entryId"/> is read next, forgetting acks and deliveries after it.</summary>
    internal void ResetLocked(ulong entryId)
    {
        AckedBefore = entryId;
        ReadPosition = entryId;
        _individuallyAcked.Clear();
        _replay.Clear();
        _pending.Clear();
        _draining.Clear();
        _redeliveryCounts.Clear();
        _batchUnacked.Clear();
    }

    /// <summary>
    /// An ack of single messages of a batch entry: <paramref name="ackSet"/> holds the indexes still
    /// unacknowledged. With acknowledgmentAtBatchIndexLevelEnabled the cursor keeps the intersection
    /// with what it had (ManagedCursor batchDeletedIndexes) and deletes the entry once no index is
    /// left; without it the broker does not act on an ack that carries an ack_set.
    /// </summary>
    internal void AckBatchIndexesLocked(ulong entryId, IReadOnlyList<long> ackSet)
    {
        if (!_topic.Broker.Options.AcknowledgmentAtBatchIndexLevelEnabled || IsAcknowledged(entryId) || _topic.EntryAtLocked(entryId) is not { } entry)
        {
            return;
        }
        var size = entry.MessageCount;
        var current = _batchUnacked.TryGetValue(entryId, out var known) ? known : Sync.Pulsar.Protocol.AckSet.FromPending(size, Enumerable.Range(0, size));
        var remaining = new long[current.Length];
        for (var i = 0; i < remaining.Length; i++)
        {
            remaining[i] = current[i] & (i < ackSet.Count ? ackSet[i] : 0);
        }
        if (remaining.All(word => word == 0))
        {
            AckIndividualLocked(entryId);
            return;
        }
        _batchUnacked[entryId] = remaining;
    }

    internal void AckIndividualLocked(ulong entryId)
    {
        _batchUnacked.Remove(entryId);
        var drained = ReleasePendingLocked(entryId);
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
        if (drained)
        {
            // The last pending entry of a draining slot was acknowledged: its held-back entries
            // may go to the slot's new owner now (stickyKeyHashUnblocked -> reScheduleRead).
            DispatchLocked();
        }
    }

    internal void AckCumulativeLocked(ulong entryId)
    {
        if (entryId + 1 <= AckedBefore)
        {
            return;
        }
        AckedBefore = entryId + 1;
        var drained = false;
        foreach (var acked in _pending.Keys.Where(id => id < AckedBefore).ToList())
        {
            drained |= ReleasePendingLocked(acked);
        }
        _replay.RemoveWhere(id => id < AckedBefore);
        _individuallyAcked.RemoveWhere(id => id < AckedBefore);
        foreach (var acked in _batchUnacked.Keys.Where(id => id < AckedBefore).ToList())
        {
            _batchUnacked.Remove(acked);
        }
        while (_individuallyAcked.Remove(AckedBefore))
        {
            AckedBefore++;
        }
        if (drained)
        {
            DispatchLocked();
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
            // A redelivered entry is no longer pending at its consumer, so it no longer holds its
            // slot draining (Consumer.redeliverUnacknowledgedMessages removes it from pendingAcks).
            ReleasePendingLocked(entryId);
            _replay.Add(entryId);
            if (Type is CommandSubscribe.Types.SubType.Shared or CommandSubscribe.Types.SubType.KeyShared)
            {
                _redeliveryCounts[entryId] = _redeliveryCounts.GetValueOrDefault(entryId) + 1;
            }
        }
        DispatchLocked();
    }

    /// <summary>
    /// A consumer left (closed or its connection dropped): its unacked entries go back for
    /// redelivery, and on Key_Shared its hash range goes to the others.
    /// </summary>
    internal void RemoveConsumerLocked(FakeConsumer consumer, bool isResetCursor = false)
    {
        Consumers.Remove(consumer);
        if (TakeActiveChangeLocked())
        {
            NotifyActiveChangedLocked();
        }
        KeyShared?.Remove(consumer);
        // The slots it drained stop draining: its pending entries go back for replay below, ahead
        // of every later entry of their slots (DrainingHashesTracker.consumerRemoved; the replay
        // set blocks normal reads of a slot it holds, canDispatchEntry).
        _draining.ConsumerRemoved(consumer);
        if (!IsDurable && Consumers.Count == 0 && !isResetCursor)
        {
            // A non-durable cursor lives only as long as its reader, except when a seek
            // disconnected the reader: the reset cursor waits for it to subscribe again
            // (PersistentSubscription.removeConsumer with isResetCursor).
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
        RegisterDrainingHashesLocked();
        DispatchLocked();
    }

    /// <summary>Exclusive and Failover: the consumer the broker dispatches to (the first attached,
    /// as <see cref="DispatchLocked"/> picks it); null for the other types or without consumers.</summary>
    internal FakeConsumer? ActiveConsumer =>
        Type is CommandSubscribe.Types.SubType.Exclusive or CommandSubscribe.Types.SubType.Failover && Consumers.Count > 0 ? Consumers[0] : null;

    private FakeConsumer? _lastActive;

    /// <summary>True when the active consumer is another one than when last asked (and there is one).</summary>
    internal bool TakeActiveChangeLocked()
    {
        var now = ActiveConsumer;
        if (now == _lastActive)
        {
            return false;
        }
        _lastActive = now;
        return now is not null;
    }

    /// <summary>Failover only: every consumer learns whether it is the active one
    /// (FakeBrokerConnection.ActiveConsumerChange.cs says why).</summary>
    internal void NotifyActiveChangedLocked()
    {
        if (Type != CommandSubscribe.Types.SubType.Failover || ActiveConsumer is not { } active)
        {
            return;
        }
        foreach (var consumer in Consumers)
        {
            consumer.Connection.SendActiveConsumerChangeLocked(consumer, consumer == active);
        }
    }

    /// <summary>Delivers as much as permits allow.</summary>
    internal void DispatchLocked()
    {
        if (KeyShared is not null)
        {
            DispatchKeySharedLocked();
            NotifyEndOfTopicLocked();
            return;
        }
        while (true)
        {
            var entryId = NextEntryLocked();
            if (entryId is null)
            {
                NotifyEndOfTopicLocked();
                return;
            }
            var entry = ReadCompacted ? _topic.CompactedViewAt(entryId.Value) : _topic.EntryAtLocked(entryId.Value);
            if (entry is null)
            {
                // Compacted away (or deleted by retention) since it was queued for redelivery.
                _replay.Remove(entryId.Value);
                if (!ReadCompacted && entryId.Value == ReadPosition)
                {
                    ReadPosition++;
                }
                continue;
            }
            var consumer = PickConsumerLocked();
            if (consumer is null)
            {
                return;
            }
            DeliverLocked(consumer, entry);
        }
    }

    private void DeliverLocked(FakeConsumer consumer, FakeEntry entry)
    {
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
        consumer.Connection.SendMessageLocked(consumer, _topic, entry, _redeliveryCounts.GetValueOrDefault(entry.EntryId), _batchUnacked.GetValueOrDefault(entry.EntryId));
    }

    /// <summary>
    /// Key_Shared: each entry goes to the consumer owning its key's hash slot. An entry whose
    /// consumer has no permits (or, with sticky ranges, whose slot nobody owns, or whose slot is
    /// draining at another consumer) waits in the replay set while other keys go on, and every
    /// later entry of the same slot waits behind it, so a key's order holds
    /// (PersistentStickyKeyDispatcherMultipleConsumers.filterAndGroupEntriesForDispatching and
    /// canDispatchEntry, Pulsar 4.0).
    /// </summary>
    private void DispatchKeySharedLocked()
    {
        var blockedSlots = new HashSet<int>();
        foreach (var entryId in _replay.ToList())
        {
            if (IsAcknowledged(entryId) || _topic.EntryAtLocked(entryId) is not { } entry)
            {
                _replay.Remove(entryId);
                continue;
            }
            TryDeliverByKeyLocked(entry, blockedSlots);
        }
        while (Consumers.Any(c => c.Permits > 0) && ReadPosition < _topic.EndLocked)
        {
            var position = ReadPosition;
            ReadPosition++;
            if (IsAcknowledged(position) || _topic.EntryAtLocked(position) is not { } entry)
            {
                continue;
            }
            if (!TryDeliverByKeyLocked(entry, blockedSlots))
            {
                _replay.Add(position);
            }
        }
    }

    private bool TryDeliverByKeyLocked(FakeEntry entry, HashSet<int> blockedSlots)
    {
        var slot = FakeKeySharedSelector.SlotOf(entry.Metadata);
        var owner = KeyShared!.Select(slot);
        if (blockedSlots.Contains(slot) || owner is null || owner.Permits <= 0 || _draining.ShouldBlock(owner, slot))
        {
            blockedSlots.Add(slot);
            return false;
        }
        DeliverLocked(owner, entry);
        return true;
    }

    private readonly HashSet<FakeConsumer> _toldEndOfTopic = [];

    /// <summary>
    /// On a terminated topic, a consumer whose subscription has nothing left to read gets
    /// REACHED_END_OF_TOPIC once (PersistentDispatcher notifies when the cursor reaches the end).
    /// </summary>
    private void NotifyEndOfTopicLocked()
    {
        if (!_topic.IsTerminated || ReadPosition < _topic.EndLocked || _replay.Count > 0)
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

    private ulong? NextEntryLocked()
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
            if (!ReadCompacted && ReadPosition < _topic.FirstRetainedLocked)
            {
                // Retention deleted what this cursor had not read yet (a reader's cursor).
                ReadPosition = _topic.FirstRetainedLocked;
            }
            if (ReadPosition >= _topic.EndLocked)
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

    private FakeConsumer? PickConsumerLocked()
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
}
