using System.Text.Json.Nodes;

namespace Sync.Testing.Elasticsearch;

/// <summary>GET|POST /_security/user/_has_privileges —
/// https://www.elastic.co/docs/api/doc/elasticsearch/operation/operation-security-has-privileges.</summary>
public sealed partial class FakeElasticsearch
{
    /// <summary>Modelled points:
    /// <list type="bullet">
    /// <item>With security off (the fake without credentials) the security APIs answer 500
    /// <c>exception</c>, "Security must be explicitly enabled when using a [basic] license…", as
    /// clusters without <c>xpack.security.enabled</c> do (elastic/kibana#64585 quotes the message,
    /// wunderio/drupal-project#254 its status 500).</item>
    /// <item>With security on, the answer names the caller (<c>username</c>), and for each requested
    /// index name (or pattern) and privilege whether the caller holds it, with <c>has_all_requested</c>
    /// (the response shape of the API reference above). A granted pattern ending in <c>*</c> covers
    /// every name and pattern with its prefix; <see cref="FakeElasticsearchOptions.GrantedIndexPrivileges"/>
    /// decides, and null grants everything (a superuser).</item>
    /// </list></summary>
    private Reply HasPrivileges(byte[] body)
    {
        if (Options.RequiredApiKey is null && Options.RequiredBasicAuth is null)
        {
            return Error(500, "exception", "Security must be explicitly enabled when using a [basic] license. Enable security by setting [xpack.security.enabled] to [true] in the elasticsearch.yml file and restart the node.");
        }

        if (ParseBody(body) is not JsonObject request)
        {
            return Error(400, "parse_exception", "request body is required");
        }

        var all = true;
        var index = new JsonObject();
        foreach (var entry in request["index"] as JsonArray ?? [])
        {
            var names = entry?["names"] is JsonArray n ? n.Select(x => x!.GetValue<string>()).ToList() : [entry?["names"]?.GetValue<string>() ?? string.Empty];
            var privileges = (entry?["privileges"] as JsonArray ?? []).Select(p => p!.GetValue<string>()).ToList();
            foreach (var name in names)
            {
                var answers = index[name] as JsonObject ?? new JsonObject();
                foreach (var privilege in privileges)
                {
                    var held = Holds(name, privilege);
                    all &= held;
                    answers[privilege] = held;
                }

                index[name] = answers;
            }
        }

        return new Reply(200, new JsonObject
        {
            ["username"] = Options.RequiredBasicAuth?.User ?? "api-key-owner",
            ["has_all_requested"] = all,
            ["cluster"] = new JsonObject(),
            ["index"] = index,
            ["application"] = new JsonObject(),
        });
    }

    private bool Holds(string name, string privilege)
    {
        if (Options.GrantedIndexPrivileges is not { } granted)
        {
            return true;
        }

        return granted.Any(g => Covers(g.Key, name) && (g.Value.Contains(privilege, StringComparer.Ordinal) || g.Value.Contains("all", StringComparer.Ordinal)));

        static bool Covers(string pattern, string name) =>
            pattern == name || (pattern.EndsWith('*') && name.StartsWith(pattern[..^1], StringComparison.Ordinal));
    }
}
