using Sync.Engine.Changes;

namespace Sync.Engine.Sinks;

/// <summary>Writes a materializer's batches into its shadow target and under the shadow's checkpoint name.</summary>
public sealed class ShadowWritingSink(ISink inner, ShadowTarget shadow) : ISink
{
    public string Name => inner.Name;

    public ValueTask<IReadOnlyDictionary<string, StreamPosition>> LoadCheckpointAsync(string materializer, CancellationToken cancellationToken) =>
        inner.LoadCheckpointAsync(shadow.CheckpointName, cancellationToken);

    public ValueTask<ApplyResult> ApplyAsync(SinkBatch batch, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(batch);
        return inner.ApplyAsync(batch with { Materializer = shadow.CheckpointName, Target = shadow.Shadow }, cancellationToken);
    }

    public ValueTask<long> EraseAsync(TargetSpec target, SubjectMatch match, CancellationToken cancellationToken) =>
        inner.EraseAsync(shadow.Shadow, match, cancellationToken);

    public ValueTask<long> CountAsync(TargetSpec target, SubjectMatch match, CancellationToken cancellationToken) =>
        inner.CountAsync(shadow.Shadow, match, cancellationToken);

    public ValueTask<long?> ReconcileEpochAsync(string materializer, TargetSpec target, string stream, long epochStart, CancellationToken cancellationToken) =>
        inner.ReconcileEpochAsync(shadow.CheckpointName, shadow.Shadow, stream, epochStart, cancellationToken);

    /// <summary>The inner sink is shared with the run and disposed by it.</summary>
    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
