using Google.Protobuf;
using Sync.Pulsar.Protocol;
using Sync.Pulsar.Protocol.Proto;

namespace Sync.Testing.Pulsar;

// Topic compaction and the compacted view that read_compacted subscriptions read.
public sealed partial class FakeTopic
{
    private readonly SortedList<ulong, FakeEntry> _compacted = [];

    /// <summary>Last entry id covered by the latest compaction; null before the first one.</summary>
    public ulong? CompactionHorizon { get; private set; }

    /// <summary>The compacted view: surviving entries under their original ids.</summary>
    public IReadOnlyList<FakeEntry> CompactedEntries
    {
        get
        {
            lock (_broker.Sync)
            {
                return [.. _compacted.Values];
            }
        }
    }

    /// <summary>
    /// Compacts the topic as the broker's TwoPhaseCompactor does: phase one reads up to the last
    /// message and keeps the latest message per key; phase two writes the survivors, under their
    /// original message ids, into the compacted ledger, and the last id read becomes the horizon.
    /// </summary>
    internal void CompactLocked()
    {
        if (EndLocked == FirstRetainedLocked)
        {
            return;
        }
        // The compactor reads with read_compacted: the previous compacted ledger up to the old
        // horizon, then the raw topic after it. So keys survive in the compacted view after
        // retention deleted their raw ledgers, until a tombstone removes them.
        var source = (CompactionHorizon is { } previous
            ? _compacted.Values.Concat(RetainedEntriesLocked.Where(e => e.EntryId > previous))
            : RetainedEntriesLocked).ToList();
        if (source.Count == 0)
        {
            CompactionHorizon = EndLocked - 1;
            return;
        }

        // Phase one: key -> (entry id, batch index) of its latest message, tombstones removing it.
        var latest = new Dictionary<string, (ulong EntryId, int Index)>(StringComparer.Ordinal);
        foreach (var entry in source)
        {
            foreach (var item in Items(entry))
            {
                if (item.CompactedOut || item.Key is null)
                {
                    // Keyless messages are dropped (topicCompactionRetainNullKey is false by default since 3.2).
                    continue;
                }
                if (item.IsTombstone)
                {
                    latest.Remove(item.Key);
                }
                else
                {
                    latest[item.Key] = (entry.EntryId, item.Index);
                }
            }
        }
        var survivors = latest.Values.ToHashSet();

        // Phase two: keep surviving entries; rewrite batches with compacted_out placeholders so
        // batch indexes stay stable; drop entries with no survivor.
        _compacted.Clear();
        foreach (var entry in source)
        {
            if (!entry.Metadata.HasNumMessagesInBatch)
            {
                if (survivors.Contains((entry.EntryId, -1)))
                {
                    _compacted.Add(entry.EntryId, entry);
                }
                continue;
            }
            var items = Items(entry).ToList();
            if (!items.Any(i => survivors.Contains((entry.EntryId, i.Index))))
            {
                continue;
            }
            _compacted.Add(entry.EntryId, RewriteBatch(entry, items, survivors));
        }
        CompactionHorizon = EndLocked - 1;
    }

    /// <summary>The entry a read_compacted cursor reads at <paramref name="entryId"/>, or null when compaction removed it.</summary>
    internal FakeEntry? CompactedViewAt(ulong entryId) =>
        CompactionHorizon is { } horizon && entryId <= horizon
            ? _compacted.GetValueOrDefault(entryId)
            : EntryAtLocked(entryId);

    /// <summary>Next entry id at or after <paramref name="entryId"/> that the compacted view holds.</summary>
    internal ulong? NextInCompactedViewLocked(ulong entryId)
    {
        if (CompactionHorizon is { } horizon && entryId <= horizon)
        {
            foreach (var id in _compacted.Keys)
            {
                if (id >= entryId)
                {
                    return id;
                }
            }
            entryId = horizon + 1;
        }
        entryId = Math.Max(entryId, FirstRetainedLocked);
        return entryId < EndLocked ? entryId : null;
    }

    private sealed record Item(int Index, string? Key, bool IsTombstone, SingleMessageMetadata? Single, ReadOnlyMemory<byte> Payload)
    {
        /// <summary>A placeholder an earlier compaction left: nothing to judge, kept so indexes stay stable.</summary>
        public bool CompactedOut => Single?.CompactedOut == true;
    }

    private static IEnumerable<Item> Items(FakeEntry entry)
    {
        var metadata = entry.Metadata;
        var payload = PayloadOf(entry);
        if (!metadata.HasNumMessagesInBatch)
        {
            // An empty payload (uncompressed_size when compressed) is a tombstone; so is null_value.
            var size = metadata.Compression != CompressionType.None ? (int)metadata.UncompressedSize : payload.Length;
            yield return new Item(-1, metadata.HasPartitionKey ? metadata.PartitionKey : null, size <= 0 || metadata.NullValue, null, payload);
            yield break;
        }
        foreach (var item in BatchPayload.Decode(payload, metadata.NumMessagesInBatch))
        {
            var single = item.Metadata;
            yield return new Item(
                item.Index,
                single.HasPartitionKey ? single.PartitionKey : null,
                single.PayloadSize <= 0 || single.NullValue,
                single,
                item.Payload);
        }
    }

    private static ReadOnlyMemory<byte> PayloadOf(FakeEntry entry)
    {
        var frame = FrameDecoder.DecodeMessagePart(new BaseCommand { Type = BaseCommand.Types.Type.Message }, entry.MessageBytes);
        var metadata = frame.Metadata!;
        return metadata.Compression == CompressionType.None
            ? frame.Payload
            : PayloadCompression.Decompress(metadata.Compression, frame.Payload.Span, (int)metadata.UncompressedSize);
    }

    private static FakeEntry RewriteBatch(FakeEntry entry, List<Item> items, HashSet<(ulong, int)> survivors)
    {
        var batch = BatchPayload.Encode(items.Select(item =>
        {
            if (survivors.Contains((entry.EntryId, item.Index)))
            {
                return (item.Single!.Clone(), item.Payload);
            }
            var placeholder = item.Single!.Clone();
            placeholder.CompactedOut = true;
            return (placeholder, ReadOnlyMemory<byte>.Empty);
        }));
        var metadata = entry.Metadata.Clone();
        ReadOnlyMemory<byte> payload = batch;
        if (metadata.Compression != CompressionType.None)
        {
            // The compactor keeps the batch's codec when it rebuilds it.
            metadata.UncompressedSize = (uint)batch.Length;
            payload = PayloadCompression.Compress(metadata.Compression, batch);
        }
        return new FakeEntry(entry.EntryId, FrameEncoder.EncodeMessagePart(metadata, payload.Span), metadata);
    }
}
