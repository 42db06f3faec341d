using System.Globalization;
using System.Text.Json.Serialization;

namespace Sync.Bench;

/// <summary>One measured figure, in the shape bench/results.json collects: a value, the limit it is
/// measured against in the same run (if any), their ratio, and the goal.</summary>
public sealed record Figure(
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("value")] double Value,
    [property: JsonPropertyName("unit")] string Unit,
    [property: JsonPropertyName("limit_name")] string? LimitName = null,
    [property: JsonPropertyName("limit")] double? Limit = null,
    [property: JsonPropertyName("goal_ratio")] double? GoalRatio = null,
    [property: JsonPropertyName("goal")] string? Goal = null)
{
    [JsonPropertyName("ratio")]
    public double? Ratio => Limit is { } limit && limit > 0 ? Math.Round(Value / limit, 3) : null;

    /// <summary>A row of the markdown table: figure, value, unit, limit, limit value, ratio, goal.</summary>
    public string ToMarkdown() => string.Create(CultureInfo.InvariantCulture,
        $"| {Name} | {(Value < 100 ? Value.ToString("N1", CultureInfo.InvariantCulture) : Value.ToString("N0", CultureInfo.InvariantCulture))} | {Unit} | {LimitName ?? "-"} | {(Limit is { } l ? l.ToString("N0", CultureInfo.InvariantCulture) : "-")} | {(Ratio is { } r ? r.ToString("0.00", CultureInfo.InvariantCulture) : "-")} | {(GoalRatio is { } g ? $">= {g:0.0#}x" : Goal ?? "-")} |");
}
