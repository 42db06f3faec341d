using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace Sync.Testing.Elasticsearch;

/// <summary>Index APIs: create (settings, mappings, aliases), exists, get, delete, mappings, aliases, refresh.</summary>
public sealed partial class FakeElasticsearch
{
    /// <summary>PUT /{index} — https://www.elastic.co/docs/api/doc/elasticsearch/operation/operation-indices-create.
    /// The name must be valid (lower case; none of <c>\ / * ? " &lt; &gt; | , #</c> or space; not starting with
    /// <c>- _ +</c>; not <c>.</c> or <c>..</c>; at most 255 bytes), else 400 <c>invalid_index_name_exception</c>;
    /// an existing name is 400 <c>resource_already_exists_exception</c>. The body may hold <c>settings</c>
    /// (flat or nested), <c>mappings</c> and <c>aliases</c>. Answers <c>{acknowledged, shards_acknowledged, index}</c>.</summary>
    private Reply CreateIndex(string name, byte[] body)
    {
        if (InvalidIndexName(name) is { } problem)
        {
            return Error(400, "invalid_index_name_exception", $"Invalid index name [{name}], {problem}", name);
        }

        if (_indices.ContainsKey(name))
        {
            return Error(400, "resource_already_exists_exception", $"index [{name}/{FakeIndex.UuidOf(name)}] already exists", name);
        }

        if (IsAlias(name))
        {
            // MetadataCreateIndexService.validateIndexName: an index cannot take an alias's name.
            return Error(400, "invalid_index_name_exception", $"Invalid index name [{name}], already exists as alias", name);
        }

        var request = ParseBody(body) as JsonObject ?? [];
        var index = new FakeIndex(name, Options.Time);
        if (request["settings"] is JsonObject settings)
        {
            var named = new Dictionary<string, string?>(StringComparer.Ordinal);
            FlattenNullable(settings, string.Empty, named);
            foreach (var (key, value) in named.Where(s => s.Value is not null))
            {
                index.Settings[key] = value!;
            }
        }

        AddCreatedSettings(index);

        if (request["mappings"] is JsonObject mappings)
        {
            if (FakeMapping.Validate(mappings) is { } mappingProblem)
            {
                return Error(400, "mapper_parsing_exception", "Failed to parse mapping: " + mappingProblem, name);
            }

            index.Mappings = (JsonObject)mappings.DeepClone();
            index.Mappings["properties"] = FakeMapping.ExpandProperties(index.Mappings["properties"] as JsonObject ?? []);
        }

        if (request["aliases"] is JsonObject aliases)
        {
            foreach (var (alias, _) in aliases)
            {
                if (_indices.ContainsKey(alias))
                {
                    return Error(400, "invalid_alias_name_exception", $"Invalid alias name [{alias}]: an index or data stream exists with the same name as the alias", name);
                }

                index.Aliases.Add(alias);
            }
        }

        _indices[name] = index;
        return new Reply(200, new JsonObject { ["acknowledged"] = true, ["shards_acknowledged"] = true, ["index"] = name });
    }

    /// <summary>HEAD /{index} — 200 when the index (or an alias) exists, else 404 without a body.</summary>
    private Reply IndexExists(string name) => new(Resolve(name, out _).Count > 0 ? 200 : 404, null);

    /// <summary>GET /{index} — <c>{name: {aliases, mappings, settings}}</c> per concrete index.</summary>
    private Reply GetIndex(string name)
    {
        var indices = Resolve(name, out var missing);
        if (missing is not null)
        {
            return IndexNotFound(missing);
        }

        var result = new JsonObject();
        foreach (var index in indices)
        {
            var aliases = new JsonObject();
            foreach (var alias in index.Aliases)
            {
                aliases[alias] = new JsonObject();
            }

            var settings = new JsonObject();
            foreach (var (key, value) in index.Settings)
            {
                settings[key] = value;
            }

            result[index.Name] = new JsonObject { ["aliases"] = aliases, ["mappings"] = index.Mappings.DeepClone(), ["settings"] = settings };
        }

        return new Reply(200, result);
    }

