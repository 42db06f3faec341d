using Npgsql;

namespace Sync.Sinks.Postgres;

/// <summary>Several materializers' batches (a consistency group's source transactions) in ONE
/// PostgreSQL transaction, each applied as <see cref="ApplyAsync(SinkBatch, PostgresTarget, CancellationToken)"/> applies one, with its checkpoint:
/// a reader sees all of them or none, since a transaction's changes become visible to other sessions
/// at once when it commits (https://www.postgresql.org/docs/current/transaction-iso.html, Read Committed:
/// a query sees only data committed before it began).</summary>
internal sealed partial class PostgresWriter
{
    public async Task<IReadOnlyList<ApplyResult>> ApplyTransactionAsync(IReadOnlyList<(SinkBatch Batch, PostgresTarget Target)> batches, CancellationToken cancellationToken)
    {
        _stagesCreated.Clear();
        _stagesUsed.Clear();
        try
        {
            return await InTransactionAsync<IReadOnlyList<ApplyResult>>(
                async transaction =>
                {
                    // Every target's locks before any write, targets in one order, so that two group
                    // transactions (or a group and a lone materializer) never wait for each other in a cycle.
                    await LockAsync([.. batches.OrderBy(b => b.Target.Id, StringComparer.Ordinal)], cancellationToken);
                    var results = new List<ApplyResult>(batches.Count);
                    var contexts = new List<BatchContext>(batches.Count);
                    foreach (var (batch, target) in batches)
                    {
                        var context = new BatchContext(target);
                        await ApplyChangesAsync(context, batch.Changes, cancellationToken);
                        contexts.Add(context);
                    }

                    // Every member's checkpoint in one round trip, after all the changes.
                    await WriteCheckpointsAsync(batches, cancellationToken);
                    for (var i = 0; i < batches.Count; i++)
                    {
                        var (batch, context) = (batches[i].Batch, contexts[i]);
                        if (batch.BeforeCommit is { } beforeCommit && await beforeCommit(context.Rejected, cancellationToken) is { Count: > 0 } letters)
                        {
                            await DeadLetters.InsertAsync(_connection, transaction, letters, cancellationToken);
                        }

                        results.Add(context.ToResult());
                    }

                    return results;
                },
                cancellationToken);
        }
        finally
        {
            _stagesCreated.Clear();
        }
    }

    /// <summary>Writes a batch's changes in order: runs of row changes together, each truncate on its own.</summary>
    private async Task ApplyChangesAsync(BatchContext context, IReadOnlyList<ChangeEvent> changes, CancellationToken cancellationToken)
    {
        var segment = new List<ChangeEvent>();
        foreach (var change in changes)
        {
            if (change.Op == ChangeOp.Truncate)
            {
                await ApplySegmentAsync(context, segment, cancellationToken);
                segment.Clear();
                await ApplyTruncateAsync(context, change, cancellationToken);
            }
            else
            {
                segment.Add(change);
            }
        }

        await ApplySegmentAsync(context, segment, cancellationToken);
    }
}
