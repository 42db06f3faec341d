namespace Sync.Pulsar.Admin;

/// <summary>Result of GET .../compaction.</summary>
public sealed record CompactionStatus(CompactionState State, string? LastError);
