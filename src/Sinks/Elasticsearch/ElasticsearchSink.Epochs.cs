using Elastic.Clients.Elasticsearch.Core.Search;
using Sync.Engine.Runtime;

namespace Sync.Sinks.Elasticsearch;

/// <summary>Snapshot reconciliation of a new source epoch (ISink.ReconcileEpochAsync).</summary>
public sealed partial class ElasticsearchSink
{
    /// <summary>Deletes the documents of the target's indices last written below order
    /// <paramref name="epochStart"/>: a document's external version is <c>2^62 + order</c>
    /// (<see cref="ExternalVersions"/>), read with <c>version: true</c> in a sweep of every document under
    /// a point in time with <c>search_after</c> on <c>_shard_doc</c>
    /// (https://www.elastic.co/docs/reference/elasticsearch/rest-apis/paginate-search-results#search-after),
    /// since <c>_version</c> cannot be queried. Each is deleted by id at the external version of order
    /// <paramref name="epochStart"/>, through <c>_bulk</c> with <c>version_type=external</c>
    /// (https://www.elastic.co/docs/api/doc/elasticsearch/operation/operation-bulk): its tombstone is above
    /// every order of the old epoch, so no replay of it comes back, and below the new epoch's changes, so a
    /// change written since the point in time opened conflicts (409) and stays. Not
    /// <c>_delete_by_query</c>: it deletes with internal versioning (version + 1), which would let the
    /// old epoch's next order back in. One page of ids in memory at a time.
    /// <para>A document's version does not say which stream wrote it, so the sweep runs only when
    /// <paramref name="stream"/> is the materializer's one stream (its checkpoint holds no other): with
    /// several streams (a partitioned topic, a topic pattern into one index), a document of another stream
    /// below this epoch's start may be that stream's newest state, and the answer is null (cannot).
    /// Erasure markers and deleted documents are tombstones, which no search returns.</para></summary>
    public async ValueTask<long?> ReconcileEpochAsync(string materializer, TargetSpec target, string stream, long epochStart, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(materializer);
        ArgumentException.ThrowIfNullOrEmpty(stream);
        ValidateTarget(target);
        var streams = SinkCheckpointGuard.PositionsOf(await LoadCheckpointAsync(materializer, cancellationToken)).Keys;
        if (streams.Any(s => s != stream))
        {
            return null;
        }

        var marker = ExternalVersions.Encode(new ChangeVersion(epochStart, stream, default), out var problem)
            ?? throw new SinkFatalException($"elasticsearch sink '{Name}': the start {epochStart} of the new source epoch of {stream}: {problem}");
        long removed = 0;
        await foreach (var hits in SweepAsync(Pattern(target), new SourceConfig(false), version: true, "for the versions of its documents", cancellationToken))
        {
            var older = hits.Where(h => h.Index is not null && h.Id is not null && h.Version is >= ExternalVersions.LsnBase && h.Version < marker)
                .Select(h => (h.Index!, h.Id!, marker)).ToList();
            if (older.Count > 0)
            {
                removed += await GatedAsync(ct => _writer.DeleteVersionedAsync(older, ct), cancellationToken);
            }
        }

        return removed;
    }
}
