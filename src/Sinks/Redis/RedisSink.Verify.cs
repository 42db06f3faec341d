using System.Runtime.CompilerServices;
using Sync.Engine.Verify;

namespace Sync.Sinks.Redis;

/// <summary>The sweep of <c>sync verify</c>, in the table's live key generation.</summary>
public sealed partial class RedisSink
{
    public IAsyncEnumerable<StoredRow>? ScanStoredRows(string materializer, TargetSpec target, CancellationToken cancellationToken)
    {
        ValidateTarget(target);
        return ScanStoredRowsAsync(target, cancellationToken);
    }

    /// <summary>A sweep holds the connection it started on: a failure mid-sweep ends it, and the caller runs it again.</summary>
    private async IAsyncEnumerable<StoredRow> ScanStoredRowsAsync(TargetSpec target, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var (writer, live) = await RunAsync($"read table \"{target.Table}\"", async w => (w, await InLiveGenerationAsync(w, target)), cancellationToken);
        await foreach (var row in writer.ScanStoredRowsAsync(live).WithCancellation(cancellationToken))
        {
            yield return row;
        }
    }
}
