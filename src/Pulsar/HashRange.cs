namespace Sync.Pulsar;

/// <summary>
/// An inclusive range of sticky-key hash slots, within [0, <see cref="KeySharedPolicy.HashRangeSize"/>).
/// A key's slot is <see cref="KeyHashing.StickyKeyHash(System.ReadOnlySpan{byte})"/>.
/// </summary>
public readonly record struct HashRange(int Start, int End);
