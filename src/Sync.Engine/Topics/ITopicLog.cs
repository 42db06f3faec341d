namespace Sync.Engine.Topics;

/// <summary>A source's topics as erasure sees them: scan what is held, publish tombstones, compact.
/// Implemented for changelog files and for Pulsar, so that erasure never depends on the transport.
/// Every log publishes keyed messages too: erasure re-publishes a key's latest message without the
/// before image that names a subject (a scrub).</summary>
public interface ITopicLog : ITombstonePublisher, IAsyncDisposable
{
    /// <summary>What erasure can promise about this log's raw history, for the report.</summary>
    ValueTask<string> RetentionNoteAsync(CancellationToken cancellationToken);

    /// <summary>The compacted view: for each key the latest message, keys whose latest message is a
    /// tombstone left out. Messages of topics the filter rejects are skipped.</summary>
    IAsyncEnumerable<SourceMessage> ReadCompactedAsync(Func<string, bool> topicFilter, CancellationToken cancellationToken);

    /// <summary>Every message still held in the raw log, in order.</summary>
    IAsyncEnumerable<SourceMessage> ScanRawAsync(Func<string, bool> topicFilter, CancellationToken cancellationToken);

    /// <summary>Per topic the filter accepts: the last position held, and how many messages come
    /// after the given positions (null where the log cannot count them).</summary>
    ValueTask<IReadOnlyList<TopicEnd>> EndsAsync(Func<string, bool> topicFilter, IReadOnlyDictionary<string, StreamPosition> after, CancellationToken cancellationToken);

    /// <summary>Appends a tombstone (empty value, the key exactly as given) to the topic.</summary>
    ValueTask<StreamPosition> PublishTombstoneAsync(string topic, MessageKey key, CancellationToken cancellationToken);

    /// <summary>Compacts the topic so that the keys' earlier messages leave the compacted view (and,
    /// where the log can, the raw history).</summary>
    ValueTask<CompactionOutcome> CompactAsync(string topic, IReadOnlyCollection<MessageKey> keys, CancellationToken cancellationToken);

    /// <summary>Drops the topic's raw backlog as far as the log can (<c>--purge-backlog</c>), after
    /// the tombstones and compaction. The outcome says what it cost and what it could not reach.</summary>
    ValueTask<TruncationOutcome> TruncateAsync(string topic, CancellationToken cancellationToken);
}

/// <summary>How a truncation ended.</summary>
/// <param name="Status">SUCCESS, NOT_NEEDED (the log has no backlog beyond what compaction removed) or ERROR.</param>
/// <param name="Effect">What it did and cost, in words, for the report (cursors moved, what stays).</param>
/// <param name="Error">The broker's or the file system's error, when Status is ERROR.</param>
public sealed record TruncationOutcome(string Status, string Effect, string? Error = null)
{
    public bool Failed => Status == "ERROR";
}

/// <summary>Where a topic ends, and how far a reader at some position is behind.</summary>
public sealed record TopicEnd(string Topic, StreamPosition Last, long? Behind);

/// <summary>How a compaction ended.</summary>
/// <param name="Status">SUCCESS, ERROR or TIMEOUT, as the broker's compaction status names them.</param>
/// <param name="MessagesRemoved">Messages removed from the raw log (a changelog file blanks them in place); null when the log cannot tell.</param>
/// <param name="Error">The broker's or the file system's error, when Status is not SUCCESS.</param>
public sealed record CompactionOutcome(string Status, long? MessagesRemoved, string? Error = null)
{
    public bool Succeeded => Status == "SUCCESS";
}
