namespace Sync.Engine.DeadLetters;

/// <summary>Where a materializer puts what it cannot read, decode, map or write: a JSON Lines file
/// (<see cref="DeadLetterWriter"/>) or a Pulsar topic per origin topic. Letters are collected with
/// <c>Add</c> and made durable by a flush, which the runner calls before the checkpoint that moves
/// past them is stored and before the source is acknowledged.</summary>
public interface IDeadLetterTarget : IAsyncDisposable
{
    /// <summary>Where the letters go, for people: a file path or a topic naming rule.</summary>
    string Description { get; }

    void Add(string stage, SourceMessage message, string reason);

    void Add(SourceError error);

    /// <summary>Makes every letter added so far durable; returns once it is. The runner also calls it
    /// inside a sink's transaction, before commit (<see cref="Sinks.SinkBatch.BeforeCommit"/>).</summary>
    ValueTask FlushAsync(CancellationToken cancellationToken);
}

/// <summary>A dead-letter target whose letters the sink writes in the batch's own transaction
/// (the rows <see cref="Sinks.SinkBatch.BeforeCommit"/> returns): a flush before the batch is not needed,
/// and none is made inside the transaction.</summary>
public interface IBatchDeadLetters : IDeadLetterTarget
{
    /// <summary>Letters added since the last committed batch.</summary>
    int Pending { get; }

    /// <summary>The pending letters, for the sink to write in the batch's transaction.</summary>
    IReadOnlyList<DeadLetterRow> PendingRows { get; }

    /// <summary>Forgets letters added after the first <paramref name="count"/> pending ones: the
    /// rejections of a batch attempt that rolled back, which the next attempt adds again.</summary>
    void KeepFirst(int count);

    /// <summary>The batch committed, and its letters with it.</summary>
    void Committed();
}
