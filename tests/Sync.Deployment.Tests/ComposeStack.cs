using System.Globalization;
using Sync.Testing.Process;
using YamlDotNet.RepresentationModel;

namespace Sync.Deployment.Tests;

/// <summary>The files of compose/: the compose file, sync's config and the Debezium source config.</summary>
internal sealed class ComposeStack
{
    public static string Folder => Path.Combine(RepoPaths.Root, "compose");

    public string ComposePath { get; } = Path.Combine(Folder, "docker-compose.yml");

    public string SyncConfigPath { get; } = Path.Combine(Folder, "sync.yaml");

    public string DebeziumConfigPath { get; } = Path.Combine(Folder, "debezium-postgres-source.yaml");

    public YamlMappingNode Compose { get; }

    public YamlMappingNode SyncConfig { get; }

    public YamlMappingNode DebeziumConfig { get; }

    public ComposeStack()
    {
        Compose = Yaml.Load(ComposePath);
        SyncConfig = Yaml.Load(SyncConfigPath);
        DebeziumConfig = Yaml.Load(DebeziumConfigPath);
    }

    public YamlMappingNode Services => Compose.Map("services");

    public YamlMappingNode Service(string name) => Services.Map(name);

    /// <summary>The container ports a service publishes (the right side of <c>host:container</c>).</summary>
    public IReadOnlyList<int> ContainerPorts(string service) =>
        Service(service).TryChild("ports") is YamlSequenceNode ports
            ? ports.Texts().Select(p => int.Parse(Yaml.Interpolate(p).Split(':')[^1].Split('/')[0], CultureInfo.InvariantCulture)).ToList()
            : [];

    /// <summary>A service's environment as `docker compose up` gives it with nothing set outside.</summary>
    public IReadOnlyDictionary<string, string> ResolvedEnvironment(string service) =>
        Service(service).Environment().ToDictionary(e => e.Key, e => Yaml.Interpolate(e.Value));

    /// <summary>Every place sync's config connects to, as (where in the config, host, port).</summary>
    public IEnumerable<(string Where, string Host, int Port)> SyncEndpoints()
    {
        foreach (var (name, node) in SyncConfig.Map("sources").Children)
        {
            var source = (YamlMappingNode)node;
            foreach (var key in new[] { "serviceUrl", "adminUrl" })
            {
                if (source.TryChild(key) is YamlScalarNode { Value: { } url })
                {
                    var uri = new Uri(url);
                    yield return ($"sources.{name}.{key}", uri.Host, uri.Port);
                }
            }
        }

        foreach (var (name, node) in SyncConfig.Map("sinks").Children)
        {
            var sink = (YamlMappingNode)node;
            switch (sink.Text("type"))
            {
                case "postgres":
                    var parts = ConnectionString(sink.Text("connectionString"));
                    yield return ($"sinks.{name}.connectionString", parts["host"], int.Parse(parts.GetValueOrDefault("port", "5432"), CultureInfo.InvariantCulture));
                    break;
                case "redis":
                    foreach (var endpoint in sink.Seq("endpoints").Texts())
                    {
                        var hostPort = endpoint.Split(':');
                        yield return ($"sinks.{name}.endpoints", hostPort[0], hostPort.Length > 1 ? int.Parse(hostPort[1], CultureInfo.InvariantCulture) : 6379);
                    }

                    break;
                case "elasticsearch":
                    foreach (var url in sink.Seq("urls").Texts())
                    {
                        var uri = new Uri(url);
                        yield return ($"sinks.{name}.urls", uri.Host, uri.Port);
                    }

                    break;
                default:
                    throw new Xunit.Sdk.XunitException($"sinks.{name}: a sink type this test does not know; add it here");
            }
        }
    }

    public static Dictionary<string, string> ConnectionString(string text) =>
        text.Split(';', StringSplitOptions.RemoveEmptyEntries)
            .Select(p => p.Split('=', 2))
            .ToDictionary(p => p[0].Trim().ToLowerInvariant(), p => p[1].Trim(), StringComparer.Ordinal);
}
