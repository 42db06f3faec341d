namespace Sync.Engine.Sources;

/// <summary>Reads one materializer's messages from a source, in batches.</summary>
public interface ISourceReader : IAsyncDisposable
{
    /// <summary>The next records: up to <paramref name="maxRecords"/>, waiting at most
    /// <paramref name="linger"/> for more once one has arrived. Null when the source has ended.</summary>
    ValueTask<IReadOnlyList<SourceRecord>?> ReadBatchAsync(int maxRecords, TimeSpan linger, CancellationToken cancellationToken);

    /// <summary>Checkpoint entries of the source's own cursor after the records read so far, stored
    /// with each batch (a changelog file stores its line here). Empty for sources that keep their
    /// cursor on the broker.</summary>
    IReadOnlyDictionary<string, StreamPosition> Cursor { get; }

    /// <summary>Tells the source that everything read so far is durable in the sink. The source may
    /// then reuse the buffers those messages' bytes (<see cref="SourceMessage.Value"/>, a record's raw
    /// bytes) lie in: a caller that keeps one beyond this keeps <see cref="SourceMessage.Detached"/>.</summary>
    ValueTask AcknowledgeAsync(CancellationToken cancellationToken);

    /// <summary>True when <paramref name="stream"/> (a topic, or a partition of one) holds nothing
    /// after <paramref name="lastRead"/>, the last position of it this reader delivered, as of now:
    /// the reader has caught up with the stream's end. Tombstone repair asks, from the reading side
    /// and only while a repair may be waiting, so a source may answer with a round trip to its broker.
    /// False (the default) where the source cannot tell: repairs then wait for the source's end.</summary>
    ValueTask<bool> IsAtEndAsync(string stream, StreamPosition lastRead, CancellationToken cancellationToken) => ValueTask.FromResult(false);

    /// <summary>True while the source has lost its connection and is re-establishing it with
    /// backoff (the materializer is degraded, not failed). False for sources without connections.</summary>
    bool IsReconnecting => false;

    /// <summary>While <see cref="IsReconnecting"/>: what the reader waits for, in a sentence for the
    /// health endpoint and status (a broker that refuses connections at start-up, and for how much
    /// longer it is retried). Null when the reader cannot say more than that it reconnects.</summary>
    string? ReconnectingBecause => null;

    /// <summary>True while the source dispatches this reader's messages to another process (a
    /// standby consumer of a failover subscription): healthy, and idle until that one leaves.</summary>
    bool IsStandby => false;

    /// <summary>True when the reader keeps each batch's messages apart, so that the next batch may
    /// be read while an earlier one is still being applied, and each is acknowledged on its own with
    /// <see cref="AcknowledgeOldestBatchAsync"/> (which may run while a read is in progress). False
    /// by default: the runner then reads the next batch only after acknowledging the last one.</summary>
    bool CanReadAhead => false;

    /// <summary>Tells the source that the oldest batch read and not yet acknowledged is durable in
    /// the sink (only when <see cref="CanReadAhead"/>); its bytes may be reused as after <see cref="AcknowledgeAsync"/>.</summary>
    ValueTask AcknowledgeOldestBatchAsync(CancellationToken cancellationToken) => AcknowledgeAsync(cancellationToken);

    /// <summary>True when other consumers apply messages of the same streams (a shared or key-shared
    /// subscription): the positions of a batch are then no checkpoint, since messages before them
    /// may still wait in another consumer. False by default (one reader per stream).</summary>
    bool SharesStreams => false;

    /// <summary>A position of <paramref name="stream"/> at or before which every message has been
    /// acknowledged by every consumer of the subscription (so, as sources are acknowledged only after
    /// the sink committed, applied), or null when nothing is or the source cannot tell (the default).
    /// Used as the checkpoint of readers that <see cref="SharesStreams"/>, and to tell a sink that
    /// lost everything from one that never held anything.</summary>
    ValueTask<StreamPosition?> AcknowledgedThroughAsync(string stream, CancellationToken cancellationToken) => ValueTask.FromResult<StreamPosition?>(null);
}
