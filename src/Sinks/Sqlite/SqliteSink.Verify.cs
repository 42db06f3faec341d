using System.Runtime.CompilerServices;
using Sync.Engine.Verify;

namespace Sync.Sinks.Sqlite;

/// <summary>The sweep of <c>sync verify</c>: rows with their versions, then delete markers, the writer's
/// lock held for one page at a time.</summary>
public sealed partial class SqliteSink
{
    public IAsyncEnumerable<StoredRow>? ScanStoredRows(string materializer, TargetSpec target, CancellationToken cancellationToken)
    {
        ValidateTarget(target);
        return ScanStoredPagesAsync(target.Table, cancellationToken);
    }

    private async IAsyncEnumerable<StoredRow> ScanStoredPagesAsync(string table, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        long? after = 0;
        while (after is { } from)
        {
            var (rows, next) = await _session.LockedAsync((database, _) => Task.FromResult(database.Writer.ScanStoredRowsPage(table, from, ScanPage)), cancellationToken);
            foreach (var row in rows)
            {
                yield return row;
            }

            after = next;
        }

        string? markersAfter = string.Empty;
        while (markersAfter is { } from)
        {
            var (rows, next) = await _session.LockedAsync((database, _) => Task.FromResult(database.Writer.ScanMarkersPage(table, from, ScanPage)), cancellationToken);
            foreach (var row in rows)
            {
                yield return row;
            }

            markersAfter = next;
        }
    }
}
