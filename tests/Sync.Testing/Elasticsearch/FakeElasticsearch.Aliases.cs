using System.Text.Json.Nodes;

namespace Sync.Testing.Elasticsearch;

/// <summary>POST /_aliases — https://www.elastic.co/docs/api/elasticsearch/operation/operation-indices-update-aliases.</summary>
public sealed partial class FakeElasticsearch
{
    /// <summary>Applies every action of the request in one step, or none: the real server applies them
    /// in a single cluster-state update. Modelled points:
    /// <list type="bullet">
    /// <item><c>actions</c> must hold at least one action; each is an object with one key, <c>add</c>,
    /// <c>remove</c> or <c>remove_index</c>, naming <c>index</c>/<c>indices</c> and <c>alias</c>/<c>aliases</c>
    /// (else 400 <c>action_request_validation_exception</c> / <c>x_content_parse_exception</c>).</item>
    /// <item>Every <c>remove_index</c> runs first, wherever it sits in the array, so that a concrete index
    /// can be replaced by an alias of the same name in one request.</item>
    /// <item><c>remove_index</c> names a concrete index: an alias there is 400 <c>illegal_argument_exception</c>;
    /// a missing index is 404 <c>index_not_found_exception</c> (as for <c>add</c> and <c>remove</c>).</item>
    /// <item><c>add</c> creates the alias when absent; an alias cannot take the name of an index that
    /// still exists (400 <c>invalid_alias_name_exception</c>).</item>
    /// <item><c>remove</c> of an alias the index does not have, with <c>must_exist: true</c>, is 404
    /// <c>aliases_not_found_exception</c> and nothing applies; without <c>must_exist</c> (or false) the
    /// other actions still apply and the answer is 200 with <c>errors: true</c> and one entry per action
    /// in <c>action_results</c> (<c>status</c>, <c>action</c> {type, indices, aliases}, <c>error</c> for
    /// the failed one) — Elasticsearch 8.14+: rest-api-spec/src/yamlRestTest/resources/rest-api-spec/test/
    /// indices.update_aliases/40_must_exist.yml lines 44-59 ("catch: missing", the add not applied),
    /// 112-135 (partial success with must_exist null) and 137-152 (no action_results when all apply).</item>
    /// <item><c>must_exist</c> on <c>add</c> or <c>remove_index</c> is 400 (same file, lines 62-84).</item>
    /// </list>
    /// Answers <c>{"acknowledged": true, "errors": false}</c> when every action applied.</summary>
    private Reply UpdateAliases(byte[] body)
    {
        if (ParseBody(body) is not JsonObject request || request["actions"] is not JsonArray actions || actions.Count == 0)
        {
            return Error(400, "action_request_validation_exception", "Validation Failed: 1: no action specified;");
        }

        var parsed = new List<(string Kind, List<string> Indices, List<string> Aliases, bool? MustExist)>();
        foreach (var node in actions)
        {
            if (node is not JsonObject action || action.Count != 1)
            {
                return Error(400, "x_content_parse_exception", "[aliases] failed to parse field [actions]: an action must be an object with exactly one key");
            }

            var (kind, spec) = action.First();
            if (kind is not ("add" or "remove" or "remove_index") || spec is not JsonObject fields)
            {
                return Error(400, "x_content_parse_exception", $"[aliases] unknown action [{kind}]");
            }

            var indices = Names(fields, "index", "indices");
            var aliases = Names(fields, "alias", "aliases");
            if (indices.Count == 0 || (kind != "remove_index" && aliases.Count == 0))
            {
                return Error(400, "action_request_validation_exception", $"Validation Failed: 1: {(indices.Count == 0 ? "One of [index] or [indices] is required" : "One of [alias] or [aliases] is required")};");
            }

            bool? mustExist = fields["must_exist"] is JsonValue flag && flag.TryGetValue<bool>(out var b) ? b : null;
            if (mustExist is not null && kind != "remove")
            {
                return Error(400, "action_request_validation_exception", $"Validation Failed: 1: [must_exist] is unsupported for [{kind.ToUpperInvariant()}];");
            }

            parsed.Add((kind, indices, aliases, mustExist));
        }

        // Validate against the state as it will be after the remove_index actions, then apply: nothing
        // changes when any action fails.
        var removed = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (_, indices, _, _) in parsed.Where(p => p.Kind == "remove_index"))
        {
            foreach (var name in indices)
            {
                if (!_indices.ContainsKey(name))
                {
                    return IsAlias(name)
                        ? Error(400, "illegal_argument_exception", $"The provided expression [{name}] matches an alias, specify the corresponding concrete indices instead.")
                        : IndexNotFound(name);
                }

                removed.Add(name);
            }
        }

