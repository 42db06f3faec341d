using Elastic.Clients.Elasticsearch;
using Elastic.Clients.Elasticsearch.Core.Search;
using Elastic.Clients.Elasticsearch.QueryDsl;
using EsFieldValue = Elastic.Clients.Elasticsearch.FieldValue;
using FieldValue = Sync.Engine.Changes.FieldValue;

namespace Sync.Sinks.Elasticsearch;

/// <summary>Batch erasure: a <c>terms</c> query for many subject values at once.</summary>
public sealed partial class ElasticsearchSink
{
    /// <summary>Hits per search round of an erase, and the most a count attributes from one search
    /// (<c>index.max_result_window</c> defaults to 10,000).</summary>
    private const int ErasePage = 1000;
    private const int MaxCountWindow = 10_000;

    /// <summary>As <see cref="EraseAsync"/> for many values: rounds of a <c>terms</c> query (after a
    /// refresh) and a <c>_bulk</c> of deletes by id with the external version
    /// <see cref="ExternalVersions.Erased"/>, until the search finds none. Each hit's column (read
    /// through source filtering) tells which value it held. When <see cref="SubjectMatches.IsKey"/>, the
    /// target names one index (no template) and its documents are keyed by the column alone (a hit's
    /// <c>_id</c> is its column's text, or the index is empty), every value without a document gets a
    /// delete by id at that version too: Elasticsearch records the tombstone of a missing document all
    /// the same (404 <c>not_found</c>), so that an older or in-flight write of that id conflicts with it
    /// for <c>index.gc_deletes</c>.</summary>
    public async ValueTask<IReadOnlyList<long>> EraseManyAsync(TargetSpec target, SubjectMatches matches, CancellationToken cancellationToken)
    {
        return await PerValueAsync(
            target,
            matches,
            async (pattern, wanted, counts) =>
            {
                var query = Terms(matches.Column, wanted);
                bool? keyedByColumn = null;
                for (var round = 0; round < 1000; round++)
                {
                    await _writer.RefreshAsync(pattern, cancellationToken);
                    var response = await SearchAsync(pattern, query, matches.Column, ErasePage, cancellationToken);
                    var hits = response.Hits?.Where(h => h.Index is not null && h.Id is not null).ToList() ?? [];
                    if (hits.Count == 0)
                    {
                        break;
                    }

                    foreach (var hit in hits)
                    {
                        var text = ColumnText(hit.Source, matches.Column);
                        keyedByColumn = keyedByColumn == true || (text is not null && text == hit.Id);
                        counts[text is not null && wanted.TryGetValue(text, out var first) ? first : wanted.Values.Min()]++;
                    }

                    // A document changed between the search and the delete keeps the count it was found with;
                    // the next round finds what is still there.
                    await _writer.DeleteVersionedAsync([.. hits.Select(h => (h.Index!, h.Id!, ExternalVersions.Erased))], cancellationToken);
                }

                var template = (target.Options as ElasticsearchTargetOptions ?? new ElasticsearchTargetOptions()).IndexTemplate(target.Table);
                if (matches.IsKey && !ElasticsearchTargetOptions.IsTemplate(template) && keyedByColumn != false
                    && await KeyedByColumnAsync(template, matches.Column, keyedByColumn, cancellationToken))
                {
                    var marks = wanted.Where(w => counts[w.Value] == 0).Select(w => (template, w.Key, ExternalVersions.Erased)).ToList();
                    foreach (var chunk in marks.Chunk(ErasePage))
                    {
                        await _writer.DeleteVersionedAsync(chunk, cancellationToken);
                    }
                }
            },
            cancellationToken);
    }

    /// <summary>Erasure markers for the keys without a document (see <see cref="ISink.MarkErasedManyAsync"/>
    /// and <see cref="ElasticsearchWriter.MarkErasedAsync"/>): a realtime <c>_mget</c> and a <c>_bulk</c>
    /// of deletes by id at <see cref="ExternalVersions.Erased"/> per chunk of keys. The marker lasts
    /// <c>index.gc_deletes</c>, as an erase's does. Only for a target naming one index, or an alias of one
    /// (a shadow backfill's); an index template, an alias of several indices or an index that does not
    /// exist (a versioned delete would create it, elastic/elasticsearch#24518, with dynamic mappings)
    /// cannot be marked, and the outcome says why.</summary>
    public async ValueTask<MarkOutcome> MarkErasedManyAsync(TargetSpec target, IReadOnlyList<Row> keys, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(keys);
        ValidateTarget(target);
        return await GatedAsync(
            async _ =>
            {
                var template = (target.Options as ElasticsearchTargetOptions ?? new ElasticsearchTargetOptions()).IndexTemplate(target.Table);
                if (ElasticsearchTargetOptions.IsTemplate(template))
                {
                    return MarkOutcome.UnsupportedBecause($"index \"{template}\" is a template: the index a key's document would go to is known only from its row");
                }

                var (exists, isAlias, indices) = await _writer.ResolveLiveAsync(template, cancellationToken);
                if (!exists)
                {
                    return MarkOutcome.UnsupportedBecause($"index \"{template}\" does not exist: a versioned delete would create it with dynamic mappings");
                }

                if (isAlias && indices.Count != 1)
                {
                    return MarkOutcome.UnsupportedBecause($"\"{template}\" is an alias of {indices.Count} indices: a delete by id needs one");
                }

                var index = indices.Count == 1 ? indices[0] : template;
                var ids = keys.Where(k => k.Count > 0 && !k.Values.Any(v => v.IsNull))
                    .Select(DocumentIds.Of)
                    .OfType<string>()
                    .Where(id => DocumentIds.ByteCount(id) <= DocumentIds.MaxIdBytes)
                    .Distinct(StringComparer.Ordinal)
                    .ToList();
                long written = 0;
                foreach (var chunk in ids.Chunk(ErasePage))
                {
                    written += await _writer.MarkErasedAsync(index, chunk, cancellationToken);
                }

                return new MarkOutcome(written, Supported: true);
            },
            cancellationToken);
    }

