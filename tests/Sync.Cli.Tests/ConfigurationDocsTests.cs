using System.Reflection;
using System.Text.RegularExpressions;
using Sync.Engine.Config;
using Sync.Sinks;
using Sync.Sources;

namespace Sync.Cli.Tests;

/// <summary>docs/configuration.md cannot drift from the options types: every key the binder
/// accepts has a row, and every row names a key the binder accepts.</summary>
public partial class ConfigurationDocsTests
{
    private static readonly Dictionary<string, HashSet<string>> Documented = ReadDocs();

    public static TheoryData<string, string> Sections()
    {
        var data = new TheoryData<string, string>();
        foreach (var (type, options) in SourceCatalog.Types().Sources)
        {
            data.Add($"sources (type: {type})", options.AssemblyQualifiedName!);
        }

        foreach (var sink in SinkCatalog.All)
        {
            data.Add($"sinks (type: {sink.Type})", sink.OptionsType.AssemblyQualifiedName! + (sink.TargetOptionsType is { } target ? "|" + target.AssemblyQualifiedName : string.Empty));
        }

        data.Add("materializers", typeof(MaterializerOptions).AssemblyQualifiedName!);
        data.Add("subjects", typeof(SubjectBindingOptions).AssemblyQualifiedName!);
        data.Add("erasure", typeof(ErasureOptions).AssemblyQualifiedName!);
        data.Add("errors", typeof(ErrorsOptions).AssemblyQualifiedName!);
        data.Add("consistency", typeof(ConsistencyGroupOptions).AssemblyQualifiedName!);
        return data;
    }

    [Theory]
    [MemberData(nameof(Sections))]
    public void Every_key_of_a_section_is_documented_and_every_documented_key_exists(string section, string optionsType)
    {
        var types = optionsType.Split('|');
        var keys = Keys(Type.GetType(types[0], throwOnError: true)!, prefix: string.Empty).ToHashSet(StringComparer.Ordinal);
        if (types.Length > 1)
        {
            // A sink's target settings are documented in its section as target.<key>.
            keys.UnionWith(Keys(Type.GetType(types[1], throwOnError: true)!, prefix: "target."));
        }

        if (section.StartsWith("sources", StringComparison.Ordinal) || section.StartsWith("sinks", StringComparison.Ordinal))
        {
            keys.Add("type");
        }

        Assert.True(Documented.TryGetValue(section, out var documented), $"docs/configuration.md has no section '## {section}'");
        var rows = section == "subjects" ? documented.Select(k => k[(k.LastIndexOf('.') + 1)..]).ToHashSet(StringComparer.Ordinal) : documented;
        Assert.Empty(keys.Except(rows).Order());
        Assert.Empty(rows.Except(keys).Order());
    }

    private static IEnumerable<string> Keys(Type type, string prefix)
    {
        foreach (var (key, property) in OptionsBinder.Properties(type))
        {
            var propertyType = property.PropertyType;
            var nested = propertyType.IsClass && propertyType != typeof(string) && !propertyType.IsGenericType
                && propertyType.GetConstructor(Type.EmptyTypes) is not null;
            if (nested)
            {
                foreach (var inner in Keys(propertyType, $"{prefix}{key}."))
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

    internal static Dictionary<string, HashSet<string>> ReadDocs()
    {
        var result = new Dictionary<string, HashSet<string>>(StringComparer.Ordinal);
        HashSet<string>? current = null;
        foreach (var line in File.ReadLines(Path.Combine(RepoPaths.Root, "docs", "configuration.md")))
        {
            if (line.StartsWith("## ", StringComparison.Ordinal))
            {
                result[line[3..].Trim()] = current = new HashSet<string>(StringComparer.Ordinal);
            }
            else if (current is not null && KeyRow().Match(line) is { Success: true } match)
            {
                current.Add(match.Groups["key"].Value);
            }
        }

        return result;
    }

    [GeneratedRegex(@"^\| `(?<key>[^`]+)` \|")]
    private static partial Regex KeyRow();
}