        var aliasesAfter = _indices.Values.Where(i => !removed.Contains(i.Name))
            .ToDictionary(i => i.Name, i => new HashSet<string>(i.Aliases, StringComparer.Ordinal), StringComparer.Ordinal);
        var failed = new Dictionary<int, (string Index, string Alias)>();
        for (var a = 0; a < parsed.Count; a++)
        {
            var (kind, indices, aliases, mustExist) = parsed[a];
            if (kind == "remove_index")
            {
                continue;
            }

            foreach (var index in indices)
            {
                if (!aliasesAfter.TryGetValue(index, out var held))
                {
                    return IndexNotFound(index);
                }

                foreach (var alias in aliases)
                {
                    if (kind == "add")
                    {
                        if (aliasesAfter.ContainsKey(alias))
                        {
                            return Error(400, "invalid_alias_name_exception", $"Invalid alias name [{alias}]: an index or data stream exists with the same name as the alias", alias);
                        }

                        held.Add(alias);
                    }
                    else if (!held.Remove(alias))
                    {
                        if (mustExist == true)
                        {
                            return Error(404, "aliases_not_found_exception", $"aliases [{alias}] missing", alias);
                        }

                        failed.TryAdd(a, (index, alias));
                    }
                }
            }
        }

        foreach (var name in removed)
        {
            _indices.Remove(name);
        }

        foreach (var (name, held) in aliasesAfter)
        {
            var index = _indices[name];
            index.Aliases.Clear();
            index.Aliases.UnionWith(held);
        }

        if (failed.Count == 0)
        {
            return new Reply(200, new JsonObject { ["acknowledged"] = true, ["errors"] = false });
        }

        var results = new JsonArray();
        for (var a = 0; a < parsed.Count; a++)
        {
            var (kind, indices, aliases, _) = parsed[a];
            var action = new JsonObject { ["type"] = kind, ["indices"] = new JsonArray([.. indices.Select(i => (JsonNode?)i)]) };
            if (kind != "remove_index")
            {
                action["aliases"] = new JsonArray([.. aliases.Select(i => (JsonNode?)i)]);
            }

            var result = new JsonObject { ["action"] = action, ["status"] = failed.ContainsKey(a) ? 404 : 200 };
            if (failed.TryGetValue(a, out var missing))
            {
                result["error"] = ErrorCause("aliases_not_found_exception", $"aliases [{missing.Alias}] missing", null);
            }

            results.Add(result);
        }

        return new Reply(200, new JsonObject { ["acknowledged"] = true, ["errors"] = true, ["action_results"] = results });
    }

    /// <summary>GET|HEAD /_alias/{name} — the indices holding the alias, 404 when none does
    /// (indices.exists_alias/10_basic.yml; indices.get_alias/10_basic.yml).</summary>
    private Reply GetAlias(string name)
    {
        var holders = _indices.Values.Where(i => i.Aliases.Contains(name)).OrderBy(i => i.Name, StringComparer.Ordinal).ToList();
        if (holders.Count == 0)
        {
            return new Reply(404, new JsonObject { ["error"] = $"alias [{name}] missing", ["status"] = 404 });
        }

        var result = new JsonObject();
        foreach (var index in holders)
        {
            result[index.Name] = new JsonObject { ["aliases"] = new JsonObject { [name] = new JsonObject() } };
        }

        return new Reply(200, result);
    }

    private static List<string> Names(JsonObject fields, string one, string many)
    {
        var names = new List<string>();
        if (fields[one] is JsonValue single && single.TryGetValue<string>(out var name))
        {
            names.Add(name);
        }

        if (fields[many] is JsonArray list)
        {
            names.AddRange(list.OfType<JsonValue>().Select(v => v.GetValue<string>()));
        }
        else if (fields[many] is JsonValue value && value.TryGetValue<string>(out var text))
        {
            names.Add(text);
        }

        return names;
    }
}
