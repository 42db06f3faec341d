using System.Text.Json;
using System.Text.Json.Serialization;
using Sync.Engine.Checks;

namespace Sync.Cli.Output;

/// <summary>Writes what <c>sync check</c> found: a block per source and sink for people, or JSON for tools.</summary>
internal static class CheckReportWriter
{
    private static readonly JsonSerializerOptions Json =
        ReportJson.Options(JsonIgnoreCondition.WhenWritingNull, new JsonStringEnumConverter(JsonNamingPolicy.CamelCase));

    public static string ToJson(PreflightReport report) =>
        JsonSerializer.Serialize(new { errors = report.Errors, warnings = report.Warnings, components = report.Components }, Json);

    public static void WriteText(TextWriter output, PreflightReport report)
    {
        foreach (var component in report.Components)
        {
            output.WriteLine($"{component.Kind} {component.Name} ({component.Type})");
            foreach (var finding in component.Findings)
            {
                output.WriteLine($"  {Label(finding.Severity),-7}  {finding.Check}: {finding.Message}");
                if (finding.Action is { } action)
                {
                    output.WriteLine($"           do: {action}");
                }
            }

            output.WriteLine();
        }

        output.WriteLine(report.Errors == 0
            ? $"no errors{(report.Warnings == 0 ? string.Empty : $", {Plural(report.Warnings, "warning")}")}: the config can run"
            : $"{Plural(report.Errors, "error")}, {Plural(report.Warnings, "warning")}: fix the errors before `sync run`");
    }

    private static string Label(CheckSeverity severity) => severity switch
    {
        CheckSeverity.Ok => "ok",
        CheckSeverity.Warning => "warning",
        _ => "ERROR",
    };

    private static string Plural(int n, string noun) => $"{n} {noun}{(n == 1 ? string.Empty : "s")}";
}
