namespace Sync.Sinks.Tests.Healing;

/// <summary>Puts the sink back to an earlier copy once, when armed, right as the next batch of changes
/// reaches it: after the materializer read the checkpoint back for that batch and before the sink
/// writes anything. That is where a Redis restarted from an older snapshot lands when the restart
/// falls inside a batch: the sink's own retries then write the batch, and its checkpoint, across it.
/// Deterministic: the restore runs in the sink's call, not beside it.</summary>
public sealed class RestoreBeforeNextBatch(Func<Task> restore)
{
    private int _armed;
    private int _fired;

    /// <summary>True once the restore ran.</summary>
    public bool Fired => Volatile.Read(ref _fired) == 1;

    /// <summary>The next batch with changes, of any sink opened through <see cref="Wrap"/>, restores first.</summary>
    public void Arm() => Volatile.Write(ref _armed, 1);

    /// <summary>The factories, each opening its sinks wrapped.</summary>
    public IEnumerable<ISinkFactory> Wrap(IEnumerable<ISinkFactory> factories) => factories.Select(f => new WrappingSinkFactory(f, sink => new Sink(sink, this)));

    private async Task BeforeBatchAsync(SinkBatch batch)
    {
        if (batch.Changes.Count > 0 && Interlocked.Exchange(ref _armed, 0) == 1)
        {
            await restore();
            Volatile.Write(ref _fired, 1);
        }
    }

    private sealed class Sink(ISink inner, RestoreBeforeNextBatch owner) : DelegatingSink(inner), IAsyncDisposable
    {
        public override async ValueTask<ApplyResult> ApplyAsync(SinkBatch batch, CancellationToken cancellationToken)
        {
            await owner.BeforeBatchAsync(batch);
            return await Inner.ApplyAsync(batch, cancellationToken);
        }

        // Opened by the factory above, so closed here (a plain wrapper leaves that to its opener).
        ValueTask IAsyncDisposable.DisposeAsync() => Inner.DisposeAsync();
    }
}
