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
        var command = new Command("backfill", "Replay a materializer from the first message, ignoring its checkpoint (never-regress keeps newer state), and store the checkpoint as it goes so that a later run continues from there.")
        {
            config,
            materializer,
            logLevel,
        };
        command.SetAction((parse, cancellationToken) => SyncHost.RunAsync(
            parse.GetRequiredValue(config),
            [parse.GetRequiredValue(materializer)],
            RunMode.Backfill,
            parse.GetValue(logLevel),
            output,
            error,
            cancellationToken));
        return command;
    }
}
