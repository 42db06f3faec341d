namespace Sync.Pulsar;

/// <summary>How a Key_Shared subscription assigns key hashes to this consumer.</summary>
public enum KeySharedMode
{
    /// <summary>The broker splits the hash space among the consumers and re-splits when they come and go.</summary>
    AutoSplit,

    /// <summary>This consumer takes exactly <see cref="KeySharedPolicy.HashRanges"/>; the broker refuses overlaps.</summary>
    Sticky,
}
