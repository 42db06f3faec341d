using System.Text.Json;
using System.Text.Json.Nodes;

namespace Sync.Testing.Elasticsearch;

/// <summary>_search, _count and _delete_by_query over the searchable (refreshed) view, with the queries
/// sync uses: match_all, match_none, term, terms, ids, exists and bool (must, filter, should, must_not).</summary>
public sealed partial class FakeElasticsearch
{
    /// <summary>https://www.elastic.co/docs/api/doc/elasticsearch/operation/operation-search: sees what the
    /// last refresh published. <c>size</c> (default 10) and <c>from</c>, in the body or the query string;
    /// <c>_source</c> filtering by paths (<see cref="SourceIncludes"/>); <c>version: true</c> adds <c>_version</c>, <c>seq_no_primary_term: true</c> adds <c>_seq_no</c> and
    /// <c>_primary_term</c>. <c>hits.total</c> is exact up to 10,000 (<c>track_total_hits</c> default),
    /// then <c>gte</c>. Hits come in index order, then write order; every score is 1.0. With <c>pit</c>
    /// (FakeElasticsearch.PointInTime.cs) the search reads the point in time's view instead, and with
    /// <c>sort: [{_shard_doc: asc|desc}]</c> and <c>search_after</c> it pages through it.</summary>
    /// <summary><c>index.max_result_window</c>'s default.</summary>
    internal const int MaxResultWindow = 10_000;

    /// <summary>A request the shards refuse: 400 <c>search_phase_execution_exception</c> "all shards
    /// failed" with the cause as root cause, the shape the server gives a query-phase failure.</summary>
    private static Reply SearchFailure(string type, string reason) => new(400, new JsonObject
    {
        ["error"] = new JsonObject
        {
            ["root_cause"] = new JsonArray(new JsonObject { ["type"] = type, ["reason"] = reason }),
            ["type"] = "search_phase_execution_exception",
            ["reason"] = "all shards failed",
            ["phase"] = "query",
            ["grouped"] = true,
            ["caused_by"] = new JsonObject { ["type"] = type, ["reason"] = reason },
        },
        ["status"] = 400,
    });

    private Reply Search(string expression, Dictionary<string, string> query, byte[] body)
    {
        if (!TryMatch(expression, query, body, out var request, out var matches, out var failure, out var pitId))
        {
            return failure!;
        }

        // https://www.elastic.co/docs/reference/elasticsearch/rest-apis/paginate-search-results#search-after:
        // a sorted search returns each hit's sort values (and no score), and search_after carries the
        // last hit's values to the next page, which starts after them.
        bool? ascending;
        try
        {
            ascending = ShardDocAscending(request);
        }
        catch (FormatException e)
        {
            return Error(400, "parsing_exception", e.Message);
        }

        if (ascending is { } up)
        {
            matches = [.. up ? matches.OrderBy(m => m.ShardDoc) : matches.OrderByDescending(m => m.ShardDoc)];
            if (request["search_after"] is JsonArray { Count: 1 } after && after[0] is JsonValue afterValue)
            {
                var last = afterValue.GetValue<long>();
                matches = [.. matches.Where(m => up ? m.ShardDoc > last : m.ShardDoc < last)];
            }
        }

        var size = request["size"]?.GetValue<int>() ?? (query.TryGetValue("size", out var s) ? int.Parse(s, System.Globalization.CultureInfo.InvariantCulture) : 10);
        var from = request["from"]?.GetValue<int>() ?? (query.TryGetValue("from", out var f) ? int.Parse(f, System.Globalization.CultureInfo.InvariantCulture) : 0);
        // rest-api-spec/src/yamlRestTest/resources/rest-api-spec/test/search/30_limits.yml lines 20-26
        // ("Request window limits without scroll": from + size above index.max_result_window, 10,000 by
        // default, is refused) and 28-34 (a negative from is refused).
        if (from < 0)
        {
            return SearchFailure("illegal_argument_exception", "[from] parameter cannot be negative but was [" + from.ToString(System.Globalization.CultureInfo.InvariantCulture) + "]");
        }

        if ((long)from + size > MaxResultWindow)
        {
            return SearchFailure("illegal_argument_exception",
                $"Result window is too large, from + size must be less than or equal to: [{MaxResultWindow}] but was [{(long)from + size}]. See the scroll api for a more efficient way to request large data sets. This limit can be set by changing the [index.max_result_window] index level setting.");
        }

        var withVersion = request["version"]?.GetValue<bool>() == true || Flag(query, "version");
        var withSeqNo = request["seq_no_primary_term"]?.GetValue<bool>() == true || Flag(query, "seq_no_primary_term");
        var withSource = request["_source"] is not JsonValue sourceFlag || sourceFlag.GetValueKind() != JsonValueKind.False;
        var hits = new JsonArray();
        foreach (var (index, doc, shardDoc) in matches.Skip(from).Take(size))
        {
            var hit = new JsonObject { ["_index"] = index.Name, ["_id"] = doc.Id, ["_score"] = ascending is null ? 1.0 : null };
            if (withVersion)
            {
                hit["_version"] = doc.Version;
            }

            if (withSeqNo)
            {
                hit["_seq_no"] = doc.SeqNo;
                hit["_primary_term"] = 1;
            }

            if (withSource)
            {
                hit["_source"] = FilterSource(JsonNode.Parse(doc.Source!), SourceIncludes(request["_source"]));
            }

            if (ascending is not null)
            {
                hit["sort"] = new JsonArray(shardDoc);
            }

            hits.Add(hit);
        }

        var answer = new JsonObject
        {
            ["took"] = 1,
            ["timed_out"] = false,
            ["_shards"] = new JsonObject { ["total"] = 1, ["successful"] = 1, ["skipped"] = 0, ["failed"] = 0 },
            ["hits"] = new JsonObject
            {
                ["total"] = new JsonObject { ["value"] = Math.Min(matches.Count, 10_000), ["relation"] = matches.Count > 10_000 ? "gte" : "eq" },
                ["max_score"] = matches.Count > 0 && ascending is null ? 1.0 : null,
                ["hits"] = hits,
            },
        };
        if (pitId is not null)
        {
            answer["pit_id"] = pitId;
        }

        return new Reply(200, answer);
    }

