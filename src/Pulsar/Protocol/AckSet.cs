namespace Sync.Pulsar.Protocol;

/// <summary>
/// The ack_set of a batch message id or of a MESSAGE command: Java BitSet.toLongArray layout,
/// bit i in word i / 64 at position i % 64, a set bit meaning "not yet acknowledged".
/// </summary>
public static class AckSet
{
    /// <summary>
    /// True when item <paramref name="index"/> must still be delivered. An empty set means the
    /// broker sent no ack_set: every item is pending. A bit beyond the array is clear, as in a
    /// Java BitSet, so such an item counts as acknowledged.
    /// </summary>
    public static bool IsPending(IReadOnlyList<long> ackSet, int index)
    {
        ArgumentNullException.ThrowIfNull(ackSet);
        if (ackSet.Count == 0)
        {
            return true;
        }
        var word = index >> 6;
        return word < ackSet.Count && ((ackSet[word] >> (index & 63)) & 1) != 0;
    }

    /// <summary>Builds a set of <paramref name="size"/> bits where only the given items are pending.</summary>
    public static long[] FromPending(int size, IEnumerable<int> pendingIndexes)
    {
        ArgumentNullException.ThrowIfNull(pendingIndexes);
        var words = new long[(size + 63) >> 6];
        foreach (var index in pendingIndexes)
        {
            if (index < 0 || index >= size)
            {
                throw new ArgumentOutOfRangeException(nameof(pendingIndexes), index, $"batch index must be in [0, {size})");
            }
            words[index >> 6] |= 1L << (index & 63);
        }
        return words;
    }
}
