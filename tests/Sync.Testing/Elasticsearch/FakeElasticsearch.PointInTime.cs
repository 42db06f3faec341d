using System.Globalization;
using System.Text.Json.Nodes;

namespace Sync.Testing.Elasticsearch;

/// <summary>Points in time: <c>POST /{index}/_pit</c> opens one, <c>DELETE /_pit</c> closes it, and a
/// <c>_search</c> naming it (see <see cref="Search"/>) reads the view it keeps, pages ordered by
/// <c>_shard_doc</c> and continued with <c>search_after</c>.</summary>
public sealed partial class FakeElasticsearch
{
    private readonly Dictionary<string, PointInTime> _pointsInTime = new(StringComparer.Ordinal);
    private long _nextPointInTime;

    /// <summary>The points in time open now (neither closed nor expired).</summary>
    public int OpenPointsInTime
    {
        get
        {
            lock (_gate)
            {
                var now = Options.Time.GetUtcNow();
                return _pointsInTime.Values.Count(p => p.ExpiresAt > now);
            }
        }
    }

    /// <summary>https://www.elastic.co/docs/api/doc/elasticsearch/operation/operation-open-point-in-time:
    /// <c>keep_alive</c> is required (OpenPointInTimeRequest.validate: "[keep_alive] is not specified");
    /// a missing index is 404 unless <c>ignore_unavailable</c>; the answer is <c>{id, _shards}</c>. The
    /// view is the searchable (refreshed) documents of the resolved indices as they are now: later writes
    /// and refreshes do not change it ("a lightweight view into the state of the data as it existed
    /// when initiated").</summary>
    private Reply OpenPointInTime(string expression, Dictionary<string, string> query)
    {
        if (!query.TryGetValue("keep_alive", out var keepAliveText) || !FakeDurations.TryParse(keepAliveText, out var keepAlive))
        {
            return Error(400, "action_request_validation_exception", "Validation Failed: 1: [keep_alive] is not specified;");
        }

        var indices = Resolve(expression, out var missing);
        if (missing is not null && !Flag(query, "ignore_unavailable"))
        {
            return IndexNotFound(missing);
        }

        var id = Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes("fake-pit-" + (++_nextPointInTime).ToString(CultureInfo.InvariantCulture)));
        var view = indices.DistinctBy(i => i.Name).OrderBy(i => i.Name, StringComparer.Ordinal)
            .Select(i => (i, (IReadOnlyDictionary<string, FakeDoc>)i.Searchable))
            .ToList();
        _pointsInTime[id] = new PointInTime(view, keepAlive, Options.Time.GetUtcNow() + keepAlive);
        return new Reply(200, new JsonObject
        {
            ["id"] = id,
            ["_shards"] = new JsonObject { ["total"] = view.Count, ["successful"] = view.Count, ["skipped"] = 0, ["failed"] = 0 },
        });
    }

    /// <summary>https://www.elastic.co/docs/api/doc/elasticsearch/operation/operation-close-point-in-time:
    /// body <c>{id}</c>; answers 200 <c>{succeeded: true, num_freed}</c>, with 0 freed for a point in time
    /// closed already or expired (ClosePointInTimeResponse.status: OK when succeeded, and nothing failed).</summary>
    private Reply ClosePointInTime(byte[] body)
    {
        var id = (ParseBody(body) as JsonObject)?["id"]?.GetValue<string>();
        if (id is null)
        {
            return Error(400, "action_request_validation_exception", "Validation Failed: 1: [id] is not specified;");
        }

        var freed = _pointsInTime.Remove(id, out var pit) && pit.ExpiresAt > Options.Time.GetUtcNow() ? 1 : 0;
        return new Reply(200, new JsonObject { ["succeeded"] = true, ["num_freed"] = freed });
    }

    /// <summary>The view of the search request's <c>pit</c> (<c>{id, keep_alive}</c>), whose keep-alive it
    /// extends. A search with a point in time must not name indices (SearchRequest.validate: "[indices]
    /// cannot be used with point in time"), and an unknown or expired id is 404
    /// <c>search_context_missing_exception</c>.</summary>
    private bool TryPointInTimeView(string expression, JsonNode pitNode, out List<(FakeIndex Index, IReadOnlyDictionary<string, FakeDoc> Docs)> view, out string id, out Reply? failure)
    {
        view = [];
        failure = null;
        id = (pitNode as JsonObject)?["id"]?.GetValue<string>() ?? string.Empty;
        if (expression != "_all")
        {
            failure = Error(400, "action_request_validation_exception", "Validation Failed: 1: [indices] cannot be used with point in time. Do not specify any index with point in time.;");
            return false;
        }

        var now = Options.Time.GetUtcNow();
        if (!_pointsInTime.TryGetValue(id, out var pit) || pit.ExpiresAt <= now)
        {
            _pointsInTime.Remove(id);
            failure = Error(404, "search_context_missing_exception", $"No search context found for id [{id}]");
            return false;
        }

        var keepAlive = (pitNode as JsonObject)?["keep_alive"]?.GetValue<string>() is { } text && FakeDurations.TryParse(text, out var extended) ? extended : pit.KeepAlive;
        _pointsInTime[id] = pit with { KeepAlive = keepAlive, ExpiresAt = now + keepAlive };
        view = pit.View;
        return true;
    }

    /// <summary>The sort of a search: only <c>_shard_doc</c> (a point in time's tiebreaker: the shard's
    /// position in the point in time in the upper 32 bits, the document's position in the shard below)
    /// is modelled; "asc" by default, as a field sort is. Null when the request has no sort.</summary>
    private static bool? ShardDocAscending(JsonObject request)
    {
        var sort = request["sort"] switch
        {
            null => null,
            JsonArray { Count: 1 } one => one[0],
            JsonArray { Count: 0 } => null,
            var single => single,
        };
        return sort switch
        {
            null => null,
            JsonValue v when v.GetValue<string>() == "_shard_doc" => true,
            JsonObject { Count: 1 } o when o["_shard_doc"] is JsonValue order => order.GetValue<string>() != "desc",
            JsonObject { Count: 1 } o when o["_shard_doc"] is JsonObject options => options["order"]?.GetValue<string>() != "desc",
            _ => throw new FormatException($"sort [{sort.ToJsonString()}] is not modelled by the fake (only _shard_doc)"),
        };
    }

    private sealed record PointInTime(List<(FakeIndex Index, IReadOnlyDictionary<string, FakeDoc> Docs)> View, TimeSpan KeepAlive, DateTimeOffset ExpiresAt)
    {
        /// <summary>Every document of the view in <c>_shard_doc</c> order, with it, worked out at the first
        /// search that pages through the whole view: the view never changes, so the pages of a sweep
        /// over a large index need not order it again each (see <see cref="TryMatch"/>).</summary>
        public Lazy<List<(FakeIndex Index, FakeDoc Doc, long ShardDoc)>> Ordered { get; } = new(() =>
        {
            var ordered = new List<(FakeIndex, FakeDoc, long)>();
            for (var shard = 0; shard < View.Count; shard++)
            {
                var position = 0L;
                foreach (var doc in View[shard].Docs.Values.OrderBy(d => d.SeqNo))
                {
                    ordered.Add((View[shard].Index, doc, ((long)shard << 32) | position++));
                }
            }

            return ordered;
        });
    }
}
