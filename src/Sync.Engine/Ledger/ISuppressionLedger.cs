namespace Sync.Engine.Ledger;

/// <summary>The suppression ledger: every erasure request, so that no replay brings an erased
/// subject back. A file on one machine, or a store a fleet of processes shares (tables in a
/// PostgreSQL database, a compacted topic).</summary>
public interface ISuppressionLedger : IAsyncDisposable
{
    /// <summary>Where the ledger is, for people: a file path, a sink and schema, a topic. Never a secret.</summary>
    string Location { get; }

    /// <summary>Records the requests in one durable step, all or none. For a key that has an active
    /// request already, that request is returned in its place and nothing is recorded for it.</summary>
    /// <returns>The active request of each key, in the order given.</returns>
    Task<IReadOnlyList<ErasureRequest>> RecordAsync(IReadOnlyList<ErasureRequest> requests, CancellationToken cancellationToken);

    /// <summary>Sets the status of requests; <paramref name="now"/> becomes the completion time of
    /// a status other than <see cref="RequestStatus.InProgress"/>.</summary>
    Task SetStatusAsync(IReadOnlyList<(string RequestId, RequestStatus Status)> statuses, DateTimeOffset now, CancellationToken cancellationToken);

    /// <summary>The active (not revoked) request of a key; null when there is none.</summary>
    Task<ErasureRequest?> FindAsync(string subject, string keyHash, CancellationToken cancellationToken);

    /// <summary>The request with this id, revoked or not; null when there is none.</summary>
    Task<ErasureRequest?> GetAsync(string requestId, CancellationToken cancellationToken);

    /// <summary>Revokes an active request: its subject is no longer suppressed. Returns the revoked
    /// request; null when there is no such request. A request revoked already stays as it was
    /// (its first revocation is returned).</summary>
    Task<ErasureRequest?> RevokeAsync(string requestId, Revocation revocation, CancellationToken cancellationToken);

    /// <summary>Every request, revoked ones included, oldest first; streamed.</summary>
    IAsyncEnumerable<ErasureRequest> ListAsync(CancellationToken cancellationToken);

    /// <summary>A view of the suppressed keys that a running process keeps current.</summary>
    ISuppressionView OpenView(TimeSpan refreshInterval, TimeProvider time);
}

/// <summary>The (subject, key hash) pairs of every active request, kept current for a running
/// process. One view serves all the materializers of a process: it is safe to call from several threads.</summary>
public interface ISuppressionView : IAsyncDisposable
{
    /// <summary>The suppressed keys as of now: reloaded when the ledger has changed, and at the
    /// latest every refresh interval. Throws <see cref="LedgerUnavailableException"/> when the ledger
    /// cannot be read, or when a change to it may have been missed: a process must then apply no
    /// change, because a subject must never come back while its ledger is out of reach.</summary>
    ValueTask<IReadOnlySet<(string Subject, string KeyHash)>> CurrentAsync(CancellationToken cancellationToken);
}
