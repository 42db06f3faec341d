using System.Runtime.CompilerServices;
using Sync.Engine.Verify;

namespace Sync.Sinks.Postgres;

/// <summary>The sweep of <c>sync verify</c>: rows with their versions, a range of heap blocks per round trip, then delete markers, a page per round trip.</summary>
public sealed partial class PostgresSink
{
    public IAsyncEnumerable<StoredRow>? ScanStoredRows(string materializer, TargetSpec target, CancellationToken cancellationToken) =>
        ScanStoredPagesAsync(Resolve(target), cancellationToken);

    private async IAsyncEnumerable<StoredRow> ScanStoredPagesAsync(PostgresTarget target, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        // Rows: a range of heap blocks per round trip, sized so that a page holds about ScanPage rows
        // whatever the rows' width; the table's size is read with each page, so rows appended while
        // the sweep runs are read too (the verification counts those as pending).
        var blocks = 16L;
        for (var first = 0L; ;)
        {
            var from = first;
            var count = blocks;
            var (rows, size) = await WithGateAsync(
                $"read the rows of table {target.Qualified}",
                (writer, ct) => writer.ScanStoredRowsPageAsync(target, from, count, ct),
                cancellationToken);
            foreach (var row in rows ?? [])
            {
                yield return row;
            }

            first += count;
            if (rows is null || first >= size)
            {
                break;
            }

            blocks = Math.Clamp(rows.Count == 0 ? count * 8 : count * ScanPage / rows.Count, 1, 1 << 20);
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