    /// <summary>The field paths of source filtering
    /// (https://www.elastic.co/docs/reference/elasticsearch/rest-apis/retrieve-selected-fields#source-filtering):
    /// <c>_source</c> as a path, an array of paths, or <c>{includes: [...]}</c>; null keeps the whole source.
    /// Wildcard paths and <c>excludes</c> are not modelled (the whole source is kept).</summary>
    private static List<string>? SourceIncludes(JsonNode? source)
    {
        var includes = source switch
        {
            JsonValue v when v.GetValueKind() == JsonValueKind.String => new JsonArray(v.GetValue<string>()),
            JsonArray a => a,
            JsonObject o when o["excludes"] is null => o["includes"] as JsonArray,
            _ => null,
        };
        var paths = includes?.Select(p => p?.GetValue<string>()).OfType<string>().ToList();
        return paths is null || paths.Count == 0 || paths.Any(p => p.Contains('*', StringComparison.Ordinal)) ? null : paths;
    }

    /// <summary>The source with only the included paths (an object keeps the parents of an included leaf).</summary>
    private static JsonNode? FilterSource(JsonNode? source, List<string>? includes)
    {
        if (includes is null || source is not JsonObject root)
        {
            return source;
        }

        var filtered = new JsonObject();
        foreach (var path in includes)
        {
            // A field sent under a dotted name is kept as sent when its path is included.
            if (root[path] is { } direct)
            {
                filtered[path] = direct.DeepClone();
                continue;
            }

            var parts = path.Split('.');
            JsonNode? from = root;
            var to = filtered;
            for (var i = 0; i < parts.Length && from is JsonObject o && o[parts[i]] is { } next; i++)
            {
                if (i == parts.Length - 1)
                {
                    to[parts[i]] = next.DeepClone();
                }
                else
                {
                    to = to[parts[i]] as JsonObject ?? (JsonObject)(to[parts[i]] = new JsonObject());
                }

                from = next;
            }
        }

        return filtered;
    }

    /// <summary>https://www.elastic.co/docs/api/doc/elasticsearch/operation/operation-count: <c>{count, _shards}</c>, over the refreshed view.</summary>
    private Reply Count(string expression, Dictionary<string, string> query, byte[] body)
    {
        if (!TryMatch(expression, query, body, out _, out var matches, out var failure, out _))
        {
            return failure!;
        }

        return new Reply(200, new JsonObject
        {
            ["count"] = matches.Count,
            ["_shards"] = new JsonObject { ["total"] = 1, ["successful"] = 1, ["skipped"] = 0, ["failed"] = 0 },
        });
    }

