using Microsoft.Extensions.Logging;
using Sync.Compliance.Ledger;

namespace Sync.Cli.Commands;

/// <summary><c>sync dlq replay|list</c>: the dead letters of materializers, fed again or counted.</summary>
internal static class DlqCommand
{
    public static Command Create(TextWriter output, TextWriter error)
    {
        var command = new Command("dlq", "Work with dead letters: what a materializer could not read, decode, map or write (a <topic>-sync-dlq topic on a pulsar source, a JSON Lines file otherwise, or a table in the sink's database with deadLetterTarget: table).");
        command.Subcommands.Add(Replay(output, error));
        command.Subcommands.Add(List(output, error));
        return command;
    }

    private static Command Replay(TextWriter output, TextWriter error)
    {
        var materializer = new Option<string>("--materializer", "-m") { Description = "The materializer whose dead letters to replay.", Required = true };
        var dryRun = new Option<bool>("--dry-run") { Description = "Decode and map every letter and tell which would fail again; apply nothing, remove nothing. Failures of the apply stage show only in a real replay." };
        var logLevel = CommonOptions.LogLevel();
        var logFormat = CommonOptions.LogFormat();
        var command = new ConfiguredCommand("replay", "Feed a materializer's dead letters again through decode, map and apply (after a fix). Replayed letters are removed; letters that fail again go back to the dead-letter target with their new reason. Prints a summary.")
        {
            materializer, dryRun, logLevel, logFormat,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var name = parse.GetRequiredValue(materializer);
            var failedAgain = false;
            var exit = await WithConfigAsync(parse.GetRequiredValue(command.Config), [name], parse.GetValue(logLevel), parse.GetValue(logFormat), error, async (replay, selected) =>
            {
                var options = selected.Single().Value;
                var report = parse.GetValue(dryRun)
                    ? await replay.DryRunAsync(name, options, cancellationToken)
                    : await replay.ReplayAsync(name, options, cancellationToken);
                await WriteReplayAsync(output, report);
                failedAgain = !report.DryRun && report.FailedAgain > 0;
            });

            // Letters that failed again went back to the dead-letter target: not a plain success.
            return exit == ExitCodes.Ok && failedAgain ? ExitCodes.DeadLettered : exit;
        });
        return command;
    }

    private static Command List(TextWriter output, TextWriter error)
    {
        var materializers = new Option<string[]>("--materializer", "-m") { Description = "Only this materializer (repeat for several). Default: all." };
        var command = new ConfiguredCommand("list", "Count each materializer's dead letters by stage and reason. Changes nothing.")
        {
            materializers,
        };
        command.SetAction(async (parse, cancellationToken) =>
            await WithConfigAsync(parse.GetRequiredValue(command.Config), parse.GetValue(materializers) ?? [], LogLevel.Warning, Logging.LogFormat.Text, error, async (replay, selected) =>
            {
                foreach (var (name, options) in selected)
                {
                    var report = await replay.ListAsync(name, options, cancellationToken);
                    await output.WriteLineAsync($"{name}: {Count(report.Letters, "dead letter")} ({report.Target})");
                    await WriteReasonsAsync(output, report.Reasons);
                }
            }));
        return command;
    }

    private static async Task<int> WithConfigAsync(
        FileInfo configFile,
        IReadOnlyCollection<string> names,
        LogLevel logLevel,
        Logging.LogFormat logFormat,
        TextWriter error,
        Func<DeadLetterReplay, IReadOnlyList<KeyValuePair<string, MaterializerOptions>>, Task> action)
    {
        var components = SyncHost.Components();
        return await SyncHost.RunWithConfigAsync(configFile, components, error, async config =>
        {
            using var loggerFactory = SyncHost.Logging(logLevel, logFormat);
            var selected = new SyncRuntime(config, components, loggerFactory).Select(names);
            await using var suppression = new LedgerSuppression(config, components);
            await action(new DeadLetterReplay(config, components, loggerFactory, suppression.Filter), selected);
            return ExitCodes.Ok;
        });
    }

    private static async Task WriteReplayAsync(TextWriter output, DeadLetterReport report)
    {
        var c = report.Counters;
        var would = report.DryRun ? "would be " : string.Empty;
        await output.WriteLineAsync(report.DryRun
            ? $"dry run of the dead letters of {report.Materializer} ({report.Target}); nothing was applied or removed"
            : $"replayed the dead letters of {report.Materializer} ({report.Target})");
        await output.WriteLineAsync(Line("letters read", report.Letters, null));
        await output.WriteLineAsync(Line(
            report.DryRun ? "would replay" : "replayed",
            report.Letters - report.FailedAgain,
            $"{would}applied {N(c.Applied)}, {would}deleted {N(c.Deleted)}, stale {N(c.SkippedStale)}, suppressed {N(c.Suppressed)}{(c.Skipped > 0 ? $", skipped {N(c.Skipped)} (not row changes)" : string.Empty)}"));
        await output.WriteLineAsync(report.DryRun
            ? Line("would fail again", report.FailedAgain, null)
            : Line("failed again", report.FailedAgain, "back in the dead-letter target with the new reason"));
        if (report.OtherMaterializers > 0)
        {
            await output.WriteLineAsync(Line("of others", report.OtherMaterializers, "letters of other materializers on the same topics, left to them"));
        }

        if (report.Reasons.Count > 0)
        {
            await output.WriteLineAsync(report.DryRun ? "would fail again, by reason:" : "failed again, by reason:");
            await WriteReasonsAsync(output, report.Reasons);
        }
    }

    private static async Task WriteReasonsAsync(TextWriter output, IReadOnlyList<(string Stage, string Reason, long Count)> reasons)
    {
        foreach (var (stage, reason, count) in reasons)
        {
            await output.WriteLineAsync($"  {N(count),6}  {stage,-6}  {reason}");
        }
    }

    private static string Line(string label, long count, string? note) =>
        note is null ? $"  {label,-17}{N(count),6}" : $"  {label,-17}{N(count),6}  ({note})";

    private static string Count(long n, string noun) => n == 1 ? $"1 {noun}" : $"{N(n)} {noun}s";

    private static string N(long value) => value.ToString(CultureInfo.InvariantCulture);
}
