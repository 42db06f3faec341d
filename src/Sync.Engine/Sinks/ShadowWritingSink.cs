namespace Sync.Engine.Sinks;

/// <summary>Writes a materializer's batches into its shadow target and under the shadow's checkpoint
/// name; every call that names a target goes to the shadow.</summary>
public sealed class ShadowWritingSink(ISink inner, ShadowTarget shadow) : DelegatingSink(inner)
{
    public override ValueTask<IReadOnlyDictionary<string, StreamPosition>> LoadCheckpointAsync(string materializer, CancellationToken cancellationToken) =>
        Inner.LoadCheckpointAsync(shadow.CheckpointName, cancellationToken);

    public override ValueTask<ApplyResult> ApplyAsync(SinkBatch batch, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(batch);
        return Inner.ApplyAsync(batch with { Materializer = shadow.CheckpointName, Target = shadow.Shadow }, cancellationToken);
    }

    public override ValueTask<long> EraseAsync(TargetSpec target, SubjectMatch match, CancellationToken cancellationToken) =>
        Inner.EraseAsync(shadow.Shadow, match, cancellationToken);

    public override ValueTask<long> CountAsync(TargetSpec target, SubjectMatch match, CancellationToken cancellationToken) =>
        Inner.CountAsync(shadow.Shadow, match, cancellationToken);

    public override ValueTask<IReadOnlyList<long>> EraseManyAsync(TargetSpec target, SubjectMatches matches, CancellationToken cancellationToken) =>
        Inner.EraseManyAsync(shadow.Shadow, matches, cancellationToken);

    public override ValueTask<IReadOnlyList<long>> CountManyAsync(TargetSpec target, SubjectMatches matches, CancellationToken cancellationToken) =>
        Inner.CountManyAsync(shadow.Shadow, matches, cancellationToken);

    public override ValueTask<IReadOnlyList<string?>> CannotMatchAsync(TargetSpec target, SubjectMatches matches, CancellationToken cancellationToken) =>
        Inner.CannotMatchAsync(shadow.Shadow, matches, cancellationToken);

    public override ValueTask<MarkOutcome> MarkErasedManyAsync(TargetSpec target, IReadOnlyList<Row> keys, CancellationToken cancellationToken) =>
        Inner.MarkErasedManyAsync(shadow.Shadow, keys, cancellationToken);

    public override ValueTask<long?> ReconcileEpochAsync(string materializer, TargetSpec target, string stream, long epochStart, CancellationToken cancellationToken) =>
        Inner.ReconcileEpochAsync(shadow.CheckpointName, shadow.Shadow, stream, epochStart, cancellationToken);

    public override ValueTask<IReadOnlyDictionary<string, StreamPosition>?> AddCheckpointEntriesAsync(
        string materializer, IReadOnlyList<KeyValuePair<string, StreamPosition>> entries, CancellationToken cancellationToken) =>
        Inner.AddCheckpointEntriesAsync(shadow.CheckpointName, entries, cancellationToken);

    public override ValueTask<MissingTarget?> FindMissingTargetAsync(string materializer, TargetSpec target, CancellationToken cancellationToken) =>
        Inner.FindMissingTargetAsync(shadow.CheckpointName, shadow.Shadow, cancellationToken);
}
