namespace Sync.Cli.Commands;

/// <summary><c>sync backfill --config F --materializer NAME [--from earliest|POSITION|TOPIC=POSITION]...</c>:
/// replays from the first message, or from the positions given.</summary>
internal static class BackfillCommand
{
    public static Command Create(TextWriter output, TextWriter error)
    {
        var materializer = new Option<string>("--materializer", "-m")
        {
            Description = "The materializer to replay.",
            Required = true,
        };
        var logLevel = CommonOptions.LogLevel();
        var logFormat = CommonOptions.LogFormat();
        var noProgress = new Option<bool>("--no-progress") { Description = "Do not show progress (events, events/s, ETA) on standard error." };
        var thenRun = new Option<bool>("--then-run") { Description = "When the backfill has caught up, go on as `sync run` for the same materializer." };
        var shadow = new Option<bool>("--shadow")
        {
            Description = "Build into a shadow table/index/key generation and swap it in atomically at the end, so that readers never see a half-built target. Stop `sync run` for the materializer first.",
        };
        var from = new Option<string[]>(BackfillStart.Option)
        {
            Description = "Where to start: earliest (the default), a position ledger:entry:batch as `sync status` shows it (for a materializer with one topic), or TOPIC=POSITION (repeat for several topics; topics not named start at earliest; a partitioned topic is named by partition). The message at the position is read again (inclusive). Not with --shadow.",
            HelpName = "earliest|POSITION|TOPIC=POSITION",
        };
        var keepOld = new Option<bool>("--keep-old") { Description = "With --shadow: keep the replaced data (table <table>__old, the old index, the old Redis generation) instead of dropping it." };
        var command = new ConfiguredCommand("backfill", "Replay a materializer from the first message (or from the positions given with --from), ignoring its checkpoint (never-regress keeps newer state), and store the checkpoint as it goes so that a later run continues from there.")
        {
            materializer,
            logLevel,
            logFormat,
            noProgress,
            thenRun,
            from,
            shadow,
            keepOld,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            if (parse.GetValue(keepOld) && !parse.GetValue(shadow))
            {
                await error.WriteLineAsync("error: --keep-old needs --shadow");
                return ExitCodes.Usage;
            }

            BackfillStart start;
            try
            {
                start = BackfillStart.Parse(parse.GetValue(from));
            }
            catch (BackfillStartException e)
            {
                await error.WriteLineAsync($"error: {e.Message}");
                return ExitCodes.Usage;
            }

            if (parse.GetValue(shadow) && !start.IsEarliest)
            {
                // A shadow is built empty and then replaces the live target: started at a position,
                // it would swap in a target without every row last written before that position.
                await error.WriteLineAsync($"error: {BackfillStart.Option} ({string.Join(' ', parse.GetValue(from) ?? [])}) cannot be combined with --shadow: the shadow starts empty, so it would replace the live target with one that lacks every row last changed before the position; backfill --from without --shadow replays onto the live target");
                return ExitCodes.Usage;
            }

            var names = new[] { parse.GetRequiredValue(materializer) };
            var exit = await SyncHost.RunAsync(parse.GetRequiredValue(command.Config), names, RunMode.Backfill, parse.GetValue(logLevel), output, error, cancellationToken, showProgress: !parse.GetValue(noProgress), shadow: parse.GetValue(shadow), keepOld: parse.GetValue(keepOld), from: start, logFormat: parse.GetValue(logFormat));
            // Dead letters tolerated by the error policy (3) do not keep --then-run from going on; the
            // exit code still tells of them when the run itself ends clean.
            if (exit is not (ExitCodes.Ok or ExitCodes.DeadLettered) || !parse.GetValue(thenRun) || cancellationToken.IsCancellationRequested)
            {
                return exit;
            }

            var run = await SyncHost.RunAsync(parse.GetRequiredValue(command.Config), names, RunMode.Resume, parse.GetValue(logLevel), output, error, cancellationToken, logFormat: parse.GetValue(logFormat));
            return run == ExitCodes.Ok ? exit : run;
        });
        return command;
    }
}
