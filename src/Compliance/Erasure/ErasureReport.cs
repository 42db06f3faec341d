namespace Sync.Compliance.Erasure;

/// <summary>What <c>sync erase</c> did and found, for an auditor. It holds no personal data: keys
/// appear only as their keyed hash; topics, tables and columns are named, values never.</summary>
public sealed record ErasureReport
{
    public required string RequestId { get; init; }

    public required string Subject { get; init; }

    public required string RequestedBy { get; init; }

    public required DateTimeOffset StartedAt { get; init; }

    public DateTimeOffset? FinishedAt { get; init; }

    public required bool DryRun { get; init; }

    /// <summary>complete, incomplete, already-erased, not-found or planned (dry run).</summary>
    public required ErasureVerdict Verdict { get; init; }

    public required IReadOnlyList<KeyOutcome> Keys { get; init; }

    public required IReadOnlyList<TopicOutcome> Topics { get; init; }

    public required IReadOnlyList<SinkOutcome> Sinks { get; init; }

    /// <summary>The dead-letter tables (<c>deadLetterTarget: table</c>) of the subject's materializers, searched for letters that name a subject.</summary>
    public IReadOnlyList<DeadLetterOutcome> DeadLetters { get; init; } = [];

    public required TimingsReport Timings { get; init; }

    /// <summary>What erasure cannot reach, in words (raw retention, copies, dead letters).</summary>
    public required IReadOnlyList<string> Notes { get; init; }
}

/// <summary>One erased key: its keyed hash, its request and its verdict.</summary>
public sealed record KeyOutcome(string KeyHash, string RequestId, ErasureVerdict Verdict);

/// <summary>One topic: tombstones written (with their positions), compaction, and the checks after it.</summary>
public sealed record TopicOutcome(
    string Topic,
    string Materializers,
    int KeysFound,
    IReadOnlyList<string> TombstonePositions,
    string Compaction,
    long? MessagesRemoved,
    long CompactedViewMatches,
    long RawResidue,
    string? ResidueUntil)
{
    /// <summary>With <c>--purge-backlog</c> on a topic that held raw residue: the truncation's
    /// status and what it did and cost; null when no truncation ran.</summary>
    public string? Truncation { get; init; }

    /// <summary>Keys whose latest message named a subject only in its before image, the row now
    /// belonging to someone else: re-published without the before image (planned, in a dry run).</summary>
    public int Scrubbed { get; init; }

    /// <summary>Raw residue counted again after the truncation; null when no truncation ran.</summary>
    public long? RawResidueAfterTruncation { get; init; }
}

/// <summary>One materializer's sink target: the subject's rows before (counted before any tombstone
/// was published), deleted by the erase, and left after.</summary>
public sealed record SinkOutcome(string Materializer, string Sink, string Table, string Match, long RowsBefore, long Deleted, long Remaining)
{
    /// <summary>Rows that running materializers removed between the count and the erase's delete (they
    /// applied the tombstones first): before - deleted - remaining, never negative.</summary>
    public long RemovedByMaterializers { get; init; }

    /// <summary>Erasure markers written for tombstoned keys without a row (a delete marker turned into
    /// an erasure marker, or a new one); each row the erase deleted got one as well.</summary>
    public long ErasureMarkers { get; init; }
}

/// <summary>One materializer's dead-letter table: letters searched, letters that named a subject
/// (decoded as the materializer decodes them), deleted, left after, and letters that could not be
/// decoded and so could not be searched.</summary>
public sealed record DeadLetterOutcome(string Materializer, string Table, long Letters, long NamingSubject, long Deleted, long Remaining, long Unreadable);

/// <summary>Milliseconds per step (PurgeMs: truncation and the scan after it, 0 without <c>--purge-backlog</c>).</summary>
public sealed record TimingsReport(long PlanMs, long TombstonesMs, long CompactionMs, long SinksMs, long VerifyMs, long PurgeMs, long TotalMs);
