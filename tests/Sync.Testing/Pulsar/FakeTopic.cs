using Sync.Pulsar;
using Sync.Pulsar.Protocol.Proto;

namespace Sync.Testing.Pulsar;

/// <summary>
/// One stored entry: the message part exactly as the producer sent it (from the magic on).
/// <see cref="EntryId"/> is the entry's position in the topic's whole log (0, 1, 2, ... across
/// ledgers), which cursors count in; on the wire it is (<see cref="LedgerId"/>, <see cref="LedgerEntryId"/>).
/// While a topic has one ledger both numbers are the same.
/// </summary>
public sealed record FakeEntry(ulong EntryId, byte[] MessageBytes, MessageMetadata Metadata)
{
    /// <summary>The ledger holding the entry.</summary>
    public ulong LedgerId { get; init; }

    /// <summary>The entry id inside its ledger, as message ids carry it.</summary>
    public ulong LedgerEntryId { get; init; }

    /// <summary>Messages in the entry: num_messages_in_batch for a batch, else 1. Flow permits count these.</summary>
    public int MessageCount => Metadata.HasNumMessagesInBatch ? Math.Max(1, Metadata.NumMessagesInBatch) : 1;
}

/// <summary>
/// A ledger of a topic's managed ledger: entries [<see cref="FirstEntry"/>, <see cref="EndEntry"/>)
/// of the topic's log, the unit in which retention deletes data.
/// </summary>
public sealed class FakeLedger(ulong ledgerId, ulong firstEntry, DateTimeOffset created)
{
    public ulong LedgerId { get; } = ledgerId;

    public ulong FirstEntry { get; } = firstEntry;

    /// <summary>One past the last entry (grows while the ledger is the one being written).</summary>
    public ulong EndEntry { get; internal set; } = firstEntry;

    public DateTimeOffset Created { get; } = created;

    /// <summary>When the ledger was closed (rolled over); null while it is being written. Retention time counts from here, as LedgerInfo.timestamp.</summary>
    public DateTimeOffset? Closed { get; internal set; }

    /// <summary>Bytes stored, as LedgerInfo.size.</summary>
    public long Size { get; internal set; }
}

/// <summary>
/// A persistent topic: an append-only log of entries spread over ledgers (a managed ledger), and
/// the subscriptions reading it. A new ledger starts when the current one holds
/// <see cref="FakePulsarBrokerOptions.MaxEntriesPerLedger"/> entries (managedLedgerMaxEntriesPerLedger)
/// or when a test rolls it over (as a topic reload or the rollover timer does); retention deletes
/// whole ledgers, never single entries (see FakeTopic.Retention.cs).
/// </summary>
public sealed partial class FakeTopic
{
    private readonly FakePulsarBroker _broker;
    private readonly List<FakeEntry?> _entries = [];
    private readonly List<FakeLedger> _ledgers = [];

    internal FakeTopic(FakePulsarBroker broker, string name, ulong ledgerId)
    {
        _broker = broker;
        Name = name;
        PartitionIndex = TopicName.PartitionIndex(name);
        _ledgers.Add(new FakeLedger(ledgerId, 0, broker.Clock.GetUtcNow()));
    }

    public string Name { get; }

    internal FakePulsarBroker Broker => _broker;

    /// <summary>The ledger being written.</summary>
    public ulong LedgerId
    {
        get
        {
            lock (_broker.Sync)
            {
                return _ledgers[^1].LedgerId;
            }
        }
    }

    /// <summary>The ledgers that still exist, oldest first.</summary>
    public IReadOnlyList<FakeLedger> Ledgers
    {
        get
        {
            lock (_broker.Sync)
            {
                return [.. _ledgers];
            }
        }
    }

    /// <summary>The partition this topic is, or -1; message ids carry it.</summary>
    public int PartitionIndex { get; }

    /// <summary>True once terminated: no more messages are accepted.</summary>
    public bool IsTerminated { get; internal set; }

    internal Dictionary<string, FakeSubscription> Subscriptions { get; } = new(StringComparer.Ordinal);

    /// <summary>One past the last entry ever written (positions are never reused).</summary>
    internal ulong EndLocked => (ulong)_entries.Count;

    /// <summary>The first entry retention has not deleted.</summary>
    internal ulong FirstRetainedLocked => _ledgers[0].FirstEntry;

