using System.Text.Json.Nodes;
using Elastic.Clients.Elasticsearch;
using Elastic.Transport;
using EsHttpMethod = Elastic.Transport.HttpMethod;

namespace Sync.Sinks.Elasticsearch;

/// <summary><c>sync check</c> of an Elasticsearch sink: the cluster answers with the configured
/// credentials, its version, and the caller's privileges on the target indices (and aliases and the
/// checkpoint index) where the cluster has security on.</summary>
public sealed class ElasticsearchPreflightCheck : SinkPreflightCheck<ElasticsearchSinkOptions>
{
    /// <summary>Index privileges the sink uses: create its indices, write and read documents, and
    /// <c>manage</c> for explicit mapping updates and alias swaps (Elasticsearch docs, "Security
    /// privileges": <c>write</c> allows dynamic mapping updates only; aliases need <c>manage</c>).</summary>
    public static readonly IReadOnlyList<string> RequiredPrivileges = ["create_index", "write", "read", "manage"];

    protected override async ValueTask<IReadOnlyList<CheckFinding>> CheckAsync(CheckScope scope, string name, ElasticsearchSinkOptions options, CancellationToken cancellationToken)
    {
        var findings = new List<CheckFinding>();
        var client = new ElasticsearchClient(ElasticsearchSink.Settings(options));

        var (status, info, failure) = await SendAsync(client, EsHttpMethod.GET, "/", null, cancellationToken);
        if (status is null)
        {
            findings.Add(CheckFinding.Error("reachable", $"no answer from {string.Join(", ", options.Urls)}: {failure}",
                $"check sinks.{name}.urls, that the cluster runs, and sinks.{name}.caFingerprint or certificateValidation"));
            return findings;
        }

        if (status == 401)
        {
            findings.Add(CheckFinding.Error("reachable", $"the cluster refused the credentials: {Reason(info)}",
                $"check sinks.{name}.apiKey, or username and password"));
            return findings;
        }

        if (status is not (>= 200 and < 300))
        {
            findings.Add(CheckFinding.Error("reachable", $"GET / answered {status}: {Reason(info)}", $"check sinks.{name}.urls and the user's cluster privilege monitor"));
            return findings;
        }

        var version = info?["version"]?["number"]?.GetValue<string>() ?? "unknown";
        findings.Add(CheckFinding.Ok("reachable", $"cluster {info?["cluster_name"]?.GetValue<string>()} answered, version {version}"));
        if (int.TryParse(version.Split('.')[0], out var major) && major < 8)
        {
            findings.Add(CheckFinding.Error("version", $"Elasticsearch {version} is older than the 8.x and 9.x that the sink's client speaks", "upgrade the cluster to 8.x or later"));
        }

        var names = new List<string> { options.CheckpointIndex };
        foreach (var (materializer, materializerOptions) in scope.Materializers)
        {
            var target = materializerOptions.Target as ElasticsearchTargetOptions ?? new ElasticsearchTargetOptions();
            names.Add(ElasticsearchTargetOptions.Pattern(target.IndexTemplate(materializerOptions.Table).Replace("{table}", materializerOptions.Table, StringComparison.Ordinal)));
            if (target.Alias is { } alias)
            {
                names.Add(ElasticsearchTargetOptions.Pattern(alias.Replace("{table}", materializerOptions.Table, StringComparison.Ordinal)));
            }
        }

        names = [.. names.Distinct(StringComparer.Ordinal)];
        findings.AddRange(await CheckPrivilegesAsync(client, name, names, cancellationToken));
        return findings;
    }

    private static async Task<IReadOnlyList<CheckFinding>> CheckPrivilegesAsync(ElasticsearchClient client, string sink, List<string> names, CancellationToken cancellationToken)
    {
        var request = new JsonObject
        {
            ["index"] = new JsonArray(new JsonObject
            {
                ["names"] = new JsonArray([.. names.Select(n => (JsonNode)n)]),
                ["privileges"] = new JsonArray([.. RequiredPrivileges.Select(p => (JsonNode)p)]),
            }),
        };
        var (status, answer, failure) = await SendAsync(client, EsHttpMethod.POST, "/_security/user/_has_privileges", request.ToJsonString(), cancellationToken);
        var reason = Reason(answer);
        if (status == 500 && reason.Contains("Security must be explicitly enabled", StringComparison.Ordinal)
            || status is 400 or 405 && reason.Contains("security", StringComparison.OrdinalIgnoreCase))
        {
            return [CheckFinding.Warning("privileges", "the cluster has security off: anyone who reaches it may read and write every index", "turn security on (xpack.security.enabled: true) and give sync an API key limited to its indices")];
        }

        if (status is not (>= 200 and < 300) || answer is null)
        {
            return [CheckFinding.Warning("privileges", $"the privileges cannot be read ({(status is null ? failure : $"{status}: {reason}")})", "check by hand that the user may create_index, write, read and manage the target indices")];
        }

        var user = answer["username"]?.GetValue<string>() ?? "the user";
        var findings = new List<CheckFinding>();
        foreach (var index in names)
        {
            var held = answer["index"]?[index] as JsonObject;
            var missing = RequiredPrivileges.Where(p => held?[p]?.GetValue<bool>() != true).ToList();
            findings.Add(missing.Count == 0
                ? CheckFinding.Ok($"privileges on {index}", $"{user} holds {string.Join(", ", RequiredPrivileges)}")
                : CheckFinding.Error($"privileges on {index}", $"{user} lacks {string.Join(", ", missing)}",
                    $"give the role of {user} (or the API key of sinks.{sink}) the index privileges {string.Join(", ", RequiredPrivileges)} on {index}"));
        }

        return findings;
    }

    private static async Task<(int? Status, JsonNode? Body, string? Failure)> SendAsync(ElasticsearchClient client, EsHttpMethod method, string path, string? body, CancellationToken cancellationToken)
    {
        var endpoint = new EndpointPath(method, path);
        var response = await client.Transport.RequestAsync<StringResponse>(in endpoint, body is null ? null : PostData.String(body), null, null, cancellationToken);
        JsonNode? parsed = null;
        try
        {
            parsed = string.IsNullOrEmpty(response.Body) ? null : JsonNode.Parse(response.Body);
        }
        catch (JsonException)
        {
            // Not JSON (a proxy's page): the status says enough.
        }

        return (response.ApiCallDetails.HttpStatusCode, parsed, response.ApiCallDetails.OriginalException?.Message);
    }

    private static string Reason(JsonNode? body) =>
        body?["error"]?["reason"]?.GetValue<string>() ?? body?["error"]?.ToString() ?? "no reason given";
}
