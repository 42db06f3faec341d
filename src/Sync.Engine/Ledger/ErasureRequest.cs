namespace Sync.Engine.Ledger;

/// <summary>One erasure request as the ledger keeps it: never the raw key, only its keyed hash.
/// A request suppresses its subject from the moment it is recorded, whatever its status, until it
/// is revoked.</summary>
public sealed record ErasureRequest(string RequestId, string Subject, string KeyHash, DateTimeOffset RequestedAt, string RequestedBy, RequestStatus Status, DateTimeOffset? CompletedAt)
{
    /// <summary>Set when the request was revoked (a mistaken erasure): it suppresses nothing from then on.</summary>
    public Revocation? Revocation { get; init; }

    public bool IsActive => Revocation is null;
}

/// <summary>Who revoked a request, when and why.</summary>
public sealed record Revocation(DateTimeOffset At, string By, string Reason);
