using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Json.Schema;
using Sync.Engine.Config;
using Sync.Engine.Formats;
using Sync.Engine.Runtime;
using Sync.Sinks;
using Sync.Sources;
using YamlDotNet.RepresentationModel;

namespace Sync.Cli.Tests;

/// <summary>The config's JSON Schema cannot drift from the loader: at every level the keys the loader
/// accepts (read from its own "not a known key (known: …)" message) are exactly the schema's, the
/// committed docs/sync-config.schema.json is what <c>sync config schema</c> prints, and the examples
/// validate against it (JsonSchema.Net, an independent draft-07 validator).</summary>
public sealed partial class ConfigSchemaTests : WorkspaceTests
{
    private static readonly ComponentTypes Types = new SyncComponents(SourceCatalog.All, SinkCatalog.All, MessageFormats.Names, MessageFormats.Create).Types;
    private static readonly JsonObject Schema = ConfigSchema.Build(Types);

    /// <summary>A level of the config: how to put an unknown key there, its path in messages, and its schema node.</summary>
    public static TheoryData<string> Levels()
    {
        var data = new TheoryData<string>();
        foreach (var level in AllLevels())
        {
            data.Add(level.Name);
        }

        return data;
    }

    private sealed record Level(string Name, string Path, Func<string, string> Yaml, JsonNode Schema);

    private static IEnumerable<Level> AllLevels()
    {
        var properties = Schema["properties"]!;
        yield return new Level("top level", string.Empty, extra => Config(topLevel: extra), Schema);
        foreach (var (section, sink) in new[] { ("sources", false), ("sinks", true) })
        {
            var types = sink ? Types.Sinks : Types.Sources;
            foreach (var type in types.Keys.Order(StringComparer.Ordinal))
            {
                var then = properties[section]!["additionalProperties"]!["allOf"]!.AsArray().Single(c => c!["if"]!["properties"]!["type"]!["const"]!.GetValue<string>() == type)!["then"]!;
                foreach (var level in Nested($"{section} (type: {type})", sink ? "sinks.dst" : "sources.src", then,
                    inner => sink ? Config(sink: $"{{ type: {type}, {inner} }}", sinkType: type) : Config(source: $"{{ type: {type}, {inner} }}")))
                {
                    yield return level;
                }
            }
        }

        var materializer = properties["materializers"]!["additionalProperties"]!;
        foreach (var level in Nested("materializers", "materializers.m", materializer, inner => Config(materializer: inner)))
        {
            yield return level;
        }

        var targets = materializer["properties"]!["target"]!["anyOf"]!.AsArray();
        var targetTypes = Types.SinkTargets.Keys.Order(StringComparer.Ordinal).ToList();
        for (var i = 0; i < targetTypes.Count; i++)
        {
            var type = targetTypes[i];
            foreach (var level in Nested($"materializers target (sink type: {type})", "materializers.m.target", targets[i]!,
                inner => Config(sink: $"{{ type: {type} }}", sinkType: type, materializer: $"target: {{ {inner} }}")))
            {
                yield return level;
            }
        }

        yield return new Level("subjects", "subjects.s.m", extra => Config(topLevel: $"subjects: {{ s: {{ m: {{ {extra} }} }} }}\nerasure: {{ secret: 0123456789abcdef0123 }}"),
            properties["subjects"]!["additionalProperties"]!["additionalProperties"]!);
        foreach (var section in new[] { "erasure", "errors" })
        {
            foreach (var level in Nested(section, section, properties[section]!, inner => Config(topLevel: $"{section}: {{ {inner} }}")))
            {
                yield return level;
            }
        }
    }

    /// <summary>The level itself and each nested options object under it (tls, retry, columns, …).</summary>
    private static IEnumerable<Level> Nested(string name, string path, JsonNode schema, Func<string, string> yaml)
    {
        yield return new Level(name, path, yaml, schema);
        foreach (var (key, value) in schema["properties"]!.AsObject())
        {
            if (value?["properties"] is JsonObject && key != "type")
            {
                foreach (var inner in Nested($"{name} {key}", $"{path}.{key}", value, extra => yaml($"{key}: {{ {extra} }}")))
                {
                    yield return inner;
                }
            }
        }
    }

    private static string Config(string source = "{ type: file, path: c.jsonl }", string sink = "{ type: sqlite, path: out.db }", string? sinkType = null, string materializer = "", string topLevel = "") => $$"""
        sources:
          src: {{source}}
        sinks:
          dst: {{sink}}
        materializers:
          m: { source: src, topics: [t], sink: dst, table: t{{(materializer.Length > 0 ? ", " + materializer : string.Empty)}} }
        {{topLevel}}
        """;

