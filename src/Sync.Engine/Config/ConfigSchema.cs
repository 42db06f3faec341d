using System.ComponentModel;
using System.ComponentModel.DataAnnotations;
using System.Reflection;
using System.Text.Json.Nodes;

namespace Sync.Engine.Config;

/// <summary>The JSON Schema (draft-07, which editors such as the YAML language server read) of a
/// config file, generated from the definitions the loader binds with: <see cref="ConfigSections"/>,
/// the options types of <see cref="ComponentTypes"/>, their keys as <see cref="OptionsBinder"/>
/// derives them, their <c>[Description]</c>, <c>[Required]</c> and default values. Nothing here is
/// written by hand per key, so the schema cannot drift from what <c>sync validate</c> accepts.</summary>
public static class ConfigSchema
{
    public const string Draft = "http://json-schema.org/draft-07/schema#";

    /// <summary>A value that <c>${NAME}</c> or <c>${NAME:-default}</c> fills from the environment,
    /// accepted wherever a number, flag or duration goes.</summary>
    public const string EnvironmentPattern = @"\$\{[A-Za-z_][A-Za-z0-9_]*(:-[^}]*)?\}";

    /// <summary>Durations as <see cref="Durations.TryParse"/> reads them.</summary>
    public const string DurationPattern = @"^\s*[+-]?(\d+\.?\d*|\.\d+)(ms|s|m|h|d)\s*$";

    // Descriptions hold quotes and backticks: written as they are, the file reads well in a diff.
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static string Generate(ComponentTypes types) => Build(types).ToJsonString(Indented) + "\n";

    public static JsonObject Build(ComponentTypes types)
    {
        ArgumentNullException.ThrowIfNull(types);
        var properties = new JsonObject();
        foreach (var (name, _, description) in ConfigSections.All)
        {
            var section = name switch
            {
                ConfigSections.Sources => Components(types.Sources, new Dictionary<string, Type>(), types),
                ConfigSections.Sinks => Components(types.Sinks, types.SinkTargets, types),
                ConfigSections.Materializers => MapOf(Materializer(types)),
                ConfigSections.Subjects => MapOf(MapOf(Options(typeof(SubjectBindingOptions), types))),
                ConfigSections.Erasure => Options(typeof(ErasureOptions), types),
                ConfigSections.Errors => Options(typeof(ErrorsOptions), types),
                ConfigSections.Consistency => MapOf(Options(typeof(ConsistencyGroupOptions), types)),
                _ => throw new InvalidOperationException($"section {name} has no schema"),
            };
            section["description"] = description;
            properties[name] = section;
        }

        return new JsonObject
        {
            ["$schema"] = Draft,
            ["title"] = "sync config",
            ["description"] = "A config of sync (sync validate --config F checks one; sync config schema prints this schema).",
            ["type"] = "object",
            ["properties"] = properties,
            ["required"] = new JsonArray([.. ConfigSections.All.Where(s => s.Required).Select(s => (JsonNode)s.Name)]),
            ["additionalProperties"] = false,
        };
    }

    /// <summary>The keys of a section, as dotted paths (<c>tls.enabled</c>), read back from a schema
    /// node: the test that the schema and the loader agree walks the schema with this.</summary>
    public static IEnumerable<string> Keys(JsonNode? node, string prefix = "")
    {
        if (node?["properties"] is not JsonObject properties)
        {
            yield break;
        }

        foreach (var (key, value) in properties)
        {
            if (value?["properties"] is JsonObject && value["additionalProperties"] is JsonValue closed && !closed.GetValue<bool>())
            {
                foreach (var inner in Keys(value, $"{prefix}{key}."))
                {
                    yield return inner;
                }
            }
            else
            {
                yield return prefix + key;
            }
        }
    }

    private static JsonObject MapOf(JsonObject value) => new()
    {
        ["type"] = "object",
        ["additionalProperties"] = value,
    };

    /// <summary>Names mapped to a component: <c>type</c> picks the options type; each type's keys are
    /// allowed only with that type (if/then per type, each closed with additionalProperties false).</summary>
    private static JsonObject Components(IReadOnlyDictionary<string, Type> byType, IReadOnlyDictionary<string, Type> targets, ComponentTypes types)
    {
        var cases = new JsonArray();
        foreach (var (type, optionsType) in byType.OrderBy(t => t.Key, StringComparer.Ordinal))
        {
            var options = Options(optionsType, types);
            var properties = (JsonObject)options["properties"]!;
            var withType = new JsonObject { ["type"] = new JsonObject { ["const"] = type, ["description"] = "The component type." } };
            foreach (var (key, value) in properties)
            {
                withType[key] = value?.DeepClone();
            }

            options["properties"] = withType;
            if (targets.ContainsKey(type))
            {
                options["description"] = $"A {type} sink; a materializer writing to it takes a `target:` block.";
            }

            cases.Add(new JsonObject
            {
                ["if"] = new JsonObject { ["properties"] = new JsonObject { ["type"] = new JsonObject { ["const"] = type } }, ["required"] = new JsonArray("type") },
                ["then"] = options,
            });
        }

        return MapOf(new JsonObject
        {
            ["type"] = "object",
            ["properties"] = new JsonObject
            {
                ["type"] = new JsonObject { ["enum"] = new JsonArray([.. byType.Keys.Order(StringComparer.Ordinal).Select(t => (JsonNode)t)]) },
            },
            ["required"] = new JsonArray("type"),
            ["allOf"] = cases,
        });
    }

