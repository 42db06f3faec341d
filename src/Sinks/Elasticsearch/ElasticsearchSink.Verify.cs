using System.Runtime.CompilerServices;
using Elastic.Clients.Elasticsearch.Core.Search;
using Sync.Engine.Verify;

namespace Sync.Sinks.Elasticsearch;

/// <summary>The sweep of <c>sync verify</c>: every document of the target with its external version.</summary>
public sealed partial class ElasticsearchSink
{
    /// <summary>Every document of the target's indices with its <c>_version</c>, under a point in time with
    /// <c>search_after</c> on <c>_shard_doc</c> (as <see cref="ScanColumn"/>). A document is named by its
    /// <c>_id</c> (<see cref="DocumentIds.Of"/>: the key's value for a one-column key, its JSON otherwise).
    /// The external version gives back the LSN of a version in the LSN band (<see cref="ExternalVersions"/>);
    /// a version below it packs a position of a stream it does not name, so it orders against nothing
    /// and the values decide. Deleted documents are gone from searches: Elasticsearch keeps their
    /// versions as tombstones no search returns, so the sweep has no delete markers.</summary>
    public IAsyncEnumerable<StoredRow>? ScanStoredRows(string materializer, TargetSpec target, CancellationToken cancellationToken)
    {
        ValidateTarget(target);
        return ScanStoredPagesAsync(Pattern(target), cancellationToken);
    }

    private async IAsyncEnumerable<StoredRow> ScanStoredPagesAsync(string pattern, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await foreach (var hits in SweepAsync(pattern, new SourceConfig(true), version: true, "for verify", cancellationToken))
        {
            foreach (var hit in hits)
            {
                if (hit.Id is not { } id || hit.Source.ValueKind != JsonValueKind.Object)
                {
                    continue;
                }

                var key = id.StartsWith('{') ? StoredKeys.FromKeyText(id) : new Row(["_id"], [FieldValue.FromString(id)]);
                var image = StoredKeys.FromKeyText(hit.Source.GetRawText());
                yield return new StoredRow(key, image, VersionOf(hit.Version));
            }
        }
    }

    private static ChangeVersion VersionOf(long? external) =>
        external is { } v and >= ExternalVersions.LsnBase and < ExternalVersions.Erased
            ? new ChangeVersion(v - ExternalVersions.LsnBase, string.Empty, StreamPosition.Start)
            : new ChangeVersion(external == ExternalVersions.Erased ? long.MaxValue : null, string.Empty, StreamPosition.Start);
}