    /// <summary>https://www.elastic.co/docs/api/doc/elasticsearch/operation/operation-delete-by-query: takes
    /// a snapshot of the matching documents as search sees them (refreshed view), then deletes each with
    /// internal versioning guarded by its sequence number — the tombstone gets version + 1. A document
    /// changed since the snapshot is a version conflict: counted and skipped with <c>conflicts=proceed</c>,
    /// else the request stops with 409 and the conflict in <c>failures</c>. <c>refresh=true</c> refreshes afterwards.</summary>
    private Reply DeleteByQuery(string expression, Dictionary<string, string> query, byte[] body)
    {
        if (!TryMatch(expression, query, body, out _, out var matches, out var failure, out _))
        {
            return failure!;
        }

        var proceed = query.GetValueOrDefault("conflicts") == "proceed";
        long deleted = 0, conflicts = 0;
        var failures = new JsonArray();
        var touched = new HashSet<FakeIndex>();
        foreach (var (index, doc, _) in matches)
        {
            var (status, item) = Execute(index, new WriteAction("delete", index.Name, doc.Id, null, null, doc.SeqNo), null, null);
            touched.Add(index);
            if (status == 200)
            {
                deleted++;
                continue;
            }

            conflicts++;
            if (!proceed)
            {
                failures.Add(new JsonObject { ["index"] = index.Name, ["id"] = doc.Id, ["cause"] = item["error"]!.DeepClone(), ["status"] = 409 });
                break;
            }
        }

        AfterWrite(touched, query, null);
        return new Reply(failures.Count > 0 ? 409 : 200, new JsonObject
        {
            ["took"] = 1,
            ["timed_out"] = false,
            ["total"] = matches.Count,
            ["deleted"] = deleted,
            ["batches"] = 1,
            ["version_conflicts"] = conflicts,
            ["noops"] = 0,
            ["retries"] = new JsonObject { ["bulk"] = 0, ["search"] = 0 },
            ["throttled_millis"] = 0,
            ["requests_per_second"] = -1.0,
            ["throttled_until_millis"] = 0,
            ["failures"] = failures,
        });
    }

    /// <summary>The documents the request's query matches, in index order then write order, each with its
    /// <c>_shard_doc</c> (see <see cref="ShardDocAscending"/>): over the searchable view of the indices the
    /// expression names, or over the view of the point in time the body names (<c>pit</c>, whose id
    /// comes back in <paramref name="pitId"/>).</summary>
    private bool TryMatch(string expression, Dictionary<string, string> query, byte[] body, out JsonObject request, out List<(FakeIndex Index, FakeDoc Doc, long ShardDoc)> matches, out Reply? failure, out string? pitId)
    {
        matches = [];
        failure = null;
        pitId = null;
        try
        {
            request = ParseBody(body) as JsonObject ?? [];
        }
        catch (JsonException e)
        {
            request = [];
            failure = Error(400, "parsing_exception", "request body is not valid JSON: " + e.Message);
            return false;
        }

        List<(FakeIndex Index, IReadOnlyDictionary<string, FakeDoc> Docs)> view;
        if (request["pit"] is { } pit)
        {
            if (!TryPointInTimeView(expression, pit, out view, out var id, out failure))
            {
                return false;
            }

            pitId = id;
            if (request["query"] is null && WholeViewPage(request, _pointsInTime[id]) is { } page)
            {
                matches = page;
                return true;
            }
        }
        else
        {
            var indices = Resolve(expression, out var missing);
            if (missing is not null && !Flag(query, "ignore_unavailable"))
            {
                failure = IndexNotFound(missing);
                return false;
            }

            view = [.. indices.OrderBy(i => i.Name, StringComparer.Ordinal).Select(i => (i, (IReadOnlyDictionary<string, FakeDoc>)i.Searchable))];
        }

        var q = request["query"] as JsonObject;
        try
        {
            for (var shard = 0; shard < view.Count; shard++)
            {
                var (index, docs) = view[shard];
                if (UnbuildableTerm(q, index) is { } unbuildable)
                {
                    failure = QueryShardFailure(index.Name, unbuildable.CauseType, unbuildable.Reason);
                    return false;
                }

                var position = 0L;
                foreach (var doc in docs.Values.OrderBy(d => d.SeqNo))
                {
                    if (Matches(q, index, doc))
                    {
                        matches.Add((index, doc, ((long)shard << 32) | position));
                    }

                    position++;
                }
            }
        }
        catch (FormatException e)
        {
            failure = Error(400, "parsing_exception", e.Message);
            return false;
        }

        return true;
    }

