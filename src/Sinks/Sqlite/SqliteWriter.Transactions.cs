namespace Sync.Sinks.Sqlite;

/// <summary>Several materializers' batches (a consistency group's source transactions) in ONE SQLite
/// transaction, each applied as <see cref="ApplyAsync"/> applies one: readers of the database see all
/// of them or none (SQLite's transactions are serializable: a reader sees the database before or after
/// the commit, https://www.sqlite.org/isolation.html).</summary>
internal sealed partial class SqliteWriter
{
    public async Task<IReadOnlyList<ApplyResult>> ApplyTransactionAsync(IReadOnlyList<SinkBatch> batches, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var time = FormatTime(now);
        return await InTransactionAsync<IReadOnlyList<ApplyResult>>(
            async transaction =>
            {
                var results = new List<ApplyResult>(batches.Count);
                foreach (var batch in batches)
                {
                    var context = new BatchContext(batch.Target.Table, time);
                    ApplyChanges(context, batch.Changes);

                    WriteCheckpoint(batch, transaction, context.Now);
                    if (batch.Checkpoint.Count > 0 && batch.Target.Table.Length > 0)
                    {
                        RecordTarget(batch.Materializer, batch.Target.Table, context.Now);
                    }

                    if (batch.BeforeCommit is { } beforeCommit && await beforeCommit(context.Rejected, cancellationToken) is { Count: > 0 } letters)
                    {
                        SqliteDeadLetters.Insert(_connection, transaction, letters);
                    }

                    results.Add(context.ToResult());
                }

                return results;
            });
    }

    /// <summary>Writes a batch's changes in order.</summary>
    private void ApplyChanges(BatchContext context, IReadOnlyList<ChangeEvent> changes)
    {
        _truncateMarkers.Clear();
        foreach (var change in changes)
        {
            switch (change.Op)
            {
                case ChangeOp.Truncate:
                    ApplyTruncate(context, change);
                    break;
                case ChangeOp.Delete or ChangeOp.Tombstone:
                    ApplyDelete(context, change);
                    break;
                default:
                    ApplyUpsert(context, change);
                    break;
            }
        }
    }
}
