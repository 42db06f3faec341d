using System.CommandLine;
using Sync.Engine.Runtime;

namespace Sync.Cli.Commands;

/// <summary><c>sync backfill --config F --materializer NAME</c>: replays from the first message.</summary>
internal static class BackfillCommand
{
    public static Command Create(TextWriter output, TextWriter error)
    {
        var config = CommonOptions.Config();
        var materializer = new Option<string>("--materializer", "-m")
        {
            Description = "The materializer to replay.",
            Required = true,
        };
        var logLevel = CommonOptions.LogLevel();
        var noProgress = new Option<bool>("--no-progress") { Description = "Do not show progress (events, events/s, ETA) on standard error." };
        var thenRun = new Option<bool>("--then-run") { Description = "When the backfill has caught up, go on as `sync run` for the same materializer." };
        var command = new Command("backfill", "Replay a materializer from the first message, ignoring its checkpoint (never-regress keeps newer state), and store the checkpoint as it goes so that a later run continues from there.")
        {
            config,
            materializer,
            logLevel,
            noProgress,
            thenRun,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var names = new[] { parse.GetRequiredValue(materializer) };
            var exit = await SyncHost.RunAsync(parse.GetRequiredValue(config), names, RunMode.Backfill, parse.GetValue(logLevel), output, error, cancellationToken, showProgress: !parse.GetValue(noProgress));
            if (exit != ExitCodes.Ok || !parse.GetValue(thenRun) || cancellationToken.IsCancellationRequested)
            {
                return exit;
            }

            return await SyncHost.RunAsync(parse.GetRequiredValue(config), names, RunMode.Resume, parse.GetValue(logLevel), output, error, cancellationToken);
        });
        return command;
    }
}
