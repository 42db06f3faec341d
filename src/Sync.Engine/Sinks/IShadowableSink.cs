namespace Sync.Engine.Sinks;

/// <summary>A sink that can build a target beside the live one and swap it in atomically
/// (<c>sync backfill --shadow</c>), so that readers see either the old complete target or the new
/// complete one, never a half-built one.</summary>
public interface IShadowableSink
{
    /// <summary>Prepares an empty shadow of <paramref name="live"/>: whatever an earlier, unfinished
    /// shadow left is dropped, so that a rerun starts cleanly. The live target is not touched.</summary>
    ValueTask<ShadowTarget> BeginShadowAsync(string materializer, TargetSpec live, CancellationToken cancellationToken);

    /// <summary>Makes the shadow the live target in one atomic step, carries the live target's erasure
    /// markers over, and moves the shadow's checkpoint to the materializer so that <c>sync run</c>
    /// resumes from the backfill's end. Throws <see cref="ShadowSwapException"/>, leaving the live
    /// target untouched, when the swap would lose changes.</summary>
    ValueTask<ShadowSwap> SwapShadowAsync(ShadowTarget shadow, bool keepOld, CancellationToken cancellationToken);

    /// <summary>Prepares a shadow checkpoint that names no table (a consistency group's transaction-topic
    /// positions): what an earlier, unfinished backfill left under <see cref="ShadowTarget.CheckpointNameOf"/>
    /// is dropped; the live checkpoint is returned to be compared at the swap.</summary>
    ValueTask<ShadowCheckpoint> BeginShadowCheckpointAsync(string materializer, CancellationToken cancellationToken) =>
        throw new NotSupportedException("this sink cannot swap several shadows in one transaction (consistency groups need a postgres or sqlite sink)");

    /// <summary>Swaps every shadow in ONE sink transaction, each as <see cref="SwapShadowAsync"/> would,
    /// and moves the <paramref name="checkpoints"/> with them, so that a reader sees either all the old
    /// targets or all the new ones (a consistency group's tables). Refused as a whole, leaving every live
    /// target untouched, when any live checkpoint moved since its shadow began.</summary>
    ValueTask<IReadOnlyList<ShadowSwap>> SwapShadowsTogetherAsync(IReadOnlyList<ShadowTarget> shadows, IReadOnlyList<ShadowCheckpoint> checkpoints, bool keepOld, CancellationToken cancellationToken) =>
        throw new NotSupportedException("this sink cannot swap several shadows in one transaction (consistency groups need a postgres or sqlite sink)");
}

/// <summary>A checkpoint built beside a live one during a shadow backfill, moved at the swap, with no table of its own.</summary>
/// <param name="Materializer">The live checkpoint's name.</param>
/// <param name="CheckpointName">The name it is stored under until the swap.</param>
/// <param name="LiveCheckpoint">The live checkpoint when the backfill began: when it moved by the swap, something wrote meanwhile and the swap is refused.</param>
public sealed record ShadowCheckpoint(string Materializer, string CheckpointName, IReadOnlyDictionary<string, StreamPosition> LiveCheckpoint)
{
    /// <summary>True when the live checkpoint now differs from the one recorded when the backfill began.</summary>
    public bool LiveCheckpointMoved(IReadOnlyDictionary<string, StreamPosition> now) => ShadowTarget.Moved(LiveCheckpoint, now);
}

/// <summary>Where a shadow backfill writes.</summary>
/// <param name="Materializer">The materializer the shadow is built for.</param>
/// <param name="Live">The live target readers use.</param>
/// <param name="Shadow">The target the backfill writes into.</param>
/// <param name="CheckpointName">The name the shadow's checkpoint is stored under until the swap.</param>
/// <param name="LiveCheckpoint">The live checkpoint when the shadow began: when it moved by the swap,
/// a <c>sync run</c> wrote to the live target meanwhile and the swap is refused.</param>
public sealed record ShadowTarget(
    string Materializer,
    TargetSpec Live,
    TargetSpec Shadow,
    string CheckpointName,
    IReadOnlyDictionary<string, StreamPosition> LiveCheckpoint)
{
    /// <summary>Sink-specific state carried from begin to swap (e.g. the generation number), or null.</summary>
    public object? State { get; init; }

    /// <summary>The checkpoint name of a materializer's shadow.</summary>
    public static string CheckpointNameOf(string materializer) => materializer + "__shadow";

    /// <summary>True when the live checkpoint now differs from the one recorded when the shadow began.</summary>
    public bool LiveCheckpointMoved(IReadOnlyDictionary<string, StreamPosition> now) => Moved(LiveCheckpoint, now);

    internal static bool Moved(IReadOnlyDictionary<string, StreamPosition> then, IReadOnlyDictionary<string, StreamPosition> now) =>
        now.Count != then.Count
        || now.Any(p => !then.TryGetValue(p.Key, out var was) || was != p.Value);
}

/// <summary>What a swap did, in words for the operator.</summary>
/// <param name="Live">The live target's name, now holding the backfilled data.</param>
/// <param name="Old">What became of the old data: dropped, or kept under a name.</param>
/// <param name="ErasureMarkersCarried">How many erasure markers of the live target were carried over.</param>
public sealed record ShadowSwap(string Live, string Old, long ErasureMarkersCarried);

/// <summary>A swap was refused; the live target is untouched and the shadow is left in place.</summary>
public sealed class ShadowSwapException(string message) : Exception(message);
