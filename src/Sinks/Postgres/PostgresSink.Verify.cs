using System.Runtime.CompilerServices;
using Sync.Engine.Verify;

namespace Sync.Sinks.Postgres;

/// <summary>The sweeps by ranges of heap blocks (the rows of <c>sync verify</c> and the column of <c>ledger verify</c>), and the rest of the verify sweep: delete markers, a page per round trip.</summary>
public sealed partial class PostgresSink
{
    /// <summary>A sweep over a table's heap, a range of blocks per round trip (a TID range scan: each
    /// page reads its own blocks only, so the sweep reads the table once, where an <c>ORDER BY ctid</c>
    /// with a <c>LIMIT</c> made the planner sort the rest of the table for every page). The range is
    /// sized so that a page holds about ScanPage rows whatever their width; the table's size is read with
    /// each page, so rows appended while the sweep runs are read too. A null page ends the sweep (the
    /// table or column is gone).</summary>
    private async IAsyncEnumerable<T> SweepBlocksAsync<T>(
        string what,
        Func<PostgresWriter, long, long, CancellationToken, Task<(List<T>? Items, int Rows, long Blocks)>> page,
        [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var blocks = 16L;
        for (var first = 0L; ;)
        {
            var from = first;
            var count = blocks;
            var (items, rows, size) = await WithGateAsync(what, (writer, ct) => page(writer, from, count, ct), cancellationToken);
            foreach (var item in items ?? [])
            {
                yield return item;
            }

            first += count;
            if (items is null || first >= size)
            {
                yield break;
            }

            blocks = Math.Clamp(rows == 0 ? count * 8 : count * ScanPage / rows, 1, 1 << 20);
        }
    }

    public IAsyncEnumerable<StoredRow>? ScanStoredRows(string materializer, TargetSpec target, CancellationToken cancellationToken) =>
        ScanStoredPagesAsync(Resolve(target), cancellationToken);

    private async IAsyncEnumerable<StoredRow> ScanStoredPagesAsync(PostgresTarget target, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await foreach (var row in SweepBlocksAsync(
            $"read the rows of table {target.Qualified}",
            async (writer, first, count, ct) =>
            {
                var (rows, size) = await writer.ScanStoredRowsPageAsync(target, first, count, ct);
                return (rows, rows?.Count ?? 0, size);
            },
            cancellationToken))
        {
            yield return row;
        }

        string? after = null;
        do
        {
            var from = after;
            var (rows, next) = await WithGateAsync(
                $"read the delete markers of table {target.Qualified}",
                (writer, ct) => writer.ScanMarkersPageAsync(target, from, ScanPage, ct),
                cancellationToken);
            foreach (var row in rows)
            {
                yield return row;
            }

            after = next;
        }
        while (after is not null);
    }
}
