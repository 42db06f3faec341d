namespace Sync.Compliance.Ledger;

/// <summary>What <c>ledger verify</c> found: every place it swept, and the erased subjects that are
/// back, per request. It holds no personal data: requests are named by id and subject kind, places
/// by sink, table, topic and dead-letter table; keys and values never.</summary>
/// <param name="ActiveRequests">Active (not revoked) requests of the ledger, the subjects that must be absent.</param>
/// <param name="Swept">Every place swept, with how many rows, messages or letters it holds.</param>
/// <param name="Residue">Per request whose subject was found somewhere, where and how often; empty when clean.</param>
/// <param name="NotSwept">Places that could not be swept, and why (a sink that cannot list its rows).</param>
public sealed record LedgerVerification(
    string Ledger,
    long ActiveRequests,
    IReadOnlyList<SweptPlace> Swept,
    IReadOnlyList<RequestResidue> Residue,
    IReadOnlyList<string> NotSwept)
{
    public bool Clean => Residue.Count == 0;

    /// <summary>The erasures <c>--repair</c> ran, when it was given (empty otherwise).</summary>
    public IReadOnlyList<Repair> Repairs { get; init; } = [];

    /// <summary>The verification run after the repairs, when <c>--repair</c> was given and found residue.</summary>
    public LedgerVerification? AfterRepair { get; init; }
}

/// <summary>Where a materializer's data lives, as <c>ledger verify</c> names it.</summary>
public enum PlaceKind
{
    Sink,
    Topic,
    DeadLetters,
}

/// <summary>One place swept for a materializer: a sink target, a topic's compacted view, or a dead-letter table.</summary>
/// <param name="Where">The sink and table, the topic, or the dead-letter table, by name.</param>
/// <param name="Items">Rows, messages or letters read.</param>
public sealed record SweptPlace(string Materializer, PlaceKind Kind, string Where, long Items);

/// <summary>An erased subject found again: the request that erased it, and every place that holds it.</summary>
public sealed record RequestResidue(string RequestId, string Subject, IReadOnlyList<ResiduePlace> Places)
{
    public long Total => Places.Sum(p => p.Count);
}

/// <summary>How many rows, messages or letters of one place name the request's subject.</summary>
public sealed record ResiduePlace(string Materializer, PlaceKind Kind, string Where, long Count);

/// <summary>An erasure <c>--repair</c> ran for the keys found of one subject kind: how many keys, the
/// requests they belong to, and the erasure's verdict.</summary>
public sealed record Repair(string Subject, int Keys, IReadOnlyList<string> RequestIds, string Verdict);
