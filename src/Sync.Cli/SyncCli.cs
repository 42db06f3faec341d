using System.Runtime.InteropServices;
using Sync.Cli.Commands;

namespace Sync.Cli;

/// <summary>The command line: builds the commands and maps outcomes to exit codes.</summary>
public static class SyncCli
{
    public static RootCommand Build(TextWriter output, TextWriter error)
    {
        var root = new RootCommand("sync keeps PostgreSQL tables, Redis caches and Elasticsearch indexes in step with Debezium changelogs on Pulsar (or in changelog files), and erases a data subject everywhere on request.");
        root.Subcommands.Add(RunCommand.Create(output, error));
        root.Subcommands.Add(BackfillCommand.Create(output, error));
        root.Subcommands.Add(ValidateCommand.Create(output, error));
        root.Subcommands.Add(CheckCommand.Create(output, error));
        root.Subcommands.Add(ConfigCommand.Create(output, error));
        root.Subcommands.Add(InitCommand.Create(output, error));
        root.Subcommands.Add(StatusCommand.Create(output, error));
        root.Subcommands.Add(EpochCommand.Create(output, error));
        root.Subcommands.Add(DumpCommand.Create(output, error));
        root.Subcommands.Add(EraseCommand.Create(output, error));
        root.Subcommands.Add(DlqCommand.Create(output, error));
        root.Subcommands.Add(PublishCommand.Create(output, error));
        root.Subcommands.Add(AuditCommand.Create(output, error));
        root.Subcommands.Add(LedgerCommand.Create(output, error));
        root.Subcommands.Add(VerifyCommand.Create(output, error));
        root.Subcommands.Add(HealthcheckCommand.Create(output, error));
        return root;
    }

    /// <summary>The first stop signal this process received, for the stop line of the log; null before one.</summary>
    internal static PosixSignal? StopSignal { get; private set; }

    public static async Task<int> InvokeAsync(string[] args, TextWriter output, TextWriter error)
    {
        var root = Build(output, error);
        var parse = root.Parse(args);
        var program = ProgramName.Current;
        if (parse.Errors.Count > 0)
        {
            foreach (var problem in parse.Errors)
            {
                await error.WriteLineAsync($"error: {problem.Message}");
            }

            await error.WriteLineAsync($"Run '{program} --help' to see the commands and options.");
            return ExitCodes.Usage;
        }

        if (parse.Action is System.CommandLine.Help.HelpAction && program != root.Name)
        {
            // The root command's name is the entry assembly's (sync), whatever the program was
            // started as; help is written aside and its usage lines given the started name.
            using var help = new StringWriter(System.Globalization.CultureInfo.InvariantCulture);
            var shown = await parse.InvokeAsync(new InvocationConfiguration { Output = help, Error = error });
            await output.WriteAsync(ProgramName.InUsage(help.ToString(), root.Name, program));
            return shown;
        }

        // The first SIGINT or SIGTERM stops reading: a batch already read is still applied,
        // checkpointed and acknowledged, however long its sink takes. A second one exits at once,
        // which is still safe: the checkpoint lives with the data.
        using var stop = new CancellationTokenSource();
        var signals = 0;
        var first = PosixSignal.SIGINT;
        void OnSignal(PosixSignalContext context)
        {
            context.Cancel = true;
            if (Interlocked.Increment(ref signals) == 1)
            {
                first = context.Signal;
                StopSignal = context.Signal;
                error.WriteLine("stopping after the batch in hand; signal again to exit at once");
                // Not Cancel(): that runs every cancellation callback on the one thread that delivers
                // signals, and a callback that blocks would hold back the second signal.
                _ = stop.CancelAsync();
            }
            else
            {
                Environment.Exit(ExitCodes.InterruptedBy(context.Signal));
            }
        }

        using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
        using var terminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
        var exit = await parse.InvokeAsync(new InvocationConfiguration { Output = output, Error = error, ProcessTerminationTimeout = null }, stop.Token);
        return exit == ExitCodes.Interrupted ? ExitCodes.InterruptedBy(first) : exit;
    }
}

/// <summary>Exit codes: 0 ok, 1 runtime failure, 2 bad usage or config, 3 finished with dead
/// letters (or found what a check looks for), 4 stopped by the error policy, 130/143 interrupted by SIGINT/SIGTERM before the end
/// (docs/operations.md, "Exit codes").</summary>
public static class ExitCodes
{
    public const int Ok = 0;
    public const int Failure = 1;
    public const int Usage = 2;

    /// <summary><c>run</c>, <c>backfill</c>, <c>dlq replay</c>: everything ran, but messages went to
    /// the dead-letter target (tolerated by <c>errors.tolerance: all</c>).</summary>
    public const int DeadLettered = 3;

    /// <summary><c>check</c>, <c>audit topics</c>, <c>verify</c>, <c>ledger verify</c>, <c>erase</c>: the
    /// command ran to its end and found what it reports on: a component's error, messages out of
    /// erasure's reach, drift, residue of an erased subject, or an erasure left incomplete.</summary>
    public const int Found = 3;

    /// <summary><c>run</c>, <c>backfill</c>: a materializer was stopped by its error policy
    /// (<c>errors.tolerance: none</c> or <c>errors.maxDeadLetters</c>).</summary>
    public const int StoppedByErrorPolicy = 4;

    /// <summary><c>run</c>, <c>backfill</c>: a stop request (SIGINT, SIGTERM) came before the end of
    /// a source that has one; commands return it and the process exits with
    /// <see cref="InterruptedBy"/> of the signal. A source without an end (a followed file, a Pulsar
    /// subscription in <c>run</c>) stopped on request is a normal stop instead (0).</summary>
    public const int Interrupted = 130;

    /// <summary>128 + the signal's number, as shells report a command killed by it: 130 for SIGINT,
    /// 143 for SIGTERM.</summary>
    public static int InterruptedBy(PosixSignal signal) => signal == PosixSignal.SIGTERM ? 143 : 130;
}
