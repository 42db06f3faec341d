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
    /// <para>A document's version does not say which stream wrote it. With one stream the sweep
    /// deletes below the epoch's start. With several (a partitioned topic, a topic pattern into one
    /// index) it deletes below <see cref="SourceEpochs.SweepLimit"/> of the epoch state stored with the
    /// checkpoint: below every stream's floor no stream holds a live document, so a stream still in its
    /// old history or inside its new snapshot holds the sweep back (0 deleted now), and the last stream
    /// to complete its new snapshot sweeps the documents of all of them. The delete's version is that
    /// limit, above every order of the old epochs and at or below every order the streams hold now.
    /// Erasure markers and deleted documents are tombstones, which no search returns.</para></summary>
    public async ValueTask<long?> ReconcileEpochAsync(string materializer, TargetSpec target, string stream, long epochStart, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(materializer);
        ArgumentException.ThrowIfNullOrEmpty(stream);
        ValidateTarget(target);
        var checkpoint = await LoadCheckpointAsync(materializer, cancellationToken);
        var streams = SinkCheckpointGuard.PositionsOf(checkpoint).Keys;
        var limit = streams.Any(s => s != stream) ? SourceEpochs.FromCheckpoint(checkpoint).SweepLimit(stream, streams) : epochStart;
        if (limit <= 0)
        {
            return 0;
        }

        var marker = ExternalVersions.Encode(new ChangeVersion(limit, stream, default), out var problem)
            ?? throw new SinkFatalException($"elasticsearch sink '{Name}': the limit {limit} of the reconciliation of the new source epoch of {stream}: {problem}");
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

    /// <summary>The processes' agreement on a source epoch, in a document of its own beside the
    /// checkpoint (<see cref="ElasticsearchWriter.AddCheckpointEntriesAsync"/>).</summary>
    public async ValueTask<IReadOnlyDictionary<string, StreamPosition>?> AddCheckpointEntriesAsync(
        string materializer, IReadOnlyList<KeyValuePair<string, StreamPosition>> entries, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(materializer);
        ArgumentNullException.ThrowIfNull(entries);
        return await GatedAsync(ct => _writer.AddCheckpointEntriesAsync(materializer, entries, ct), cancellationToken);
    }
}