    /// <summary>The entry at a position, or null when it does not exist (yet) or retention deleted it.</summary>
    internal FakeEntry? EntryAtLocked(ulong position) => position < (ulong)_entries.Count ? _entries[(int)position] : null;

    /// <summary>Entries that still exist, oldest first.</summary>
    internal IEnumerable<FakeEntry> RetainedEntriesLocked => _entries.Skip((int)FirstRetainedLocked).OfType<FakeEntry>();

    /// <summary>A snapshot of the stored entries (what retention has not deleted).</summary>
    public IReadOnlyList<FakeEntry> Entries
    {
        get
        {
            lock (_broker.Sync)
            {
                return [.. RetainedEntriesLocked];
            }
        }
    }

    /// <summary>The subscription, or null when none of that name exists.</summary>
    public FakeSubscription? FindSubscription(string name)
    {
        lock (_broker.Sync)
        {
            return Subscriptions.GetValueOrDefault(name);
        }
    }

    internal FakeEntry AppendLocked(byte[] messageBytes, MessageMetadata metadata)
    {
        var ledger = _ledgers[^1];
        if (ledger.EndEntry - ledger.FirstEntry >= (ulong)_broker.Options.MaxEntriesPerLedger)
        {
            ledger = RollLedgerLocked();
        }
        var position = (ulong)_entries.Count;
        var entry = new FakeEntry(position, messageBytes, metadata) { LedgerId = ledger.LedgerId, LedgerEntryId = position - ledger.FirstEntry };
        _entries.Add(entry);
        ledger.EndEntry = position + 1;
        ledger.Size += messageBytes.Length;
        return entry;
    }

    /// <summary>Closes the ledger being written and starts a new one (ManagedLedgerImpl rollover).</summary>
    internal FakeLedger RollLedgerLocked()
    {
        var now = _broker.Clock.GetUtcNow();
        _ledgers[^1].Closed = now;
        var next = new FakeLedger(_broker.NextLedgerIdLocked(), EndLocked, now);
        _ledgers.Add(next);
        return next;
    }

    /// <summary>The wire id of the entry at <paramref name="position"/>.</summary>
    internal MessageIdData IdOfLocked(ulong position)
    {
        var ledger = LedgerOfLocked(position);
        var id = new MessageIdData { LedgerId = ledger.LedgerId, EntryId = position - ledger.FirstEntry };
        if (PartitionIndex >= 0)
        {
            id.Partition = PartitionIndex;
        }
        return id;
    }

    private FakeLedger LedgerOfLocked(ulong position)
    {
        for (var i = _ledgers.Count - 1; i > 0; i--)
        {
            if (position >= _ledgers[i].FirstEntry)
            {
                return _ledgers[i];
            }
        }
        return _ledgers[0];
    }

    /// <summary>The position a wire id names, or null when its ledger is unknown (deleted or never ours).</summary>
    internal ulong? PositionOf(MessageIdData id)
    {
        foreach (var ledger in _ledgers)
        {
            if (ledger.LedgerId == id.LedgerId)
            {
                // Entry -1 of a ledger (GetLastMessageId of an empty topic) is "before its first entry".
                return id.EntryId == ulong.MaxValue ? ledger.FirstEntry : ledger.FirstEntry + id.EntryId;
            }
        }
        return null;
    }

    /// <summary>
    /// Where a cursor starting at <paramref name="id"/> begins: earliest (-1,-1) and ids before the
    /// first ledger that still exists mean its first entry; ids past the last ledger (latest is
    /// (Long.MAX, Long.MAX)) mean the end; anything else its own position, capped at the end.
    /// </summary>
    internal ulong StartPositionOf(MessageIdData id)
    {
        if (id.EntryId == ulong.MaxValue && id.LedgerId == ulong.MaxValue)
        {
            return FirstRetainedLocked;
        }
        if (PositionOf(id) is { } position)
        {
            return Math.Clamp(position, FirstRetainedLocked, EndLocked);
        }
        return id.LedgerId < _ledgers[0].LedgerId ? FirstRetainedLocked : EndLocked;
    }

    internal void DispatchLocked()
    {
        foreach (var subscription in Subscriptions.Values)
        {
            subscription.DispatchLocked();
        }
    }
}
