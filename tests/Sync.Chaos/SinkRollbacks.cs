namespace Sync.Chaos;

/// <summary>What the sink-rollback faults need: the Redis snapshot and rollback commands (null leaves
/// <c>redis-rollback</c> out), the PostgreSQL target's copy, and the readers and history whose
/// never-regress check starts again after each rollback.</summary>
public sealed record SinkRollbacks(
    string? RedisSnapshot,
    string? RedisRollback,
    PostgresRollback Postgres,
    IReadOnlyList<ISinkReader> Readers,
    VersionHistory History);