    /// <summary>A materializer: its own keys, and a <c>target:</c> block of whichever sink type it
    /// writes to (the schema cannot follow the <c>sink</c> reference, so any sink's target fits).</summary>
    private static JsonObject Materializer(ComponentTypes types)
    {
        var schema = Options(typeof(MaterializerOptions), types);
        var properties = (JsonObject)schema["properties"]!;
        var format = new JsonObject { ["enum"] = new JsonArray([.. types.Formats.Select(f => (JsonNode)f)]) };
        if (properties["format"] is JsonObject existing)
        {
            format["description"] = existing["description"]?.DeepClone();
            format["default"] = existing["default"]?.DeepClone();
        }

        properties["format"] = format;
        properties["target"] = new JsonObject
        {
            ["description"] = "Settings of the target in the sink, by sink type.",
            ["anyOf"] = new JsonArray([.. types.SinkTargets.OrderBy(t => t.Key, StringComparer.Ordinal).Select(t => (JsonNode)Options(t.Value, types))]),
        };
        return schema;
    }

    private static JsonObject Options(Type type, ComponentTypes types)
    {
        var properties = new JsonObject();
        var required = new JsonArray();
        var defaults = Activator.CreateInstance(type);
        foreach (var (key, property) in OptionsBinder.Properties(type))
        {
            var schema = Value(property, types);
            if (property.GetCustomAttribute<DescriptionAttribute>()?.Description is { } description)
            {
                schema["description"] = description;
            }

            if (Default(property.GetValue(defaults)) is { } value && property.GetCustomAttribute<RequiredAttribute>() is null)
            {
                schema["default"] = value;
            }

            properties[key] = schema;
            if (property.GetCustomAttribute<RequiredAttribute>() is not null)
            {
                required.Add(key);
            }
        }

        var result = new JsonObject
        {
            ["type"] = "object",
            ["properties"] = properties,
            ["additionalProperties"] = false,
        };
        if (required.Count > 0)
        {
            result["required"] = required;
        }

        return result;
    }

    /// <summary>The schema of one value, by the property type, as <see cref="OptionsBinder"/> converts it.</summary>
    private static JsonObject Value(PropertyInfo property, ComponentTypes types)
    {
        var type = Nullable.GetUnderlyingType(property.PropertyType) ?? property.PropertyType;
        if (type == typeof(string))
        {
            return new JsonObject { ["type"] = "string" };
        }

        if (type == typeof(List<string>) || type == typeof(IReadOnlyList<string>))
        {
            // The binder takes a single value as a list of one.
            return new JsonObject { ["anyOf"] = new JsonArray(new JsonObject { ["type"] = "array", ["items"] = new JsonObject { ["type"] = "string" } }, new JsonObject { ["type"] = "string" }) };
        }

        if (type == typeof(Dictionary<string, string>))
        {
            return new JsonObject { ["type"] = "object", ["additionalProperties"] = new JsonObject { ["type"] = "string" } };
        }

        if (type.IsClass && type.GetConstructor(Type.EmptyTypes) is not null && !type.IsGenericType)
        {
            // The binder takes a plain value of a shorthand type as its one property.
            return type.GetCustomAttribute<ScalarShorthandAttribute>() is null
                ? Options(type, types)
                : new JsonObject { ["anyOf"] = new JsonArray(Options(type, types), new JsonObject { ["type"] = "string" }) };
        }

        var typed = type == typeof(int) || type == typeof(long) ? new JsonObject { ["type"] = "integer" }
            : type == typeof(bool) ? new JsonObject { ["type"] = "boolean" }
            : type == typeof(TimeSpan) ? new JsonObject { ["type"] = "string", ["pattern"] = DurationPattern }
            : type.IsEnum ? new JsonObject { ["enum"] = new JsonArray([.. EnumNames(type).Select(n => (JsonNode)n)]) }
            : throw new InvalidOperationException($"{property.DeclaringType?.Name}.{property.Name} has type {type.Name}, which the schema cannot describe");
        return new JsonObject { ["anyOf"] = new JsonArray(typed, new JsonObject { ["type"] = "string", ["pattern"] = EnvironmentPattern }) };
    }

    /// <summary>The spellings the binder accepts for an enum value (it ignores case, '-' and '_'):
    /// the documented kebab case (<c>key-shared</c>) and camel case (<c>keyShared</c>).</summary>
    public static IEnumerable<string> EnumNames(Type type) =>
        Enum.GetNames(type).SelectMany(n => new[] { Kebab(n), char.ToLowerInvariant(n[0]) + n[1..] }).Distinct(StringComparer.Ordinal);

    private static string Kebab(string name) =>
        string.Concat(name.Select((c, i) => char.IsUpper(c) && i > 0 ? "-" + char.ToLowerInvariant(c) : char.ToLowerInvariant(c).ToString()));

    private static JsonNode? Default(object? value) => value switch
    {
        null => null,
        string s when s.Length > 0 => s,
        string => null,
        bool b => b,
        int i => i,
        long l => l,
        TimeSpan t => Durations.Format(t),
        Enum e => Kebab(e.ToString()),
        List<string> list => new JsonArray([.. list.Select(x => (JsonNode)x)]),
        _ => null,
    };
}
