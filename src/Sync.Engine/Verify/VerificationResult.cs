namespace Sync.Engine.Verify;

/// <summary>What the verification of one materializer found.</summary>
/// <param name="Materializer">The materializer's name.</param>
/// <param name="Sink">Its sink's name.</param>
/// <param name="Target">Its target (table, key prefix or index).</param>
/// <param name="Keys">Keys compared: every key either side holds a row or a version of.</param>
/// <param name="Drift">Drifted keys per class (every class present, 0 when none).</param>
/// <param name="Samples">Per class, a bounded sample of the drifted keys: their keyed hashes
/// (<see cref="Verify.SampleKey"/>; the keys of the smallest partition hashes, so that runs over the
/// same drift show the same ones), or their JSON with <c>--show-keys</c>.</param>
public sealed record VerificationResult(
    string Materializer,
    string Sink,
    string Target,
    long Keys,
    IReadOnlyDictionary<DriftClass, long> Drift,
    IReadOnlyDictionary<DriftClass, IReadOnlyList<string>> Samples)
{
    /// <summary>Of <see cref="DriftClass.Extra"/>: rows of keys whose latest change the suppression ledger erased.</summary>
    public long Residue { get; init; }

    /// <summary>Keys that changed after the checkpoint pinned at the start (on either side): not
    /// judged, as a running materializer is still applying them.</summary>
    public long Pending { get; init; }

    /// <summary>Messages of the compacted view the materializer cannot decode or map (its dead letters):
    /// left out of the comparison.</summary>
    public long Unreadable { get; init; }

    /// <summary>The checkpoint pinned at the start, per stream.</summary>
    public IReadOnlyDictionary<string, StreamPosition> Pinned { get; init; } = new Dictionary<string, StreamPosition>();

    /// <summary>The secret the sampled keys were hashed with; stored with the record when the
    /// verification generated it.</summary>
    public SampleKey? SampleKey { get; init; }

    /// <summary>When the verification ended.</summary>
    public DateTimeOffset At { get; init; }

    /// <summary>The repair that ran (<c>--repair</c>, <c>--dry-run</c>), or null.</summary>
    public RepairResult? Repair { get; init; }

    /// <summary>The verification run after the repair, or null.</summary>
    public VerificationResult? AfterRepair { get; init; }

    public long DriftCount => Drift.Values.Sum();

    public bool Clean => DriftCount == 0;
}

/// <summary>What a repair did (or, in a dry run, would do).</summary>
/// <param name="DryRun">Nothing was changed.</param>
/// <param name="Reapplied">Drifted keys whose latest change the log holds, applied again through the normal apply path.</param>
/// <param name="Deleted">Extra rows deleted (keys the log holds no row of).</param>
/// <param name="Left">Drifted keys a repair does not touch: ahead of the log, which never-regress keeps.</param>
/// <param name="Counters">The apply path's counters (applied, deleted, stale, suppressed, dead-lettered).</param>
public sealed record RepairResult(bool DryRun, long Reapplied, long Deleted, long Left, Runtime.MaterializerCounters? Counters);
