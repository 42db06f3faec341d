using System.Diagnostics;

namespace Sync.Compliance.Erasure.Steps;

/// <summary>Milliseconds per stage of one erasure, for the report's timings.</summary>
public sealed class ErasureTimings
{
    private readonly Stopwatch _total = Stopwatch.StartNew();
    private readonly Stopwatch _stage = Stopwatch.StartNew();
    private readonly Dictionary<ErasureStage, long> _elapsed = [];

    /// <summary>Ends the running stage, counting its time (since the last stage ended) to <paramref name="stage"/>.</summary>
    public void End(ErasureStage stage)
    {
        _elapsed[stage] = _elapsed.GetValueOrDefault(stage) + _stage.ElapsedMilliseconds;
        _stage.Restart();
    }

    public TimingsReport ToReport() => new(
        _elapsed.GetValueOrDefault(ErasureStage.Plan),
        _elapsed.GetValueOrDefault(ErasureStage.Tombstones),
        _elapsed.GetValueOrDefault(ErasureStage.Compaction),
        _elapsed.GetValueOrDefault(ErasureStage.Sinks),
        _elapsed.GetValueOrDefault(ErasureStage.Verify),
        _elapsed.GetValueOrDefault(ErasureStage.Purge),
        _total.ElapsedMilliseconds);
}

/// <summary>The stages a report times (sinks: the sink erase and the dead-letter erase together).</summary>
public enum ErasureStage
{
    Plan,
    Tombstones,
    Compaction,
    Sinks,
    Verify,
    Purge,
}