    /// <summary>Documents holding each value (after a refresh), counted once, at the first value that
    /// matches them: one <c>_count</c> with a <c>terms</c> query, and only when it finds any, a search
    /// that attributes them (or a <c>_count</c> per value beyond the result window).</summary>
    public async ValueTask<IReadOnlyList<long>> CountManyAsync(TargetSpec target, SubjectMatches matches, CancellationToken cancellationToken)
    {
        return await PerValueAsync(
            target,
            matches,
            async (pattern, wanted, counts) =>
            {
                await _writer.RefreshAsync(pattern, cancellationToken);
                var query = Terms(matches.Column, wanted);
                var total = await CountQueryAsync(pattern, query, cancellationToken);
                if (total == 0)
                {
                    return;
                }

                if (total <= MaxCountWindow)
                {
                    var response = await SearchAsync(pattern, query, matches.Column, (int)total, cancellationToken);
                    foreach (var hit in response.Hits ?? [])
                    {
                        var text = ColumnText(hit.Source, matches.Column);
                        counts[text is not null && wanted.TryGetValue(text, out var first) ? first : wanted.Values.Min()]++;
                    }

                    return;
                }

                foreach (var (text, first) in wanted)
                {
                    counts[first] = await CountQueryAsync(pattern, Term(new SubjectMatch(matches.Column, matches.Values[first])), cancellationToken);
                }
            },
            cancellationToken);
    }

    /// <summary>Whether the index's documents are keyed by the column alone: known from a hit of the
    /// erase, else from any one document (an empty index has no other key to hold). A missing index
    /// gets no markers: a delete with an external version would create it (elastic/elasticsearch#24518),
    /// with dynamic mappings instead of the ones the sink creates.</summary>
    private async Task<bool> KeyedByColumnAsync(string index, string column, bool? known, CancellationToken cancellationToken)
    {
        if (known is { } k)
        {
            return k;
        }

        var exists = await _writer.RetryAsync(
            () => Client.Indices.ExistsAsync(new Elastic.Clients.Elasticsearch.IndexManagement.ExistsRequest(index), cancellationToken),
            $"checking that \"{index}\" exists",
            cancellationToken);
        if (!exists.Exists)
        {
            return false;
        }

        var response = await SearchAsync(index, new MatchAllQuery(), column, 1, cancellationToken);

        var sample = response.Hits?.FirstOrDefault();
        return sample is null || ColumnText(sample.Source, column) == sample.Id;
    }

    private Task<SearchResponse<JsonElement>> SearchAsync(string pattern, Query query, string column, int size, CancellationToken cancellationToken) =>
        _writer.RetryAsync(
            () => Client.SearchAsync<JsonElement>(new SearchRequest(pattern)
            {
                Query = query,
                Size = size,
                Source = new SourceConfig(new SourceFilter { Includes = new[] { column } }),
                IgnoreUnavailable = true,
                AllowNoIndices = true,
            }, cancellationToken),
            $"searching \"{pattern}\" for the subjects",
            cancellationToken);

    private async Task<long> CountQueryAsync(string pattern, Query query, CancellationToken cancellationToken)
    {
        var response = await _writer.RetryAsync(
            () => Client.CountAsync(new CountRequest(pattern) { Query = query, IgnoreUnavailable = true, AllowNoIndices = true }, cancellationToken),
            $"counting in \"{pattern}\"",
            cancellationToken);
        return response.ApiCallDetails.HttpStatusCode == 404 ? 0 : response.Count;
    }

    /// <inheritdoc/>
    public async ValueTask<IReadOnlyList<string?>> CannotMatchAsync(TargetSpec target, SubjectMatches matches, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(matches);
        ValidateTarget(target);
        return await GatedAsync<IReadOnlyList<string?>>(
            async _ =>
            {
                var types = await _writer.FieldTypesAsync(Pattern(target), matches.Column, cancellationToken);
                return [.. matches.Values.Select(v => CannotMatch(v, types.Values))];
            },
            cancellationToken);
    }

