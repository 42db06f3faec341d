namespace Sync.Engine.Sources;

/// <summary>One line of a changelog file: its number (1-based), where its bytes start, and the
/// bytes without the line break.</summary>
public readonly record struct ChangelogLine(long Number, long Offset, ReadOnlyMemory<byte> Bytes);
