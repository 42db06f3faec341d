using Elastic.Clients.Elasticsearch;
using Elastic.Clients.Elasticsearch.Core.Search;
using Sync.Engine.Runtime;
using EsFieldValue = Elastic.Clients.Elasticsearch.FieldValue;

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
        await foreach (var page in VersionPagesAsync(Pattern(target), cancellationToken))
        {
            var older = page.Where(d => d.Version is >= ExternalVersions.LsnBase && d.Version < marker).Select(d => (d.Index, d.Id, marker)).ToList();
            if (older.Count > 0)
            {
                removed += await GatedAsync(ct => _writer.DeleteVersionedAsync(older, ct), cancellationToken);
            }
        }

        return removed;
    }

    /// <summary>Every document of the indices of <paramref name="pattern"/> with its version, a page at a
    /// time, under one point in time (as <see cref="ScanColumn"/> sweeps, without the source).</summary>
    private async IAsyncEnumerable<List<(string Index, string Id, long Version)>> VersionPagesAsync(string pattern, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var open = await GatedAsync(
            async ct =>
            {
                await _writer.RefreshAsync(pattern, ct);
                return await _writer.RetryAsync(
                    () => Client.OpenPointInTimeAsync(new OpenPointInTimeRequest(pattern) { KeepAlive = ScanKeepAlive, IgnoreUnavailable = true }, ct),
                    $"opening a point in time on \"{pattern}\"",
                    ct);
            },
            cancellationToken);
        if (open.Id is not { Length: > 0 } pit)
        {
            yield break;
        }

        try
        {
            ICollection<EsFieldValue>? after = null;
            while (true)
            {
                var request = new SearchRequest
                {
                    Pit = new PointInTimeReference { Id = pit, KeepAlive = ScanKeepAlive },
                    Size = ScanPage,
                    Sort = [new SortOptions { Field = new FieldSort { Field = new Field("_shard_doc"), Order = SortOrder.Asc } }],
                    SearchAfter = after,
                    Source = new SourceConfig(false),
                    Version = true,
                    TrackTotalHits = new TrackHits(false),
                };
                var page = await GatedAsync(
                    ct => _writer.RetryAsync(() => Client.SearchAsync<object>(request, ct), $"reading the versions of \"{pattern}\"", ct),
                    cancellationToken);
                pit = page.PitId ?? pit;
                var hits = page.Hits ?? [];
                yield return [.. hits.Where(h => h.Index is not null && h.Id is not null && h.Version is not null).Select(h => (h.Index!, h.Id!, h.Version!.Value))];
                if (hits.Count < ScanPage || hits.Last().Sort is not { Count: > 0 } last)
                {
                    break;
                }

                after = [.. last];
            }
        }
        finally
        {
            await ClosePointInTimeAsync(pit);
        }
    }
}
