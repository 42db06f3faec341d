using Sync.Pulsar;
using Sync.Pulsar.Protocol.Proto;

namespace Sync.Testing.Pulsar;

/// <summary>
/// Which consumer of a Key_Shared subscription owns a key: the broker hashes the sticky key
/// (ordering key, else partition key, else "NONE_KEY") with Murmur3_32 into 65536 slots and
/// looks the slot up in ranges owned by consumers. The subscription's first consumer fixes the
/// mode; a consumer declaring the other mode is refused with ConsumerBusy.
/// <list type="bullet">
/// <item>AUTO_SPLIT models HashRangeAutoSplitStickyKeyConsumerSelector: the first consumer owns
/// every slot; each newcomer takes the lower half of the largest range; a leaving consumer's
/// range goes to the range above it (the one below when it held the top). Brokers running with
/// subscriptionKeySharedUseConsistentHashing place consumers on a hash ring instead; what
/// clients can rely on is the same either way: a key stays on one consumer while the set of
/// consumers is stable, and only the keys of a leaving consumer move.</item>
/// <item>STICKY models HashRangeExclusiveStickyKeyConsumerSelector: each consumer owns exactly
/// the ranges it declared; a range overlapping another consumer's is refused with
/// ConsumerAssignError; slots nobody owns are not delivered.</item>
/// </list>
/// </summary>
internal sealed class FakeKeySharedSelector
{
    private const int RangeSize = KeySharedPolicy.HashRangeSize;
    private static readonly byte[] NoneKey = "NONE_KEY"u8.ToArray();

    // AUTO_SPLIT: range end (exclusive upper slot bound, 1..65536) -> owner; a slot belongs to the first end >= slot.
    private readonly SortedDictionary<int, FakeConsumer> _autoSplitEnds = [];
    private readonly List<(int Start, int End, FakeConsumer Owner)> _stickyRanges = [];
    private KeySharedMeta.Types.KeySharedMode? _mode;
    private bool _allowOutOfOrderDelivery;

    /// <summary>
    /// Whether slots that change owner drain first: only AUTO_SPLIT without allowOutOfOrderDelivery
    /// (PersistentStickyKeyDispatcherMultipleConsumers' drainingHashesRequired, Pulsar 4.0); sticky
    /// ranges never move between live consumers.
    /// </summary>
    public bool DrainingRequired => _mode == KeySharedMeta.Types.KeySharedMode.AutoSplit && !_allowOutOfOrderDelivery;

    /// <summary>The slot of an entry's sticky key (Commands.peekStickyKey, then makeStickyKeyHash).</summary>
    public static int SlotOf(MessageMetadata metadata)
    {
        byte[] key;
        if (metadata.HasOrderingKey)
        {
            key = metadata.OrderingKey.ToByteArray();
        }
        else if (metadata.HasPartitionKey)
        {
            key = metadata.PartitionKeyB64Encoded ? Convert.FromBase64String(metadata.PartitionKey) : System.Text.Encoding.UTF8.GetBytes(metadata.PartitionKey);
        }
        else
        {
            key = NoneKey;
        }
        return KeyHashing.StickyKeyHash(key);
    }

    /// <summary>Hash ranges per consumer name, inclusive, as the broker's stats show them.</summary>
    public IReadOnlyDictionary<string, IReadOnlyList<HashRange>> RangesByConsumer()
    {
        var ranges = new Dictionary<string, List<HashRange>>(StringComparer.Ordinal);
        var start = 0;
        foreach (var (end, owner) in _autoSplitEnds)
        {
            Add(owner, new HashRange(start, end));
            start = end + 1;
        }
        foreach (var (rangeStart, rangeEnd, owner) in _stickyRanges)
        {
            Add(owner, new HashRange(rangeStart, rangeEnd));
        }
        return ranges.ToDictionary(r => r.Key, r => (IReadOnlyList<HashRange>)r.Value, StringComparer.Ordinal);

        void Add(FakeConsumer owner, HashRange range)
        {
            if (!ranges.TryGetValue(owner.Name, out var list))
            {
                ranges[owner.Name] = list = [];
            }
            list.Add(range);
        }
    }

