using System.Text.Json;
using System.Text.Json.Serialization;

namespace Sync.Cli.Output;

/// <summary>The JSON shape of every report the CLI prints or writes: indented, camelCase names.</summary>
internal static class ReportJson
{
    private static readonly JsonSerializerOptions Default = Options();

    /// <summary>A report in the default shape: every property written, nulls included.</summary>
    public static string Serialize<T>(T report) => JsonSerializer.Serialize(report, Default);

    public static JsonSerializerOptions Options(JsonIgnoreCondition ignore = JsonIgnoreCondition.Never, params JsonConverter[] converters)
    {
        var options = new JsonSerializerOptions
        {
            WriteIndented = true,
            PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
            DefaultIgnoreCondition = ignore,
        };
        foreach (var converter in converters)
        {
            options.Converters.Add(converter);
        }

        return options;
    }
}
