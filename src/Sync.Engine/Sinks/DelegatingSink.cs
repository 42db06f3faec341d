namespace Sync.Engine.Sinks;

/// <summary>A sink that hands every call to an inner sink; a wrapper overrides only what it changes.
/// The inner sink is not the wrapper's: whoever opened it disposes it, so disposing the wrapper does nothing.</summary>
public abstract class DelegatingSink(ISink inner) : ISink, IMonotonicCheckpointSink
{
    /// <summary>The sink the calls go to.</summary>
    protected ISink Inner { get; } = inner;

    public virtual string Name => Inner.Name;

    public virtual bool NeverLowersCheckpoints => IMonotonicCheckpointSink.Of(Inner);

    public virtual ValueTask<IReadOnlyDictionary<string, StreamPosition>> LoadCheckpointAsync(string materializer, CancellationToken cancellationToken) =>
        Inner.LoadCheckpointAsync(materializer, cancellationToken);

    public virtual ValueTask<ApplyResult> ApplyAsync(SinkBatch batch, CancellationToken cancellationToken) => Inner.ApplyAsync(batch, cancellationToken);

    public virtual ValueTask<IReadOnlyList<ApplyResult>> ApplyTransactionAsync(IReadOnlyList<SinkBatch> batches, CancellationToken cancellationToken) =>
        Inner.ApplyTransactionAsync(batches, cancellationToken);

    public virtual ValueTask<long> EraseAsync(TargetSpec target, SubjectMatch match, CancellationToken cancellationToken) => Inner.EraseAsync(target, match, cancellationToken);

    public virtual ValueTask<long> CountAsync(TargetSpec target, SubjectMatch match, CancellationToken cancellationToken) => Inner.CountAsync(target, match, cancellationToken);

    public virtual ValueTask<IReadOnlyList<long>> EraseManyAsync(TargetSpec target, SubjectMatches matches, CancellationToken cancellationToken) =>
        Inner.EraseManyAsync(target, matches, cancellationToken);

    public virtual ValueTask<IReadOnlyList<IReadOnlyList<long>>> EraseTogetherAsync(IReadOnlyList<(TargetSpec Target, SubjectMatches Matches)> erasures, CancellationToken cancellationToken) =>
        Inner.EraseTogetherAsync(erasures, cancellationToken);

    public virtual ValueTask<IReadOnlyList<long>> CountManyAsync(TargetSpec target, SubjectMatches matches, CancellationToken cancellationToken) =>
        Inner.CountManyAsync(target, matches, cancellationToken);

    public virtual ValueTask<IReadOnlyList<string?>> CannotMatchAsync(TargetSpec target, SubjectMatches matches, CancellationToken cancellationToken) =>
        Inner.CannotMatchAsync(target, matches, cancellationToken);

    public virtual ValueTask<MarkOutcome> MarkErasedManyAsync(TargetSpec target, IReadOnlyList<Row> keys, CancellationToken cancellationToken) =>
        Inner.MarkErasedManyAsync(target, keys, cancellationToken);

    public virtual ValueTask<long?> ReconcileEpochAsync(string materializer, TargetSpec target, string stream, long epochStart, CancellationToken cancellationToken) =>
        Inner.ReconcileEpochAsync(materializer, target, stream, epochStart, cancellationToken);

    public virtual ValueTask<IReadOnlyDictionary<string, StreamPosition>?> AddCheckpointEntriesAsync(
        string materializer, IReadOnlyList<KeyValuePair<string, StreamPosition>> entries, CancellationToken cancellationToken) =>
        Inner.AddCheckpointEntriesAsync(materializer, entries, cancellationToken);

    public virtual ValueTask<MissingTarget?> FindMissingTargetAsync(string materializer, TargetSpec target, CancellationToken cancellationToken) =>
        Inner.FindMissingTargetAsync(materializer, target, cancellationToken);

    public ValueTask DisposeAsync()
    {
        GC.SuppressFinalize(this);
        return ValueTask.CompletedTask;
    }
}