    /// <summary>DELETE /{index} — concrete names only: an alias is 400 <c>illegal_argument_exception</c>
    /// and nothing is deleted (rest-api-spec/src/yamlRestTest/resources/rest-api-spec/test/indices.delete/
    /// 10_basic.yml lines 12-21, "Delete index against alias"; the message is the one of
    /// server/src/main/java/org/elasticsearch/cluster/metadata/IndexNameExpressionResolver.java for an
    /// expression that matches an alias where aliases are not allowed); a missing name is 404.</summary>
    private Reply DeleteIndex(string name)
    {
        if (!_indices.ContainsKey(name) && IsAlias(name))
        {
            return Error(400, "illegal_argument_exception", $"The provided expression [{name}] matches an alias, specify the corresponding concrete indices instead.");
        }

        if (!_indices.Remove(name))
        {
            return IndexNotFound(name);
        }

        return new Reply(200, new JsonObject { ["acknowledged"] = true });
    }

    /// <summary>PUT /{index}/_mapping — adds fields; a field cannot change type
    /// (400 <c>illegal_argument_exception</c> "mapper [x] cannot be changed from type [a] to [b]").</summary>
    private Reply PutMapping(string name, byte[] body)
    {
        var indices = Resolve(name, out var missing);
        if (missing is not null)
        {
            return IndexNotFound(missing);
        }

        var request = ParseBody(body) as JsonObject ?? [];
        if (FakeMapping.Validate(request) is { } mappingProblem)
        {
            return Error(400, "mapper_parsing_exception", "Failed to parse mapping: " + mappingProblem);
        }

        foreach (var index in indices)
        {
            if (FakeMapping.Merge(index.Mappings, request) is { } conflict)
            {
                return Error(400, "illegal_argument_exception", conflict, index.Name);
            }
        }

        return new Reply(200, new JsonObject { ["acknowledged"] = true });
    }

    /// <summary>GET /{index}/_mapping — <c>{name: {mappings: {…}}}</c>.</summary>
    private Reply GetMapping(string name)
    {
        var indices = Resolve(name, out var missing);
        if (missing is not null)
        {
            return IndexNotFound(missing);
        }

        var result = new JsonObject();
        foreach (var index in indices)
        {
            result[index.Name] = new JsonObject { ["mappings"] = index.Mappings.DeepClone() };
        }

        return new Reply(200, result);
    }

    /// <summary>PUT /{index}/_alias/{name}.</summary>
    private Reply PutAlias(string index, string alias)
    {
        if (!_indices.TryGetValue(index, out var target))
        {
            return IndexNotFound(index);
        }

        target.Aliases.Add(alias);
        return new Reply(200, new JsonObject { ["acknowledged"] = true });
    }

    /// <summary>POST /{index}/_refresh — https://www.elastic.co/docs/api/doc/elasticsearch/operation/operation-indices-refresh:
    /// makes every operation so far visible to search. Answers <c>{_shards}</c>.</summary>
    private Reply Refresh(string name, Dictionary<string, string> query)
    {
        var indices = Resolve(name, out var missing);
        if (missing is not null && !Flag(query, "ignore_unavailable"))
        {
            return IndexNotFound(missing);
        }

        foreach (var index in indices)
        {
            index.Refresh();
        }

        return new Reply(200, new JsonObject { ["_shards"] = Shards(indices.Count) });
    }

