namespace Sync.Testing.Pulsar;

/// <summary>
/// A hash slot draining after it moved to another consumer, as the broker's stats show it
/// (ConsumerStats.drainingHashes: hash, unackMsgs, blockedAttempts).
/// </summary>
/// <param name="Hash">The sticky key hash slot.</param>
/// <param name="UnackedMessages">Entries of the slot the old consumer still holds unacknowledged.</param>
/// <param name="BlockedAttempts">How often delivery of the slot to its new owner was held back.</param>
public sealed record DrainingHash(int Hash, int UnackedMessages, int BlockedAttempts);

/// <summary>
/// Key_Shared AUTO_SPLIT without allowOutOfOrderDelivery, as Pulsar 4.0 orders it (PIP-379, in
/// the 4.0 line and later; read at apache/pulsar commit 0063cdd8): pulsar-broker/src/main/java/
/// org/apache/pulsar/broker/service/DrainingHashesTracker.java (addEntry, reduceRefCount,
/// shouldBlockStickyKeyHash, consumerRemoved) and .../service/persistent/
/// PersistentStickyKeyDispatcherMultipleConsumers.java (addConsumer, removeConsumer,
/// registerDrainingHashes, canDispatchEntry). The portable suite's real broker is
/// apachepulsar/pulsar:4.0.4. Pulsar 3.x used "recently joined consumers" instead (PIP-282),
/// which this does not model. When a consumer joins or leaves and a hash slot changes owner while
/// the old owner still holds unacknowledged entries of it, the slot is "draining": no entry of it
/// goes to anyone but that old owner until those entries are acknowledged (or redelivered, or
/// the old owner leaves and they go back for replay). What this models is the broker's
/// invariant: a key is unacknowledged at one consumer at a time.
/// </summary>
internal sealed class FakeDrainingHashes
{
    private sealed class Draining(FakeConsumer holder)
    {
        public FakeConsumer Holder { get; } = holder;

        public HashSet<ulong> Entries { get; } = [];

        public int BlockedAttempts { get; set; }
    }

    private readonly Dictionary<int, Draining> _bySlot = [];
    private readonly Dictionary<ulong, int> _slotOfEntry = [];

    public bool IsEmpty => _bySlot.Count == 0;

    /// <summary>
    /// An entry <paramref name="holder"/> has not acknowledged whose slot another consumer owns now.
    /// The broker counts a reference per such pending ack (DrainingHashesTracker.addEntry); keeping
    /// the entry ids instead makes a second range change over the same entries count them once.
    /// </summary>
    public void Add(FakeConsumer holder, int slot, ulong entryId)
    {
        if (!_bySlot.TryGetValue(slot, out var draining))
        {
            _bySlot[slot] = draining = new Draining(holder);
        }
        else if (draining.Holder != holder)
        {
            // The broker throws here too: a slot only ever has one consumer with pending acks of it.
            throw new InvalidOperationException($"slot {slot} is draining at {draining.Holder.Name}, not {holder.Name}");
        }
        if (draining.Entries.Add(entryId))
        {
            _slotOfEntry[entryId] = slot;
        }
    }

    /// <summary>The slot moved back to the consumer that holds its pending entries: nothing to wait for.</summary>
    public void ReturnedTo(FakeConsumer holder, int slot)
    {
        if (_bySlot.TryGetValue(slot, out var draining) && draining.Holder == holder)
        {
            Forget(slot, draining);
        }
    }

    /// <summary>
    /// An entry left its holder's pending acks (acknowledged, redelivered or its holder gone);
    /// true when that drained its slot, so the dispatcher should try the blocked entries again
    /// (the broker's stickyKeyHashUnblocked reschedules a read).
    /// </summary>
    public bool Release(ulong entryId)
    {
        if (!_slotOfEntry.Remove(entryId, out var slot) || !_bySlot.TryGetValue(slot, out var draining))
        {
            return false;
        }
        draining.Entries.Remove(entryId);
        if (draining.Entries.Count > 0)
        {
            return false;
        }
        _bySlot.Remove(slot);
        return true;
    }

    /// <summary>
    /// Whether an entry of <paramref name="slot"/> must wait instead of going to
    /// <paramref name="owner"/> (DrainingHashesTracker.shouldBlockStickyKeyHash): yes while another
    /// consumer drains the slot; a slot that came back to its draining consumer stops draining.
    /// </summary>
    public bool ShouldBlock(FakeConsumer owner, int slot)
    {
        if (!_bySlot.TryGetValue(slot, out var draining))
        {
            return false;
        }
        if (draining.Holder == owner)
        {
            Forget(slot, draining);
            return false;
        }
        draining.BlockedAttempts++;
        return true;
    }

    /// <summary>A consumer left: the slots it drained stop draining, its pending entries go to the replay set.</summary>
    public void ConsumerRemoved(FakeConsumer consumer)
    {
        foreach (var (slot, draining) in _bySlot.Where(d => d.Value.Holder == consumer).ToList())
        {
            Forget(slot, draining);
        }
    }

    public void Clear()
    {
        _bySlot.Clear();
        _slotOfEntry.Clear();
    }

    /// <summary>Draining slots by the name of the consumer that still holds their entries.</summary>
    public IReadOnlyDictionary<string, IReadOnlyList<DrainingHash>> ByConsumer() =>
        _bySlot.GroupBy(d => d.Value.Holder.Name, StringComparer.Ordinal).ToDictionary(
            g => g.Key,
            g => (IReadOnlyList<DrainingHash>)[.. g.OrderBy(d => d.Key).Select(d => new DrainingHash(d.Key, d.Value.Entries.Count, d.Value.BlockedAttempts))],
            StringComparer.Ordinal);

    private void Forget(int slot, Draining draining)
    {
        foreach (var entryId in draining.Entries)
        {
            _slotOfEntry.Remove(entryId);
        }
        _bySlot.Remove(slot);
    }
}
