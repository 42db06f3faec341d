namespace Sync.Sinks.Postgres;

/// <summary>A consistency group's source transactions: several materializers' batches in one PostgreSQL transaction.</summary>
public sealed partial class PostgresSink
{
    public async ValueTask<IReadOnlyList<ApplyResult>> ApplyTransactionAsync(IReadOnlyList<SinkBatch> batches, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(batches);
        var resolved = batches.Select(b => (b, Resolve(b.Target))).ToList();
        foreach (var (_, target) in resolved)
        {
            // A group's shadow backfill writes its shadows here, never through the bulk load's log.
            await BuildShadowFirstAsync(target, cancellationToken);
        }

        var tables = string.Join(", ", resolved.Select(r => r.Item2.Qualified).Distinct(StringComparer.Ordinal));
        return await WithGateAsync(
            $"apply a transaction of {batches.Sum(b => b.Changes.Count)} changes to tables {tables}",
            (writer, ct) => writer.ApplyTransactionAsync(resolved, ct),
            cancellationToken,
            batches.FirstOrDefault()?.Retrying);
    }

    /// <summary>Erases the subject values from several targets in ONE transaction (a consistency group's
    /// tables; see <see cref="ISink.EraseTogetherAsync"/>).</summary>
    public async ValueTask<IReadOnlyList<IReadOnlyList<long>>> EraseTogetherAsync(IReadOnlyList<(TargetSpec Target, SubjectMatches Matches)> erasures, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(erasures);
        var resolved = erasures.Select(e => (Resolve(e.Target), e.Matches)).ToList();
        foreach (var (target, _) in resolved)
        {
            await BuildShadowFirstAsync(target, cancellationToken);
        }

        var tables = string.Join(", ", resolved.Select(r => r.Item1.Qualified).Distinct(StringComparer.Ordinal));
        return await WithGateAsync<IReadOnlyList<IReadOnlyList<long>>>(
            $"erase {erasures.Sum(e => e.Matches.Values.Count)} values from tables {tables} in one transaction",
            async (writer, ct) => await writer.EraseTogetherAsync(resolved, ct),
            cancellationToken);
    }
}
