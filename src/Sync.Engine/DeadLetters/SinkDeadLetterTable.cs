namespace Sync.Engine.DeadLetters;

/// <summary>Dead letters in a table of the materializer's own sink database
/// (<c>deadLetterTarget: table</c>). During a run the letters of a batch ride in the batch: the sink
/// writes them in the transaction that applies the batch and stores its checkpoint, so a letter is
/// durable exactly when the checkpoint moves past its message, and the source is acknowledged after
/// both. Letters flushed outside a batch are written in a transaction of their own.</summary>
public sealed class SinkDeadLetterTable : IBatchDeadLetters
{
    private readonly IDeadLetterStore _store;
    private readonly string _materializer;
    private readonly TimeProvider _time;
    private readonly List<DeadLetterRow> _pending = [];

    public SinkDeadLetterTable(IDeadLetterStore store, string materializer, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(store);
        _store = store;
        _materializer = materializer;
        _time = time ?? TimeProvider.System;
    }

    public string Description => _store.DeadLetterTable;

    public int Pending => _pending.Count;

    public IReadOnlyList<DeadLetterRow> PendingRows => _pending;

    public void Add(string stage, SourceMessage message, string reason) =>
        _pending.Add(DeadLetterRow.Of(_materializer, stage, message, reason, _time.GetUtcNow()));

    public void Add(SourceError error) => _pending.Add(DeadLetterRow.Of(_materializer, error, _time.GetUtcNow()));

    public void KeepFirst(int count)
    {
        if (count < _pending.Count)
        {
            _pending.RemoveRange(count, _pending.Count - count);
        }
    }

    public void Committed() => _pending.Clear();

    /// <summary>Writes the pending letters in a transaction of their own.</summary>
    public async ValueTask FlushAsync(CancellationToken cancellationToken)
    {
        if (_pending.Count == 0)
        {
            return;
        }

        await _store.AppendDeadLettersAsync([.. _pending], cancellationToken);
        _pending.Clear();
    }

    /// <summary>Letters still pending belong to a batch that never committed: its messages were not
    /// acknowledged and come again, with their letters, so they are dropped here, not written twice.</summary>
    public ValueTask DisposeAsync()
    {
        _pending.Clear();
        return ValueTask.CompletedTask;
    }
}