    [Theory]
    [MemberData(nameof(Levels))]
    public void At_every_level_the_loader_accepts_exactly_the_keys_of_the_schema(string name)
    {
        var level = AllLevels().Single(l => l.Name == name);
        var unknown = "zzz_unknown";
        var yaml = level.Path.Length == 0 ? level.Yaml($"{unknown}: 1") : level.Yaml($"{unknown}: 1");

        var problems = Assert.Throws<ConfigException>(() => ConfigLoader.Parse(yaml, Path.Combine(Path.GetTempPath(), "schema-test.yaml"), Types, _ => null)).Problems;

        var path = level.Path.Length == 0 ? unknown : $"{level.Path}.{unknown}";
        var message = problems.Select(p => p.Message).SingleOrDefault(m => m.StartsWith($"{path} is not a known key", StringComparison.Ordinal));
        Assert.True(message is not null, $"no unknown-key problem for {path}:\n{string.Join("\n", problems)}\n{yaml}");
        var accepted = KnownList().Match(message!).Groups["known"].Value.Split(", ").ToHashSet(StringComparer.Ordinal);
        var inSchema = level.Schema["properties"]!.AsObject().Select(p => p.Key).ToHashSet(StringComparer.Ordinal);
        Assert.Empty(accepted.Except(inSchema).Order(StringComparer.Ordinal));
        Assert.Empty(inSchema.Except(accepted).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task The_committed_schema_is_what_sync_config_schema_prints()
    {
        var result = await Workspace.Sync("config", "schema");

        Assert.True(result.ExitCode == 0, result.ToString());
        var committed = await File.ReadAllTextAsync(Path.Combine(RepoPaths.Root, "docs", "sync-config.schema.json"));
        Assert.True(committed == result.Output, "docs/sync-config.schema.json is out of date: run `./sync config schema --output docs/sync-config.schema.json`");
    }

    [Theory]
    [InlineData("quickstart.yaml")]
    [InlineData("pulsar.yaml")]
    public void The_examples_point_editors_to_the_schema_and_validate_against_it(string example)
    {
        var text = File.ReadAllText(Path.Combine(RepoPaths.Examples, example));

        Assert.StartsWith("# yaml-language-server: $schema=../docs/sync-config.schema.json\n", text, StringComparison.Ordinal);
        AssertValid(text);
    }

    [Fact]
    public void A_misspelled_key_and_a_wrong_enum_value_fail_the_schema_as_they_fail_the_loader()
    {
        var schema = JsonSchema.FromText(Schema.ToJsonString());

        Assert.False(Evaluate(schema, Config(source: "{ type: file, path: c.jsonl, folow: true }")).IsValid);
        Assert.False(Evaluate(schema, Config(sink: "{ type: postgres, connectionString: 'Host=db', tls: verify }")).IsValid);
        Assert.True(Evaluate(schema, Config(sink: "{ type: postgres, connectionString: 'Host=db', tls: verify-full, connectTimeout: 5s }")).IsValid);
        Assert.True(Evaluate(schema, Config(sink: "{ type: redis, endpoints: [localhost], allowEviction: '${ALLOW:-false}' }")).IsValid);
    }

    internal static void AssertValid(string yaml)
    {
        var schema = JsonSchema.FromText(File.ReadAllText(Path.Combine(RepoPaths.Root, "docs", "sync-config.schema.json")));
        var results = Evaluate(schema, yaml);
        Assert.True(results.IsValid, string.Join("\n", (results.Details ?? []).Where(d => d.Errors is { Count: > 0 }).Select(d => $"{d.InstanceLocation}: {string.Join("; ", d.Errors!.Values)}")));
    }

    private static EvaluationResults Evaluate(JsonSchema schema, string yaml)
    {
        var stream = new YamlStream();
        stream.Load(new StringReader(yaml));
        using var document = JsonDocument.Parse(ToJson(stream.Documents[0].RootNode)?.ToJsonString() ?? "null");
        return schema.Evaluate(document.RootElement, new EvaluationOptions { OutputFormat = OutputFormat.List });
    }

    /// <summary>YAML as an editor's language server sees it: plain scalars typed by YAML 1.2's core
    /// schema (booleans, integers, floats, null), quoted ones as strings.</summary>
    private static JsonNode? ToJson(YamlNode node) => node switch
    {
        YamlMappingNode mapping => new JsonObject(mapping.Children.Select(c => KeyValuePair.Create(((YamlScalarNode)c.Key).Value!, ToJson(c.Value)))),
        YamlSequenceNode sequence => new JsonArray([.. sequence.Children.Select(ToJson)]),
        YamlScalarNode { Style: YamlDotNet.Core.ScalarStyle.Plain, Value: var v } => v switch
        {
            null or "" or "~" or "null" => null,
            "true" or "false" => JsonValue.Create(v == "true"),
            _ when long.TryParse(v, System.Globalization.NumberStyles.AllowLeadingSign, System.Globalization.CultureInfo.InvariantCulture, out var n) => JsonValue.Create(n),
            _ when FloatText().IsMatch(v) => JsonValue.Create(double.Parse(v, System.Globalization.CultureInfo.InvariantCulture)),
            _ => JsonValue.Create(v),
        },
        YamlScalarNode scalar => JsonValue.Create(scalar.Value ?? string.Empty),
        _ => null,
    };

    [GeneratedRegex(@"\(known: (?<known>[^)]*)\)$")]
    private static partial Regex KnownList();

    [GeneratedRegex(@"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")]
    private static partial Regex FloatText();
}
