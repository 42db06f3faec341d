using System.Text.RegularExpressions;
using YamlDotNet.RepresentationModel;

namespace Sync.Deployment.Tests;

/// <summary>Reads YAML files as node trees, with the look-ups these tests need and messages that
/// say which path was missing.</summary>
internal static partial class Yaml
{
    public static YamlMappingNode Load(string path)
    {
        var stream = new YamlStream();
        using var reader = new StreamReader(path);
        stream.Load(reader);
        return Assert.IsType<YamlMappingNode>(Assert.Single(stream.Documents).RootNode);
    }

    public static YamlMappingNode Map(this YamlMappingNode node, string key) =>
        node.Child(key) as YamlMappingNode ?? throw new Xunit.Sdk.XunitException($"{node.Start}: '{key}' is not a mapping");

    public static YamlSequenceNode Seq(this YamlMappingNode node, string key) =>
        node.Child(key) as YamlSequenceNode ?? throw new Xunit.Sdk.XunitException($"{node.Start}: '{key}' is not a list");

    public static string Text(this YamlMappingNode node, string key) =>
        (node.Child(key) as YamlScalarNode)?.Value ?? throw new Xunit.Sdk.XunitException($"{node.Start}: '{key}' is not a scalar");

    public static YamlNode Child(this YamlMappingNode node, string key) =>
        node.Children.TryGetValue(new YamlScalarNode(key), out var child) ? child : throw new Xunit.Sdk.XunitException($"{node.Start}: no '{key}'");

    public static YamlNode? TryChild(this YamlMappingNode node, string key) =>
        node.Children.TryGetValue(new YamlScalarNode(key), out var child) ? child : null;

    public static IEnumerable<string> Keys(this YamlMappingNode node) =>
        node.Children.Keys.Select(k => ((YamlScalarNode)k).Value!);

    public static IEnumerable<string> Texts(this YamlSequenceNode node) =>
        node.Children.Select(c => ((YamlScalarNode)c).Value!);

    /// <summary>A compose <c>environment:</c> block as a dictionary (mapping or <c>KEY=value</c> list).</summary>
    public static IReadOnlyDictionary<string, string> Environment(this YamlMappingNode service) =>
        service.TryChild("environment") switch
        {
            YamlMappingNode map => map.Children.ToDictionary(e => ((YamlScalarNode)e.Key).Value!, e => ((YamlScalarNode)e.Value).Value ?? string.Empty),
            YamlSequenceNode list => list.Texts().Select(t => t.Split('=', 2)).ToDictionary(p => p[0], p => p.Length > 1 ? p[1] : string.Empty),
            _ => new Dictionary<string, string>(),
        };

    /// <summary>Compose variable interpolation with nothing set in the environment: <c>${NAME:-default}</c>
    /// gives the default, <c>$$</c> a literal dollar. What `docker compose up` uses with no .env file.</summary>
    public static string Interpolate(string value) =>
        ComposeVariable().Replace(value, m => m.Value == "$$" ? "$" : m.Groups["default"].Success ? m.Groups["default"].Value
            : throw new Xunit.Sdk.XunitException($"{m.Value} has no default: `docker compose up` alone would leave it empty"));

    /// <summary>The names of <c>${NAME}</c> references in a sync config, and whether each has a fallback.</summary>
    public static IReadOnlyDictionary<string, bool> SyncVariables(string text) =>
        SyncVariable().Matches(text).GroupBy(m => m.Groups["name"].Value)
            .ToDictionary(g => g.Key, g => g.Any(m => m.Groups["fallback"].Success));

    [GeneratedRegex(@"\$\$|\$\{(?<name>[A-Za-z_][A-Za-z0-9_]*)(:-(?<default>[^}]*))?\}")]
    private static partial Regex ComposeVariable();

    [GeneratedRegex(@"\$\{(?<name>[A-Za-z_][A-Za-z0-9_]*)(?<fallback>:-[^}]*)?\}")]
    private static partial Regex SyncVariable();
}
