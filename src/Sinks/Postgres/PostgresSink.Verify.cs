using System.Runtime.CompilerServices;
using Sync.Engine.Verify;

namespace Sync.Sinks.Postgres;

/// <summary>The sweep of <c>sync verify</c>: rows with their versions, then delete markers, a page per round trip.</summary>
public sealed partial class PostgresSink
{
    public IAsyncEnumerable<StoredRow>? ScanStoredRows(string materializer, TargetSpec target, CancellationToken cancellationToken) =>
        ScanStoredPagesAsync(Resolve(target), cancellationToken);

    private async IAsyncEnumerable<StoredRow> ScanStoredPagesAsync(PostgresTarget target, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        foreach (var markers in new[] { false, true })
        {
            string? after = null;
            do
            {
                var from = after;
                var (rows, next) = await WithGateAsync(
                    markers ? $"read the delete markers of table {target.Qualified}" : $"read the rows of table {target.Qualified}",
                    (writer, ct) => markers ? writer.ScanMarkersPageAsync(target, from, ScanPage, ct) : writer.ScanStoredRowsPageAsync(target, from, ScanPage, ct),
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
}