    /// <summary>Adds a consumer; returns the error SUBSCRIBE gets when its policy does not fit.</summary>
    public (ServerError Error, string Message)? Add(FakeConsumer consumer)
    {
        var mode = consumer.KeyShared?.KeySharedMode ?? KeySharedMeta.Types.KeySharedMode.AutoSplit;
        var outOfOrder = consumer.KeyShared?.AllowOutOfOrderDelivery ?? false;
        var attached = _autoSplitEnds.Count > 0 || _stickyRanges.Count > 0;
        if (_mode is { } fixedMode && fixedMode != mode && attached)
        {
            return (ServerError.ConsumerBusy, $"Subscription is of different type. Active subscription key_shared mode of '{fixedMode}' is different than the connecting consumer's key_shared mode '{mode}'.");
        }
        if (attached && outOfOrder != _allowOutOfOrderDelivery)
        {
            // The policy is the dispatcher's, fixed by the first consumer; a consumer that differs
            // only in allowOutOfOrderDelivery is refused too (AbstractSubscription
            // .checkForConsumerCompatibilityErrorWithDispatcher).
            return (ServerError.ConsumerBusy, _allowOutOfOrderDelivery
                ? "Subscription is of different type. Active subscription allows out of order delivery while the connecting consumer does not allow it."
                : "Subscription is of different type. Active subscription does not allow out of order delivery while the connecting consumer allows it.");
        }
        _mode = mode;
        _allowOutOfOrderDelivery = outOfOrder;
        return mode == KeySharedMeta.Types.KeySharedMode.Sticky ? AddSticky(consumer) : AddAutoSplit(consumer);
    }

    private (ServerError, string)? AddAutoSplit(FakeConsumer consumer)
    {
        if (_autoSplitEnds.Count == 0)
        {
            _autoSplitEnds[RangeSize] = consumer;
            return null;
        }
        // Split the largest range (the first found among equals), the newcomer taking its upper half.
        var (largestEnd, largestSize, lower) = (RangeSize, 0, 0);
        var previous = 0;
        foreach (var end in _autoSplitEnds.Keys)
        {
            if (end - previous > largestSize)
            {
                (largestEnd, largestSize, lower) = (end, end - previous, previous);
            }
            previous = end;
        }
        if (largestSize <= 1)
        {
            return (ServerError.ConsumerAssignError, $"No more range can assigned to new consumer, assigned consumers {_autoSplitEnds.Count}");
        }
        var split = largestEnd - ((largestEnd - lower) >> 1);
        // The newcomer owns (lower, split], the lower half; the old owner keeps (split, largestEnd].
        _autoSplitEnds[split] = consumer;
        return null;
    }

    private (ServerError, string)? AddSticky(FakeConsumer consumer)
    {
        var declared = consumer.KeyShared!.HashRanges;
        if (declared.Count == 0)
        {
            return (ServerError.ConsumerAssignError, "Ranges for KeyShared policy must not be empty.");
        }
        foreach (var range in declared)
        {
            if (range.Start > range.End)
            {
                return (ServerError.ConsumerAssignError, "Fixed hash range start > end");
            }
            foreach (var (start, end, owner) in _stickyRanges)
            {
                if (range.Start <= end && start <= range.End)
                {
                    return (ServerError.ConsumerAssignError, $"Range conflict with consumer {owner.Name}");
                }
            }
        }
        _stickyRanges.AddRange(declared.Select(r => (r.Start, r.End, consumer)));
        return null;
    }

    public void Remove(FakeConsumer consumer)
    {
        _stickyRanges.RemoveAll(r => r.Owner == consumer);
        var owned = _autoSplitEnds.Where(e => e.Value == consumer).Select(e => e.Key).ToList();
        foreach (var end in owned)
        {
            if (end == RangeSize && _autoSplitEnds.Count > 1)
            {
                // The top range goes to the consumer of the range below it.
                var below = _autoSplitEnds.Keys.Where(k => k < end).Max();
                _autoSplitEnds[end] = _autoSplitEnds[below];
                _autoSplitEnds.Remove(below);
            }
            else
            {
                // Its slots fall to the next range up.
                _autoSplitEnds.Remove(end);
            }
        }
    }

    /// <summary>The consumer owning <paramref name="slot"/>, or null when nobody does.</summary>
    public FakeConsumer? Select(int slot)
    {
        if (_mode == KeySharedMeta.Types.KeySharedMode.Sticky)
        {
            foreach (var (start, end, owner) in _stickyRanges)
            {
                if (slot >= start && slot <= end)
                {
                    return owner;
                }
            }
            return null;
        }
        foreach (var (end, owner) in _autoSplitEnds)
        {
            if (end >= slot)
            {
                return owner;
            }
        }
        return null;
    }
}