    /// <summary>A count per value, gated like every call of this sink: the work fills the counts only for
    /// the values that can match a document of the target (see <see cref="MatchableAsync"/>); with none,
    /// every count is 0 and Elasticsearch is not asked.</summary>
    private async ValueTask<IReadOnlyList<long>> PerValueAsync(
        TargetSpec target,
        SubjectMatches matches,
        Func<string, Dictionary<string, int>, long[], Task> work,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(matches);
        ValidateTarget(target);
        return await GatedAsync(
            async _ =>
            {
                var counts = new long[matches.Values.Count];
                var pattern = Pattern(target);
                var wanted = await MatchableAsync(pattern, matches, cancellationToken);
                if (wanted.Count > 0)
                {
                    await work(pattern, wanted, counts);
                }

                return counts;
            },
            cancellationToken);
    }

    /// <summary><see cref="Wanted"/> without the values that cannot match the column's mapped type in
    /// the target's indices (<see cref="CannotMatch"/>): Elasticsearch cannot build a <c>term</c>/<c>terms</c>
    /// query with such a value and fails the whole request with 400 (query_shard_exception "failed to
    /// create query" caused by number_format_exception "For input string", elastic/elasticsearch#16638),
    /// so one malformed key would fail every other subject of the chunk.</summary>
    private async Task<Dictionary<string, int>> MatchableAsync(string pattern, SubjectMatches matches, CancellationToken cancellationToken)
    {
        var wanted = Wanted(matches);
        if (wanted.Count == 0)
        {
            return wanted;
        }

        var types = await _writer.FieldTypesAsync(pattern, matches.Column, cancellationToken);
        foreach (var (text, first) in wanted.ToList())
        {
            if (CannotMatch(matches.Values[first], types.Values) is not null)
            {
                wanted.Remove(text);
            }
        }

        return wanted;
    }

    /// <summary>"cannot match (type)" when a field of one of these mapped types cannot hold the value
    /// (Elasticsearch refuses it in a <c>term</c> query: numbers parse with <c>Double.parseDouble</c>/
    /// <c>Numbers.toLong</c>, booleans are only <c>true</c>/<c>false</c>, dates must parse as a date or
    /// epoch), else null.</summary>
    internal static string? CannotMatch(FieldValue value, IEnumerable<string> types)
    {
        if (value.IsNull || value.ToText() is not { } text)
        {
            return null;
        }

        foreach (var type in types.Distinct(StringComparer.Ordinal))
        {
            var fits = type switch
            {
                "long" or "integer" or "short" or "byte" or "unsigned_long" or "double" or "float" or "half_float" or "scaled_float" =>
                    value.Kind is ValueKind.Int64 or ValueKind.Double
                    || double.TryParse(text, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out _),
                "boolean" => value.Kind == ValueKind.Boolean || text is "true" or "false",
                "date" or "date_nanos" => long.TryParse(text, System.Globalization.NumberStyles.AllowLeadingSign, System.Globalization.CultureInfo.InvariantCulture, out _)
                    || (text.Length >= 10 && char.IsAsciiDigit(text[0])
                        && DateTimeOffset.TryParse(text, System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.AssumeUniversal, out _)),
                _ => true,
            };
            if (!fits)
            {
                return $"cannot match ({type})";
            }
        }

        return null;
    }

    /// <summary>The values by canonical text (as documents hold them), each with its first index; NULLs match nothing.</summary>
    private static Dictionary<string, int> Wanted(SubjectMatches matches)
    {
        var wanted = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < matches.Values.Count; i++)
        {
            if (!matches.Values[i].IsNull && matches.Values[i].ToText() is { } text)
            {
                wanted.TryAdd(text, i);
            }
        }

        return wanted;
    }

    /// <summary>A <c>terms</c> query (https://www.elastic.co/docs/reference/query-languages/query-dsl/query-dsl-terms-query:
    /// documents holding one or more of the exact terms) with each value as <see cref="Term"/> would send it.</summary>
    private static TermsQuery Terms(string column, Dictionary<string, int> wanted) => new()
    {
        Field = column,
        Terms = new TermsQueryField([.. wanted.Keys.Select(text => TermValue(text))]),
    };

    /// <summary>Integers as JSON numbers (so that numeric fields match exactly), everything else as text.</summary>
    private static EsFieldValue TermValue(string text) =>
        long.TryParse(text, System.Globalization.NumberStyles.AllowLeadingSign, System.Globalization.CultureInfo.InvariantCulture, out var n)
            && n.ToString(System.Globalization.CultureInfo.InvariantCulture) == text
            ? EsFieldValue.Long(n)
            : EsFieldValue.String(text);

    /// <summary>The column of a hit's filtered source as canonical text.</summary>
    private static string? ColumnText(JsonElement source, string column)
    {
        if (source.ValueKind != JsonValueKind.Object)
        {
            return null;
        }

        var node = source;
        foreach (var part in column.Split('.'))
        {
            if (node.ValueKind != JsonValueKind.Object || !node.TryGetProperty(part, out node))
            {
                return null;
            }
        }

        return node.ValueKind switch
        {
            JsonValueKind.String => node.GetString(),
            JsonValueKind.True => "true",
            JsonValueKind.False => "false",
            JsonValueKind.Null or JsonValueKind.Undefined => null,
            _ => node.GetRawText(),
        };
    }
}
