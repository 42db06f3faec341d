using System.Runtime.CompilerServices;
using Elastic.Clients.Elasticsearch;
using Elastic.Clients.Elasticsearch.Core.Search;
using EsFieldValue = Elastic.Clients.Elasticsearch.FieldValue;

namespace Sync.Sinks.Elasticsearch;

/// <summary>The sweep of <c>ledger verify</c>: every document of the target, a page at a time.</summary>
public sealed partial class ElasticsearchSink
{
    /// <summary>Hits per page of a sweep: one search each, only the column's value in each hit's source.</summary>
    public const int ScanPage = 1000;

    /// <summary>How long the point in time lives between two pages; each search extends it.</summary>
    private static readonly Duration ScanKeepAlive = "2m";

    /// <summary>The column's text in every document of the target's indices (every index its template can
    /// name), read under a point in time with <c>search_after</c> on <c>_shard_doc</c>, the paging
    /// Elasticsearch recommends for reading a whole index
    /// (https://www.elastic.co/docs/reference/elasticsearch/rest-apis/paginate-search-results#search-after):
    /// the point in time (https://www.elastic.co/docs/api/doc/elasticsearch/operation/operation-open-point-in-time)
    /// keeps one view of the data for every page, so a document is seen once whatever is written
    /// meanwhile, and <c>_shard_doc</c>, its implicit tiebreaker, orders the hits without a sortable field
    /// in the documents. A refresh first, so that the sweep sees every write acknowledged before it.
    /// Each page is a search of its own (<see cref="ScanPage"/> hits); memory stays flat. The point in
    /// time is closed at the end, or expires after <see cref="ScanKeepAlive"/>.</summary>
    public IAsyncEnumerable<string>? ScanColumn(TargetSpec target, string column, CancellationToken cancellationToken)
    {
        ValidateTarget(target);
        return ScanColumnPagesAsync(Pattern(target), column, cancellationToken);
    }

    private async IAsyncEnumerable<string> ScanColumnPagesAsync(string pattern, string column, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var source = new SourceConfig(new SourceFilter { Includes = new[] { column } });
        await foreach (var hits in SweepAsync(pattern, source, version: false, "for the ledger's sweep", cancellationToken))
        {
            foreach (var hit in hits)
            {
                if (ColumnText(hit.Source, column) is { } text)
                {
                    yield return text;
                }
            }
        }
    }

    /// <summary>Every document of the indices of <paramref name="pattern"/>, a page of
    /// <see cref="ScanPage"/> hits at a time, under one point in time with <c>search_after</c> on
    /// <c>_shard_doc</c> (see <see cref="ScanColumn"/>), with <paramref name="source"/> and, when
    /// <paramref name="version"/>, each hit's <c>_version</c>.</summary>
    private async IAsyncEnumerable<IReadOnlyCollection<Hit<JsonElement>>> SweepAsync(string pattern, SourceConfig source, bool version, string what, [EnumeratorCancellation] CancellationToken cancellationToken)
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
            // 404: no index of the target exists, so there is nothing to sweep.
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
                    Source = source,
                    Version = version,
                    TrackTotalHits = new TrackHits(false),
                };
                var page = await GatedAsync(
                    ct => _writer.RetryAsync(() => Client.SearchAsync<JsonElement>(request, ct), $"reading \"{pattern}\" {what}", ct),
                    cancellationToken);

                // Each answer may name the point in time anew; the latest id is the one to use.
                pit = page.PitId ?? pit;
                var hits = page.Hits ?? [];
                yield return hits;
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

    /// <summary>Closes the sweep's point in time (https://www.elastic.co/docs/api/doc/elasticsearch/operation/operation-close-point-in-time);
    /// the client does not throw on a failed request, and a point in time left open is freed by its keep-alive a moment later.</summary>
    private Task ClosePointInTimeAsync(string pit) =>
        Client.ClosePointInTimeAsync(new ClosePointInTimeRequest { Id = pit }, CancellationToken.None);
}