    /// <summary>For a search of every document of a point in time in ascending <c>_shard_doc</c> order
    /// (a sweep's page): the documents after <c>search_after</c>, found by binary search in the view's
    /// order, up to one more than any page may hold (from + size is at most
    /// <see cref="MaxResultWindow"/>), so that the hits and their total read as when every document is
    /// matched and filtered; null for any other search, which goes the general way.</summary>
    private static List<(FakeIndex Index, FakeDoc Doc, long ShardDoc)>? WholeViewPage(JsonObject request, PointInTime pit)
    {
        try
        {
            if (ShardDocAscending(request) != true)
            {
                return null;
            }
        }
        catch (FormatException)
        {
            return null;
        }

        var ordered = pit.Ordered.Value;
        var start = 0;
        if (request["search_after"] is JsonArray { Count: 1 } after && after[0] is JsonValue afterValue)
        {
            var last = afterValue.GetValue<long>();
            var (low, high) = (0, ordered.Count);
            while (low < high)
            {
                var middle = (low + high) / 2;
                (low, high) = ordered[middle].ShardDoc > last ? (low, middle) : (middle + 1, high);
            }

            start = low;
        }

        return ordered.GetRange(start, Math.Min(ordered.Count - start, MaxResultWindow + 1));
    }

    /// <summary>A <c>term</c>/<c>terms</c> value (anywhere in the query, <c>bool</c> clauses included) that
    /// the field's mapped type cannot parse: the shard cannot build the query, whether the index holds
    /// documents or not. Elasticsearch builds a term query through the field type's <c>termQuery</c>
    /// (NumberFieldMapper: <c>Numbers.toLong</c> / <c>Double.parseDouble</c>, "For input string: \"x\"";
    /// BooleanFieldMapper: <c>Booleans.parseBoolean</c>, "only [true] or [false] are allowed";
    /// DateFieldMapper: "failed to parse date field"), and a failure is a 400 <c>query_shard_exception</c>
    /// "failed to create query" caused by it, under <c>search_phase_execution_exception</c> "all shards
    /// failed" (error bodies quoted in elastic/elasticsearch#16638 and Smile-SA/elasticsuite#1034).
    /// A value with a decimal part on an integer field, or a field the index does not map, matches nothing (200).</summary>
    private static (string CauseType, string Reason)? UnbuildableTerm(JsonObject? query, FakeIndex index)
    {
        if (query is null || query.Count != 1)
        {
            return null;
        }

        var (type, node) = query.First();
        var body = node as JsonObject;
        if (type == "bool")
        {
            foreach (var clause in new[] { "must", "filter", "should", "must_not" }.SelectMany(c => Clauses(body, c)))
            {
                if (UnbuildableTerm(clause, index) is { } inner)
                {
                    return inner;
                }
            }

            return null;
        }

        if (type is not ("term" or "terms"))
        {
            return null;
        }

        var field = body?.FirstOrDefault(p => p.Key is not ("boost" or "_name" or "case_insensitive"));
        if (field?.Key is not { } name || name == "_id")
        {
            return null;
        }

        var (mapping, _) = FakeMapping.FieldOf(index.Mappings, name);
        var fieldType = mapping?["type"]?.GetValue<string>();
        List<JsonNode?> values = type == "terms"
            ? [.. field.Value.Value as JsonArray ?? new JsonArray()]
            : [field.Value.Value is JsonObject withValue ? withValue["value"] : field.Value.Value];
        foreach (var value in values)
        {
            if (value is not JsonValue)
            {
                continue;
            }

            var term = value.GetValue<JsonElement>();
            var text = term.ValueKind == JsonValueKind.String ? term.GetString()! : term.GetRawText();
            switch (fieldType)
            {
                case "long" or "integer" or "short" or "byte" or "unsigned_long" or "double" or "float" or "half_float" or "scaled_float":
                    if (!double.TryParse(text, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out _))
                    {
                        return ("number_format_exception", $"For input string: \"{text}\"");
                    }

                    break;
                case "boolean":
                    if (text is not ("true" or "false" or ""))
                    {
                        return ("illegal_argument_exception", $"Failed to parse value [{text}] as only [true] or [false] are allowed.");
                    }

                    break;
                case "date" or "date_nanos":
                    var formats = mapping!["format"]?.GetValue<string>() ?? "strict_date_optional_time||epoch_millis";
                    if (!FakeMapping.DateMatches(term, formats))
                    {
                        return ("parse_exception", $"failed to parse date field [{text}] with format [{formats}]");
                    }

                    break;
            }
        }

        return null;
    }

