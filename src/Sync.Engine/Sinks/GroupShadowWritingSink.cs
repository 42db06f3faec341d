namespace Sync.Engine.Sinks;

/// <summary>Writes a consistency group's transactions into its members' shadow targets, each member's
/// checkpoint under its shadow's name and the group's own under <paramref name="own"/>'s, so that a
/// shadow backfill applies whole transactions as <c>sync run</c> does without touching a live table.</summary>
public sealed class GroupShadowWritingSink(ISink inner, IReadOnlyList<ShadowTarget> shadows, ShadowCheckpoint own) : DelegatingSink(inner)
{
    public override ValueTask<IReadOnlyDictionary<string, StreamPosition>> LoadCheckpointAsync(string materializer, CancellationToken cancellationToken) =>
        Inner.LoadCheckpointAsync(CheckpointNameOf(materializer), cancellationToken);

    public override ValueTask<IReadOnlyList<ApplyResult>> ApplyTransactionAsync(IReadOnlyList<SinkBatch> batches, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(batches);
        return Inner.ApplyTransactionAsync([.. batches.Select(b => b with { Materializer = CheckpointNameOf(b.Materializer), Target = ShadowOf(b.Target) })], cancellationToken);
    }

    /// <summary>A new source epoch's reconciliation deletes from the member's shadow, never from its live table.</summary>
    public override ValueTask<long?> ReconcileEpochAsync(string materializer, TargetSpec target, string stream, long epochStart, CancellationToken cancellationToken) =>
        Inner.ReconcileEpochAsync(CheckpointNameOf(materializer), ShadowOf(target), stream, epochStart, cancellationToken);

    public override ValueTask<ApplyResult> ApplyAsync(SinkBatch batch, CancellationToken cancellationToken) =>
        throw new NotSupportedException("a consistency group's shadow backfill applies whole transactions only");

    private string CheckpointNameOf(string materializer) =>
        materializer == own.Materializer ? own.CheckpointName
        : shadows.FirstOrDefault(s => s.Materializer == materializer)?.CheckpointName
        ?? throw new ArgumentException($"'{materializer}' is not a member of the consistency group being backfilled", nameof(materializer));

    /// <summary>The group's own checkpoint names its first member's target, so every target is a member's.</summary>
    private TargetSpec ShadowOf(TargetSpec live) =>
        shadows.FirstOrDefault(s => s.Live == live)?.Shadow
        ?? throw new ArgumentException($"table {live.Table} is not a target of the consistency group being backfilled", nameof(live));
}
