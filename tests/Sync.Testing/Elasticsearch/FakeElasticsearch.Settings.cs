using System.Globalization;
using System.Text.Json.Nodes;

namespace Sync.Testing.Elasticsearch;

/// <summary>Index settings APIs: get and update.</summary>
public sealed partial class FakeElasticsearch
{
    /// <summary>Settings every index holds from its creation, whether the request named them or not:
    /// the server writes them into the index metadata, and <c>GET /{index}/_settings</c> lists them
    /// (https://www.elastic.co/docs/reference/elasticsearch/index-settings/index-modules:
    /// <c>index.number_of_shards</c> defaults to 1, <c>index.number_of_replicas</c> to 1).</summary>
    private static readonly (string Key, string Value)[] CreatedSettings = [("index.number_of_shards", "1"), ("index.number_of_replicas", "1")];

    /// <summary>Settings that can change only on a closed index (the fake has no closed index):
    /// "Can't update non dynamic settings" (index-modules, "Static index settings").</summary>
    private static readonly string[] StaticSettings = ["index.number_of_shards"];

    private static void AddCreatedSettings(FakeIndex index)
    {
        foreach (var (key, value) in CreatedSettings)
        {
            index.Settings.TryAdd(key, value);
        }
    }

    /// <summary>GET /{index}/_settings — https://www.elastic.co/docs/api/doc/elasticsearch/operation/operation-indices-get-settings:
    /// <c>{name: {settings: {index: {…}}}}</c> per concrete index, values as strings; with
    /// <c>flat_settings=true</c> the keys are flat (<c>index.refresh_interval</c>).</summary>
    private Reply GetSettings(string name, Dictionary<string, string> query)
    {
        var indices = Resolve(name, out var missing);
        if (missing is not null)
        {
            return IndexNotFound(missing);
        }

        var flat = Flag(query, "flat_settings");
        var result = new JsonObject();
        foreach (var index in indices)
        {
            var settings = new JsonObject();
            foreach (var (key, value) in index.Settings.OrderBy(s => s.Key, StringComparer.Ordinal))
            {
                if (flat)
                {
                    settings[key] = value;
                    continue;
                }

                // Nested: index.a.b -> {"index": {"a": {"b": …}}}.
                var parts = key.Split('.');
                var node = settings;
                foreach (var part in parts[..^1])
                {
                    node = node[part] as JsonObject ?? (JsonObject)(node[part] = new JsonObject());
                }

                node[parts[^1]] = value;
            }

            result[index.Name] = new JsonObject { ["settings"] = settings };
        }

        return new Reply(200, result);
    }

    /// <summary>PUT /{index}/_settings — https://www.elastic.co/docs/api/elasticsearch/operation/operation-indices-put-settings:
    /// the body names settings flat (<c>{"number_of_replicas": 1}</c>), under <c>index</c>, dotted, or
    /// inside <c>settings</c>; a null value reverts the setting to its default (here: removed, and
    /// <c>index.number_of_replicas</c> back to 1). A static setting on an open index is 400
    /// <c>illegal_argument_exception</c> and nothing changes; so is a replica count that is not a
    /// whole number from 0 up. Answers <c>{acknowledged: true}</c>.</summary>
    private Reply PutSettings(string name, byte[] body)
    {
        var indices = Resolve(name, out var missing);
        if (missing is not null)
        {
            return IndexNotFound(missing);
        }

        var request = ParseBody(body) as JsonObject ?? [];
        if (request["settings"] is JsonObject wrapped)
        {
            request = wrapped;
        }

        var changes = new Dictionary<string, string?>(StringComparer.Ordinal);
        FlattenNullable(request, string.Empty, changes);
        if (changes.Count == 0)
        {
            return Error(400, "action_request_validation_exception", "Validation Failed: 1: no settings to update;");
        }

        if (changes.Keys.FirstOrDefault(StaticSettings.Contains) is { } fixedSetting)
        {
            var named = string.Join(", ", indices.Select(i => $"[{i.Name}/{FakeIndex.UuidOf(i.Name)}]"));
            return Error(400, "illegal_argument_exception", $"Can't update non dynamic settings [[{fixedSetting}]] for open indices [{named}]");
        }

        if (changes.TryGetValue("index.number_of_replicas", out var replicas) && replicas is not null
            && !(int.TryParse(replicas, NumberStyles.None, CultureInfo.InvariantCulture, out var count) && count >= 0))
        {
            return Error(400, "illegal_argument_exception", $"Failed to parse value [{replicas}] for setting [index.number_of_replicas] must be >= 0");
        }

        foreach (var index in indices)
        {
            foreach (var (key, value) in changes)
            {
                if (value is not null)
                {
                    index.Settings[key] = value;
                }
                else if (CreatedSettings.FirstOrDefault(s => s.Key == key) is { Value: { } fallback })
                {
                    index.Settings[key] = fallback;
                }
                else
                {
                    index.Settings.Remove(key);
                }
            }
        }

        return new Reply(200, new JsonObject { ["acknowledged"] = true });
    }

    /// <summary>Settings as flat <c>index.*</c> keys, whatever the nesting; a null value (a reset) is kept.</summary>
    private static void FlattenNullable(JsonObject node, string prefix, Dictionary<string, string?> into)
    {
        foreach (var (key, value) in node)
        {
            var name = prefix.Length == 0 ? key : prefix + "." + key;
            if (value is JsonObject child)
            {
                FlattenNullable(child, name, into);
            }
            else
            {
                into[name.StartsWith("index.", StringComparison.Ordinal) ? name : "index." + name] = value?.ToString();
            }
        }
    }
}
