namespace Sync.Engine.Changes;

/// <summary>How a change relates in time to the state a sink holds for the same key.</summary>
public enum VersionOrder
{
    Older,
    Same,
    Newer,
    /// <summary>The two cannot be ordered (no LSN on one side and different streams).</summary>
    Unknown,
}

/// <summary>The version of a key's state: the source order (<see cref="SourceInfo.Lsn"/>, a
/// non-negative 64-bit number for every relational connector) when the change carried one, and the
/// stream and position it came from. Never-regress compares versions:
/// both have an LSN -> the LSN decides; else, same stream -> the position decides;
/// else they cannot be ordered and the later arrival wins.</summary>
public readonly record struct ChangeVersion(long? Lsn, string Stream, StreamPosition Position)
{
    public VersionOrder CompareTo(ChangeVersion stored)
    {
        if (Lsn is { } lsn && stored.Lsn is { } storedLsn)
        {
            return lsn > storedLsn ? VersionOrder.Newer : lsn < storedLsn ? VersionOrder.Older : VersionOrder.Same;
        }

        if (string.Equals(Stream, stored.Stream, StringComparison.Ordinal))
        {
            var c = Position.CompareTo(stored.Position);
            return c > 0 ? VersionOrder.Newer : c < 0 ? VersionOrder.Older : VersionOrder.Same;
        }

        return VersionOrder.Unknown;
    }

    /// <summary>True when a change of this version may replace state of the stored version:
    /// anything but an older one (equal re-applies idempotently).</summary>
    public bool Supersedes(ChangeVersion stored) => CompareTo(stored) != VersionOrder.Older;

    /// <summary>The marker an erasure leaves for a key: newer than any change of the key that carries
    /// an LSN or comes from the same stream, so that neither a replay nor a change still in flight
    /// in a running materializer brings the erased row back.</summary>
    public ChangeVersion Erased() => new(long.MaxValue, Stream, new StreamPosition(long.MaxValue, long.MaxValue, int.MaxValue));

    /// <summary>The smallest version newer than this one.</summary>
    public ChangeVersion JustAfter() =>
        Lsn is { } lsn ? this with { Lsn = lsn + 1 } : this with { Position = Position with { BatchIndex = Position.BatchIndex + 1 } };
}