    private static Reply QueryShardFailure(string index, string causeType, string causeReason)
    {
        var reason = "failed to create query: " + causeReason;
        var shardCause = ErrorCause("query_shard_exception", reason, index, causedBy: new JsonObject { ["type"] = causeType, ["reason"] = causeReason });
        var root = ErrorCause("query_shard_exception", reason, index);
        return new Reply(400, new JsonObject
        {
            ["error"] = new JsonObject
            {
                ["root_cause"] = new JsonArray(root),
                ["type"] = "search_phase_execution_exception",
                ["reason"] = "all shards failed",
                ["phase"] = "query",
                ["grouped"] = true,
                ["failed_shards"] = new JsonArray(new JsonObject
                {
                    ["shard"] = 0,
                    ["index"] = index,
                    ["node"] = "fake-node",
                    ["reason"] = shardCause,
                }),
                ["caused_by"] = new JsonObject { ["type"] = causeType, ["reason"] = causeReason },
            },
            ["status"] = 400,
        });
    }

    private static bool Matches(JsonObject? query, FakeIndex index, FakeDoc doc)
    {
        if (query is null || query.Count == 0)
        {
            return true;
        }

        if (query.Count != 1)
        {
            throw new FormatException($"[{string.Join(", ", query.Select(p => p.Key))}] malformed query, expected [END_OBJECT] but found [FIELD_NAME]");
        }

        var (type, node) = query.First();
        var body = node as JsonObject;
        switch (type)
        {
            case "match_all":
                return true;
            case "match_none":
                return false;
            case "ids":
                return body?["values"] is JsonArray ids && ids.Any(v => v?.GetValue<string>() == doc.Id);
            case "term":
            case "terms":
            {
                var field = body?.FirstOrDefault(p => p.Key is not ("boost" or "_name" or "case_insensitive"));
                if (field?.Key is not { } name)
                {
                    throw new FormatException($"[{type}] query requires a field");
                }

                IEnumerable<JsonNode?> values = type == "terms"
                    ? (field.Value.Value as JsonArray ?? throw new FormatException("[terms] query requires an array of values")).ToList()
                    : new List<JsonNode?> { field.Value.Value is JsonObject withValue ? withValue["value"] : field.Value.Value };
                if (name == "_id")
                {
                    return values.Any(value => TermOf(value) is { ValueKind: JsonValueKind.String } id && id.GetString() == doc.Id);
                }

                // The document's field is read once, whatever the number of terms (an erase asks for
                // hundreds at once); a terms query over a keyword or numeric field is a set lookup.
                var (mapping, path) = FakeMapping.FieldOf(index.Mappings, name);
                var stored = ValueAt(doc, path);
                if (type == "terms" && FakeMapping.TermSetMatches(mapping, stored, TermSets.GetValue((JsonArray)field.Value.Value!, TermSet.Of)) is { } quick)
                {
                    return quick;
                }

                return values.Any(value => FakeMapping.TermMatches(mapping, stored, TermOf(value)));
            }

            case "exists":
            {
                var name = body?["field"]?.GetValue<string>() ?? throw new FormatException("[exists] query requires a field");
                var (_, path) = FakeMapping.FieldOf(index.Mappings, name);
                return ValueAt(doc, path) is not null;
            }

            case "bool":
            {
                var must = Clauses(body, "must").Concat(Clauses(body, "filter")).ToList();
                var should = Clauses(body, "should").ToList();
                var mustNot = Clauses(body, "must_not");
                return must.All(c => Matches(c, index, doc))
                    && (should.Count == 0 || must.Count > 0 || should.Any(c => Matches(c, index, doc)))
                    && !mustNot.Any(c => Matches(c, index, doc));
            }

            default:
                throw new FormatException($"unknown query [{type}]");
        }
    }

    private static IEnumerable<JsonObject> Clauses(JsonObject? body, string name) => body?[name] switch
    {
        JsonObject single => [single],
        JsonArray many => many.OfType<JsonObject>(),
        _ => [],
    };

    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<JsonArray, TermSet> TermSets = [];

    private static JsonElement TermOf(JsonNode? value) =>
        value is null ? throw new FormatException("[term] query does not support null values") : value.GetValue<JsonElement>();

    /// <summary>The value at a dotted path, whether the source holds it nested ({"a":{"b":1}}) or under
    /// a dotted name ({"a.b":1}): the server maps both as the object path a.b (see FakeMapping.Apply).</summary>
    private static JsonNode? ValueAt(FakeDoc doc, string path) => ValueAt(doc.Parsed, path.Split('.'), 0);

    private static JsonNode? ValueAt(JsonNode? node, string[] parts, int start)
    {
        if (start == parts.Length)
        {
            return node;
        }

        if (node is not JsonObject o)
        {
            return null;
        }

        for (var end = start + 1; end <= parts.Length; end++)
        {
            if (o[string.Join('.', parts[start..end])] is { } next && ValueAt(next, parts, end) is { } found)
            {
                return found;
            }
        }

        return null;
    }
}
