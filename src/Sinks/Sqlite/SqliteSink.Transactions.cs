using Microsoft.Data.Sqlite;

namespace Sync.Sinks.Sqlite;

/// <summary>A consistency group's source transactions: several materializers' batches in one SQLite transaction.</summary>
public sealed partial class SqliteSink
{
    public async ValueTask<IReadOnlyList<ApplyResult>> ApplyTransactionAsync(IReadOnlyList<SinkBatch> batches, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(batches);
        foreach (var batch in batches)
        {
            ValidateTarget(batch.Target);
        }

        var tables = string.Join(", ", batches.Select(b => $"\"{b.Target.Table}\"").Distinct(StringComparer.Ordinal));
        var changes = batches.Sum(b => b.Changes.Count);
        var failures = new SinkFailures(e => e is SqliteException sqlite ? SqliteErrorClassifier.Classify(sqlite) : null)
        {
            Fatal = (_, e) => $"sqlite sink '{Name}': a transaction of {changes} changes to tables {tables} failed and was rolled back; the connection was discarded: {e.Message}",
            Unavailable = (_, attempts, e) => $"sqlite sink '{Name}': tables {tables} stayed busy or locked after {attempts} attempts: {e.Message}",
            Retrying = (_, attempt, e) => $"sqlite sink '{Name}': tables {tables} are busy or locked (attempt {attempt}), retrying: {e.Message}",
        };
        return await _session.RunAsync(
            $"tables {tables}",
            (database, ct) => database.Writer.ApplyTransactionAsync(batches, _time.GetUtcNow(), ct),
            cancellationToken,
            batches.FirstOrDefault()?.Retrying,
            failures);
    }

    /// <summary>Erases the subject values from several tables in ONE transaction (a consistency group's
    /// tables; see <see cref="ISink.EraseTogetherAsync"/>).</summary>
    public async ValueTask<IReadOnlyList<IReadOnlyList<long>>> EraseTogetherAsync(IReadOnlyList<(TargetSpec Target, SubjectMatches Matches)> erasures, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(erasures);
        foreach (var (target, _) in erasures)
        {
            ValidateTarget(target);
        }

        var tables = erasures.Select(e => (e.Target.Table, e.Matches)).ToList();
        return await _session.LockedAsync<IReadOnlyList<IReadOnlyList<long>>>((database, _) => Task.FromResult<IReadOnlyList<IReadOnlyList<long>>>(database.Writer.EraseTogether(tables, _time.GetUtcNow())), cancellationToken);
    }
}
