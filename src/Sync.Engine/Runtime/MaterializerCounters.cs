namespace Sync.Engine.Runtime;

/// <summary>What one materializer did. Updated by its single loop; read by status output.</summary>
public sealed class MaterializerCounters
{
    private long _read;
    private long _applied;
    private long _deleted;
    private long _stale;
    private long _collapsed;
    private long _deadLettered;
    private long _batches;
    private long _suppressed;
    private long _tombstonesRepaired;
    private long _repairsSuperseded;
    private long _restoredAfterRepair;
    private long _unavailable;

    public long Read => Interlocked.Read(ref _read);

    /// <summary>Upserts written.</summary>
    public long Applied => Interlocked.Read(ref _applied);

    /// <summary>Deletes written (deletes, tombstones, truncates).</summary>
    public long Deleted => Interlocked.Read(ref _deleted);

    /// <summary>Changes skipped because the sink already held newer state for the key.</summary>
    public long SkippedStale => Interlocked.Read(ref _stale);

    /// <summary>Changes replaced by a newer change of the same key in the same batch.</summary>
    public long Collapsed => Interlocked.Read(ref _collapsed);

    public long DeadLettered => Interlocked.Read(ref _deadLettered);

    /// <summary>Upserts applied with at least one unavailable column (an unchanged TOASTed value the
    /// source did not send) that had no stored value to keep, so the column was written as null: the
    /// sink held no row for the key, or a delete of the key came earlier in the same batch.</summary>
    public long Unavailable => Interlocked.Read(ref _unavailable);

    public long Batches => Interlocked.Read(ref _batches);

    /// <summary>Changes of erased subjects, dropped before the sink (the suppression ledger).</summary>
    public long Suppressed => Interlocked.Read(ref _suppressed);

    /// <summary>Tombstones published after <c>op=d</c> events that had none (<c>repairTombstones</c>).</summary>
    public long TombstonesRepaired => Interlocked.Read(ref _tombstonesRepaired);

    /// <summary>Pending repairs (and restorations) dropped because a later message of the key was
    /// read before the topic's end: the delete was no longer the key's latest event.</summary>
    public long RepairsSuperseded => Interlocked.Read(ref _repairsSuperseded);

    /// <summary>Live values published again because a repair tombstone landed behind them (the
    /// producer published them between the catch-up check and the tombstone).</summary>
    public long RestoredAfterRepair => Interlocked.Read(ref _restoredAfterRepair);

    internal void AddRepairs(long repaired, long superseded, long restored)
    {
        Interlocked.Add(ref _tombstonesRepaired, repaired);
        Interlocked.Add(ref _repairsSuperseded, superseded);
        Interlocked.Add(ref _restoredAfterRepair, restored);
    }

    internal void AddSuppressed(long n) => Interlocked.Add(ref _suppressed, n);

    internal void AddRead(long n) => Interlocked.Add(ref _read, n);

    internal void AddApplied(long n) => Interlocked.Add(ref _applied, n);

    internal void AddDeleted(long n) => Interlocked.Add(ref _deleted, n);

    internal void AddStale(long n) => Interlocked.Add(ref _stale, n);

    internal void AddCollapsed(long n) => Interlocked.Add(ref _collapsed, n);

    internal void AddUnavailable(long n) => Interlocked.Add(ref _unavailable, n);

    internal void AddDeadLettered(long n) => Interlocked.Add(ref _deadLettered, n);

    internal void AddBatch() => Interlocked.Increment(ref _batches);

    // Non-row messages skipped, by Formats.NonRowKind.
    private readonly long[] _skipped = new long[Enum.GetValues<Formats.NonRowKind>().Length];

    /// <summary>Messages that are not row changes (heartbeats, transaction boundaries, logical
    /// decoding messages, schema changes), counted and skipped, never dead-lettered.</summary>
    public long Skipped
    {
        get
        {
            long sum = 0;
            for (var i = 0; i < _skipped.Length; i++)
            {
                sum += Interlocked.Read(ref _skipped[i]);
            }

            return sum;
        }
    }

    /// <summary>How many messages of <paramref name="kind"/> were skipped.</summary>
    public long SkippedOf(Formats.NonRowKind kind) => Interlocked.Read(ref _skipped[(int)kind]);

    internal void AddSkipped(Formats.NonRowKind kind, long n) => Interlocked.Add(ref _skipped[(int)kind], n);

    private long _rollbacks;
    private long _replayed;
    private int _healing;

    /// <summary>Times the sink was found to have gone back in time (its checkpoint behind what this
    /// materializer committed, gone, or marked as healing by another process or an earlier run).</summary>
    public long Rollbacks => Interlocked.Read(ref _rollbacks);

    /// <summary>Messages read again to bring back what the sink lost.</summary>
    public long Replayed => Interlocked.Read(ref _replayed);

    /// <summary>True from a rollback found until its replay caught up.</summary>
    public bool Healing => Volatile.Read(ref _healing) != 0;

    internal void AddRollback() => Interlocked.Increment(ref _rollbacks);

    internal void AddReplayed(long n) => Interlocked.Add(ref _replayed, n);

    internal void SetHealing(bool healing) => Volatile.Write(ref _healing, healing ? 1 : 0);

    private Degradation? _degraded;

    /// <summary>Set while the sink fails with transient errors and the batch is being retried:
    /// what failed last and since when; null once a batch commits again.</summary>
    public Degradation? Degraded => Volatile.Read(ref _degraded) ?? Volatile.Read(ref _sourceRegressed);

    /// <summary>Batches decoded ahead and waiting for the sink (bounded by <c>readAhead</c>).</summary>
    public int BatchesWaiting => Volatile.Read(ref _batchesWaiting);

    private int _batchesWaiting;

    internal void SetBatchesWaiting(int n) => Volatile.Write(ref _batchesWaiting, n);

    internal void Degrade(string stage, string error, DateTimeOffset now)
    {
        var since = Degraded?.Since ?? now;
        Volatile.Write(ref _degraded, new Degradation(stage, error, since));
    }

    internal void Recover() => Volatile.Write(ref _degraded, null);

    private Degradation? _sourceRegressed;
    private long _epochs;
    private long _reconciled;

    /// <summary>Set while a stream's source orders have fallen far below what was applied, outside a
    /// snapshot (the source went back in time), until a new epoch starts; null otherwise.</summary>
    public Degradation? SourceRegression => Volatile.Read(ref _sourceRegressed);

    /// <summary>Source epochs started in this run (new snapshots after streaming, declared bumps).</summary>
    public long EpochsStarted => Interlocked.Read(ref _epochs);

    /// <summary>Rows deleted because a new epoch's snapshot did not hold them.</summary>
    public long Reconciled => Interlocked.Read(ref _reconciled);

    internal void SourceRegressed(string error, DateTimeOffset now) =>
        Volatile.Write(ref _sourceRegressed, new Degradation("source", error, SourceRegression?.Since ?? now));

    internal void SourceRecovered() => Volatile.Write(ref _sourceRegressed, null);

    internal void EpochStarted() => Interlocked.Increment(ref _epochs);

    internal void AddReconciled(long n) => Interlocked.Add(ref _reconciled, n);
}

/// <summary>Why a materializer is degraded: the stage that fails (sink or source), its last error
/// (as the sink or source describes it, without secrets), and since when it has been failing.</summary>
public sealed record Degradation(string Stage, string Error, DateTimeOffset Since);
