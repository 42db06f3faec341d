namespace Sync.Pulsar;

/// <summary>
/// Position of a message: ledger and entry in the topic's log, the partition it came from
/// (-1 when the topic is not partitioned) and the index inside a batch entry (-1 when the entry
/// holds one message). Ordered by ledger, entry, then batch index; the partition is ignored
/// because positions are only comparable within one partition.
/// </summary>
public readonly record struct MessageId(ulong LedgerId, ulong EntryId, int Partition = -1, int BatchIndex = -1)
    : IComparable<MessageId>
{
    /// <summary>Before the first message; the broker encodes it as (-1, -1) in unsigned fields.</summary>
    public static MessageId Earliest { get; } = new(ulong.MaxValue, ulong.MaxValue);

    /// <summary>After the last message: (Long.MAX_VALUE, Long.MAX_VALUE), as the Java client sends it.</summary>
    public static MessageId Latest { get; } = new(long.MaxValue, long.MaxValue);

    /// <summary>Number of messages in the batch this id belongs to; 0 when unknown or not batched.</summary>
    public int BatchSize { get; init; }

    public bool IsBatched => BatchIndex >= 0;

    public int CompareTo(MessageId other)
    {
        // Earliest is (-1,-1) as signed longs, so positions compare as the broker compares them.
        var byLedger = ((long)LedgerId).CompareTo((long)other.LedgerId);
        if (byLedger != 0)
        {
            return byLedger;
        }
        var byEntry = ((long)EntryId).CompareTo((long)other.EntryId);
        return byEntry != 0 ? byEntry : BatchIndex.CompareTo(other.BatchIndex);
    }

    public static bool operator <(MessageId left, MessageId right) => left.CompareTo(right) < 0;

    public static bool operator >(MessageId left, MessageId right) => left.CompareTo(right) > 0;

    public static bool operator <=(MessageId left, MessageId right) => left.CompareTo(right) <= 0;

    public static bool operator >=(MessageId left, MessageId right) => left.CompareTo(right) >= 0;

    public override string ToString() =>
        BatchIndex >= 0 ? $"{(long)LedgerId}:{(long)EntryId}:{Partition}:{BatchIndex}" : $"{(long)LedgerId}:{(long)EntryId}:{Partition}";

    internal MessageIdData ToProto()
    {
        var data = new MessageIdData { LedgerId = LedgerId, EntryId = EntryId };
        if (Partition >= 0)
        {
            data.Partition = Partition;
        }
        if (BatchIndex >= 0)
        {
            data.BatchIndex = BatchIndex;
        }
        if (BatchSize > 0)
        {
            data.BatchSize = BatchSize;
        }
        return data;
    }

    internal static MessageId FromProto(MessageIdData data) =>
        new(data.LedgerId, data.EntryId, data.HasPartition ? data.Partition : -1, data.HasBatchIndex ? data.BatchIndex : -1)
        {
            BatchSize = data.HasBatchSize ? data.BatchSize : 0,
        };
}
