namespace Sync.Pulsar;

/// <summary>The Key_Shared policy a consumer declares in SUBSCRIBE (KeySharedMeta).</summary>
public sealed record KeySharedPolicy
{
    /// <summary>Number of hash slots the broker divides among consumers (65536).</summary>
    public const int HashRangeSize = 65536;

    /// <summary>Default <see cref="KeySharedMode.AutoSplit"/>.</summary>
    public KeySharedMode Mode { get; init; } = KeySharedMode.AutoSplit;

    /// <summary>The slots this consumer takes; required for (and only for) <see cref="KeySharedMode.Sticky"/>. Default empty.</summary>
    public IReadOnlyList<HashRange> HashRanges { get; init; } = [];

    /// <summary>Let the broker deliver a key to a newly joined consumer before older messages of it are acknowledged. Default false.</summary>
    public bool AllowOutOfOrderDelivery { get; init; }

    /// <summary>A sticky policy over the given ranges.</summary>
    public static KeySharedPolicy Sticky(params HashRange[] ranges) => new() { Mode = KeySharedMode.Sticky, HashRanges = ranges };

    public void Validate()
    {
        if (Mode == KeySharedMode.Sticky && HashRanges.Count == 0)
        {
            throw new ArgumentException("keyShared.hashRanges (empty) must name at least one range for a Sticky policy", nameof(HashRanges));
        }
        if (Mode == KeySharedMode.AutoSplit && HashRanges.Count > 0)
        {
            throw new ArgumentException($"keyShared.hashRanges ({HashRanges.Count} ranges) are only for a Sticky policy", nameof(HashRanges));
        }
        foreach (var range in HashRanges)
        {
            if (range.Start < 0 || range.End >= HashRangeSize || range.Start > range.End)
            {
                throw new ArgumentException($"keyShared.hashRanges ([{range.Start}, {range.End}]) must satisfy 0 <= start <= end < {HashRangeSize}", nameof(HashRanges));
            }
        }
        var sorted = HashRanges.OrderBy(r => r.Start).ToList();
        for (var i = 1; i < sorted.Count; i++)
        {
            if (sorted[i].Start <= sorted[i - 1].End)
            {
                throw new ArgumentException(
                    $"keyShared.hashRanges ([{sorted[i - 1].Start}, {sorted[i - 1].End}] and [{sorted[i].Start}, {sorted[i].End}]) must not overlap", nameof(HashRanges));
            }
        }
    }
}
