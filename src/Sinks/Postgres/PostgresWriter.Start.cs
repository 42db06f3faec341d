using Npgsql;

namespace Sync.Sinks.Postgres;

/// <summary>
/// The start of a lone batch's transaction — its locks (<see cref="LockAsync"/>), the read of the
/// checkpoint it expects and its checkpoint write (<see cref="CheckpointUpsert"/>) — is held back and
/// sent in front of the batch's first statement, in the same round trip: on the hot path a batch is
/// two round trips, its statements and the commit, instead of four.
/// <para>The order in the transaction is unchanged where it matters: the locks come before every
/// other statement of the batch (a statement that cannot carry them sends them on their own first,
/// <see cref="SendStartAsync"/>), so no version is read before they are granted. The checkpoint is
/// written right after the locks instead of after the changes; it commits with them or not at all, as
/// before, and its row is locked in the same order as by a consistency group (advisory locks, then the
/// checkpoint rows, then the target's rows).</para>
/// </summary>
internal sealed partial class PostgresWriter
{
    /// <summary>The held-back start of the open batch, or null once it is sent (or for a group transaction).</summary>
    private BatchStart? _start;

    private sealed record BatchStart(SinkBatch Batch, PostgresTarget Target);

    /// <summary>Puts the held-back start in front of <paramref name="statements"/> (before they are
    /// prepared); pass the result to <see cref="ReadStartAsync"/> once they run.</summary>
    private BatchStart? TakeStart(NpgsqlBatch statements)
    {
        if (_start is not { } start)
        {
            return null;
        }

        _start = null;
        var commands = LockCommands([(start.Batch, start.Target)]);
        if (start.Batch.Checkpoint.Count > 0)
        {
            commands.Add(CheckpointUpsert(start.Batch));
        }

        for (var i = 0; i < commands.Count; i++)
        {
            statements.BatchCommands.Insert(i, commands[i]);
        }

        return start;
    }

    /// <summary>Reads the start's results (the reader on the lock statement's) and moves the reader to
    /// the first result of the statements behind it.</summary>
    private static async Task ReadStartAsync(NpgsqlDataReader reader, BatchStart? start, CancellationToken cancellationToken)
    {
        if (start is null)
        {
            return;
        }

        await ReadLocksAsync(reader, [(start.Batch, start.Target)], cancellationToken);
        await reader.NextResultAsync(cancellationToken);
    }

    /// <summary>Sends the held-back start on its own: before a statement that cannot carry it, or at
    /// the end of a batch that had no statement.</summary>
    private async Task SendStartAsync(CancellationToken cancellationToken)
    {
        if (_start is null)
        {
            return;
        }

        await using var statements = new NpgsqlBatch(_connection, _transaction);
        var start = TakeStart(statements);
        await statements.PrepareAsync(cancellationToken);
        await using var reader = await statements.ExecuteReaderAsync(cancellationToken);
        await ReadLocksAsync(reader, [(start!.Batch, start.Target)], cancellationToken);
    }

    /// <summary>For statements built elsewhere (<see cref="Command"/>): a start still held back here is a
    /// path that forgot <see cref="SendStartAsync"/>, and the statement would run before the locks.</summary>
    private void EnsureStartSent()
    {
        if (_start is not null)
        {
            throw new InvalidOperationException("a statement of the batch would run before the batch's locks");
        }
    }
}
