using Sync.Engine.Checks;

namespace Sync.Cli.Commands;

/// <summary><c>sync check --config F [--json]</c>: an online pre-flight check of every source and
/// sink with the configured credentials, in the spirit of Kafka Connect's config validation endpoint
/// (PUT /connector-plugins/{plugin}/config/validate, which reports per field what is wrong).</summary>
internal static class CheckCommand
{
    public static Command Create(TextWriter output, TextWriter error)
    {
        var json = new Option<bool>("--json") { Description = "Print the findings as JSON instead of text." };
        var command = new ConfiguredCommand("check", "Connect to every configured source and sink with its credentials and report, per component, what a run would meet (reachable, authorised, topics, schemas, privileges, eviction policy) and what to do. Exit 0 when nothing is an error, 3 when something is, 2 for a bad config.")
        {
            json,
        };
        command.SetConfiguredAction(error, async (parse, loaded, components, cancellationToken) =>
        {
            var report = await new PreflightChecker(loaded, components).CheckAsync(cancellationToken);
            await ReportOutput.WriteAsync(output, parse.GetValue(json), () => CheckReportWriter.ToJson(report), w => CheckReportWriter.WriteText(w, report));
            return report.Errors == 0 ? ExitCodes.Ok : ExitCodes.Found;
        });
        return command;
    }
}
