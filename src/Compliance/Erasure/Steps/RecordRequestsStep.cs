namespace Sync.Compliance.Erasure.Steps;

/// <summary>Input of <see cref="RecordRequestsStep"/>.</summary>
public sealed record RecordRequestsInput(ErasureScope Scope, DateTimeOffset StartedAt, Func<string> NewRequestId);

/// <summary>One requested key as the ledger holds it: its request, and whether an earlier erasure of it completed.</summary>
public sealed record RecordedKey(string Key, string KeyHash, string RequestId, bool ErasedBefore)
{
    /// <summary>The status of the key's earlier active request; null when this erasure recorded the request.</summary>
    public RequestStatus? EarlierStatus { get; init; }
}

/// <summary>Output of <see cref="RecordRequestsStep"/>: the keys in the scope's order.</summary>
public sealed record RecordedRequests(IReadOnlyList<RecordedKey> Keys)
{
    public bool AllErasedBefore => Keys.All(k => k.ErasedBefore);
}

/// <summary>Records the request in the suppression ledger first: from then on every materializer
/// suppresses the subjects. A dry run records nothing (its requests read <c>-</c>).</summary>
public sealed class RecordRequestsStep : IErasureStep<RecordRequestsInput, RecordedRequests>
{
    public async Task<RecordedRequests> RunAsync(RecordRequestsInput input, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(input);
        var scope = input.Scope;
        if (scope.DryRun)
        {
            return new RecordedRequests([.. scope.Keys.Select(k => new RecordedKey(k, scope.Hashes[k], "-", ErasedBefore: false))]);
        }

        var asked = scope.Keys.Select(k => new ErasureRequest(input.NewRequestId(), scope.Subject.Name, scope.Hashes[k], input.StartedAt, scope.Command.RequestedBy, RequestStatus.InProgress, null)).ToList();
        var requests = await scope.Ledger.RecordAsync(asked, cancellationToken);
        return new RecordedRequests([.. scope.Keys.Select((k, i) => new RecordedKey(k, scope.Hashes[k], requests[i].RequestId, requests[i].Status is RequestStatus.Complete or RequestStatus.NotFound)
        {
            EarlierStatus = requests[i].RequestId == asked[i].RequestId ? null : requests[i].Status,
        })]);
    }
}