    /// <summary>The concrete indices an expression names: <c>_all</c>, <c>*</c>, comma lists, wildcards
    /// (<c>users-*</c>) and aliases. A concrete name or alias that does not exist is returned in
    /// <paramref name="missing"/> (a wildcard that matches nothing is not an error: allow_no_indices).</summary>
    private List<FakeIndex> Resolve(string expression, out string? missing)
    {
        missing = null;
        var result = new List<FakeIndex>();
        foreach (var part in expression.Split(',', StringSplitOptions.RemoveEmptyEntries))
        {
            if (part is "_all" or "*")
            {
                result.AddRange(_indices.Values.Where(i => !i.Name.StartsWith('.')));
                continue;
            }

            if (part.Contains('*', StringComparison.Ordinal))
            {
                var regex = new Regex("^" + Regex.Escape(part).Replace("\\*", ".*", StringComparison.Ordinal) + "$", RegexOptions.None, TimeSpan.FromSeconds(1));
                result.AddRange(_indices.Values.Where(i => regex.IsMatch(i.Name) || i.Aliases.Any(regex.IsMatch)));
                continue;
            }

            if (_indices.TryGetValue(part, out var index))
            {
                result.Add(index);
                continue;
            }

            var aliased = _indices.Values.Where(i => i.Aliases.Contains(part)).ToList();
            if (aliased.Count == 0)
            {
                missing ??= part;
            }

            result.AddRange(aliased);
        }

        return [.. result.Distinct()];
    }

    private bool IsAlias(string name) => _indices.Values.Any(i => i.Aliases.Contains(name));

    /// <summary>The index a write goes to: the index itself, the single index behind an alias, or a new
    /// index created on the fly with dynamic mappings (auto_create_index). Null with the error otherwise.</summary>
    private FakeIndex? WriteIndex(string name, out JsonObject? error)
    {
        error = null;
        if (_indices.TryGetValue(name, out var index))
        {
            return index;
        }

        var aliased = _indices.Values.Where(i => i.Aliases.Contains(name)).ToList();
        if (aliased.Count == 1)
        {
            return aliased[0];
        }

        if (aliased.Count > 1)
        {
            error = ErrorCause("illegal_argument_exception", $"no write index is defined for alias [{name}]. The write index may be explicitly disabled using is_write_index=false or the alias points to multiple indices without one being designated as a write index", null);
            return null;
        }

        if (InvalidIndexName(name) is { } problem)
        {
            error = ErrorCause("invalid_index_name_exception", $"Invalid index name [{name}], {problem}", name);
            return null;
        }

        if (!Options.AutoCreateIndex)
        {
            error = ErrorCause("index_not_found_exception", $"no such index [{name}] and [action.auto_create_index] is [false]", name);
            return null;
        }

        index = new FakeIndex(name, Options.Time);
        AddCreatedSettings(index);
        _indices[name] = index;
        return index;
    }

    private static Reply IndexNotFound(string name)
    {
        var reply = Error(404, "index_not_found_exception", $"no such index [{name}]", name);
        var error = (JsonObject)reply.Body!["error"]!;
        error["resource.type"] = "index_or_alias";
        error["resource.id"] = name;
        return reply;
    }

    /// <summary>The rules of MetadataCreateIndexService.validateIndexOrAliasName and validateIndexName.</summary>
    internal static string? InvalidIndexName(string name)
    {
        if (name.Length == 0)
        {
            return "must not be empty";
        }

        if (!name.Equals(name.ToLowerInvariant(), StringComparison.Ordinal))
        {
            return "must be lowercase";
        }

        if (name.IndexOfAny(['\\', '/', '*', '?', '"', '<', '>', '|', ' ', ',', '#', ':']) >= 0)
        {
            return "must not contain the following characters [' ','\"','*',',','/','<','>','?','\\','|']";
        }

        if (name[0] is '-' or '_' or '+')
        {
            return "must not start with '_', '-', or '+'";
        }

        if (name is "." or "..")
        {
            return "must not be '.' or '..'";
        }

        return System.Text.Encoding.UTF8.GetByteCount(name) > 255 ? "index name is too long, (" + System.Text.Encoding.UTF8.GetByteCount(name) + " > 255)" : null;
    }
}
