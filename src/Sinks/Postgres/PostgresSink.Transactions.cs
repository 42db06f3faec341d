namespace Sync.Sinks.Postgres;

/// <summary>A consistency group's source transactions: several materializers' batches in one PostgreSQL transaction.</summary>
public sealed partial class PostgresSink
{
    public async ValueTask<IReadOnlyList<ApplyResult>> ApplyTransactionAsync(IReadOnlyList<SinkBatch> batches, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(batches);
        var resolved = batches.Select(b => (b, Resolve(b.Target))).ToList();
        var tables = string.Join(", ", resolved.Select(r => r.Item2.Qualified).Distinct(StringComparer.Ordinal));
        return await WithGateAsync(
            $"apply a transaction of {batches.Sum(b => b.Changes.Count)} changes to tables {tables}",
            (writer, ct) => writer.ApplyTransactionAsync(resolved, ct),
            cancellationToken,
            batches.FirstOrDefault()?.Retrying);
    }
}
