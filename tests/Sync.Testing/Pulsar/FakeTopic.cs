using Sync.Pulsar;
using Sync.Pulsar.Protocol.Proto;

namespace Sync.Testing.Pulsar;

/// <summary>One stored entry: the message part exactly as the producer sent it (from the magic on).</summary>
public sealed record FakeEntry(ulong EntryId, byte[] MessageBytes, MessageMetadata Metadata)
{
    /// <summary>Messages in the entry: num_messages_in_batch for a batch, else 1. Flow permits count these.</summary>
    public int MessageCount => Metadata.HasNumMessagesInBatch ? Math.Max(1, Metadata.NumMessagesInBatch) : 1;
}

/// <summary>
/// A persistent topic: an append-only log of entries in one ledger and the subscriptions
/// reading it. Models a managed ledger with a single ledger, which is all the message ids a
/// client can observe need (ledger id, increasing entry ids).
/// </summary>
public sealed partial class FakeTopic
{
    private readonly FakePulsarBroker _broker;
    private readonly List<FakeEntry> _entries = [];

    internal FakeTopic(FakePulsarBroker broker, string name, ulong ledgerId)
    {
        _broker = broker;
        Name = name;
        LedgerId = ledgerId;
        PartitionIndex = TopicName.PartitionIndex(name);
    }

    public string Name { get; }

    public ulong LedgerId { get; }

    /// <summary>The partition this topic is, or -1; message ids carry it.</summary>
    public int PartitionIndex { get; }

    /// <summary>True once terminated: no more messages are accepted.</summary>
    public bool IsTerminated { get; internal set; }

    internal Dictionary<string, FakeSubscription> Subscriptions { get; } = new(StringComparer.Ordinal);

    internal List<FakeEntry> EntriesLocked => _entries;

    /// <summary>A snapshot of the stored entries.</summary>
    public IReadOnlyList<FakeEntry> Entries
    {
        get
        {
            lock (_broker.Sync)
            {
                return [.. _entries];
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
        var entry = new FakeEntry((ulong)_entries.Count, messageBytes, metadata);
        _entries.Add(entry);
        return entry;
    }

    internal void DispatchLocked()
    {
        foreach (var subscription in Subscriptions.Values)
        {
            subscription.DispatchLocked();
        }
    }
}
