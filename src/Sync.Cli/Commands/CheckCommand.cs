using Sync.Engine.Checks;

namespace Sync.Cli.Commands;

/// <summary><c>sync check --config F [--json]</c>: an online pre-flight check of every source and
/// sink with the configured credentials, in the spirit of Kafka Connect's config validation endpoint
/// (PUT /connector-plugins/{plugin}/config/validate, which reports per field what is wrong).</summary>
internal static class CheckCommand
{
    /// <summary>Exit code when any finding is an error.</summary>
    public const int ErrorsFound = 3;

    public static Command Create(TextWriter output, TextWriter error)
    {
        var config = CommonOptions.Config();
        var json = new Option<bool>("--json") { Description = "Print the findings as JSON instead of text." };
        var command = new Command("check", "Connect to every configured source and sink with its credentials and report, per component, what a run would meet (reachable, authorised, topics, schemas, privileges, eviction policy) and what to do. Exit 0 when nothing is an error, 3 when something is, 2 for a bad config.")
        {
            config, json,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var components = SyncHost.Components();
            if (await SyncHost.LoadConfigAsync(parse.GetRequiredValue(config), components, error) is not { } loaded)
            {
                return ExitCodes.Usage;
            }

            var report = await new PreflightChecker(loaded, components).CheckAsync(cancellationToken);
            if (parse.GetValue(json))
            {
                await output.WriteLineAsync(CheckReportWriter.ToJson(report));
            }
            else
            {
                CheckReportWriter.WriteText(output, report);
            }

            return report.Errors == 0 ? ExitCodes.Ok : ErrorsFound;
        });
        return command;
    }
}
