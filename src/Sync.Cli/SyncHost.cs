using System.Reflection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;
using Sync.Cli.Logging;
using Sync.Engine.Formats;
using Sync.Compliance.Ledger;
using Sync.Sinks;
using Sync.Sources;

namespace Sync.Cli;

/// <summary>Wires config, components and output together for the commands.</summary>
internal static class SyncHost
{
    public static SyncComponents Components() =>
        new(SourceCatalog.All, SinkCatalog.All, MessageFormats.Names, MessageFormats.Create);

    /// <summary>Loads a command's config; a bad one is printed with every problem and gives null,
    /// on which the command exits with <see cref="ExitCodes.Usage"/>.</summary>
    public static async Task<SyncConfig?> LoadConfigAsync(FileInfo file, SyncComponents components, TextWriter error)
    {
        try
        {
            return ConfigLoader.Load(file.FullName, components.Types);
        }
        catch (ConfigException e)
        {
            await PrintProblemsAsync(error, e);
            return null;
        }
    }

    /// <summary>Loads the config and runs a command's work on it: a config problem is a usage error;
    /// any other failure is reported by its message, so an unreachable broker or database ends the command
    /// with a sentence rather than a stack trace.</summary>
    public static async Task<int> RunWithConfigAsync(FileInfo file, SyncComponents components, TextWriter error, Func<SyncConfig, Task<int>> work)
    {
        try
        {
            return await work(ConfigLoader.Load(file.FullName, components.Types));
        }
        catch (ConfigException e)
        {
            await PrintProblemsAsync(error, e);
            return ExitCodes.Usage;
        }
        catch (Exception e) when (e is not OutOfMemoryException and not OperationCanceledException)
        {
            await error.WriteLineAsync($"error: {e.Message}");
            return ExitCodes.Failure;
        }
    }

    public static async Task PrintProblemsAsync(TextWriter error, ConfigException e)
    {
        var problems = e.Problems;
        await error.WriteLineAsync(problems.Count == 1 ? "The config has 1 problem:" : $"The config has {problems.Count} problems:");
        foreach (var problem in problems)
        {
            await error.WriteLineAsync($"  {problem}");
        }
    }

    private static async Task<Metrics.MetricsServer?> StartMetricsAsync(Metrics.MetricsEndpoint endpoint, SyncMetrics metrics, TextWriter error)
    {
        try
        {
            var server = Metrics.MetricsServer.Start(endpoint, metrics);
            await error.WriteLineAsync(endpoint.IsAllInterfaces
                ? $"serving /metrics, /healthz and /readyz on port {server.Port}"
                : $"serving /metrics, /healthz and /readyz on {endpoint.Address} port {server.Port}");
            return server;
        }
        catch (IOException e)
        {
            await error.WriteLineAsync($"error: {e.Message}");
            return null;
        }
    }

    /// <summary>Log lines on standard error, one per event, at <paramref name="logLevel"/> and above:
    /// readable text, or one JSON object per line (<see cref="JsonLinesFormatter"/>).</summary>
    public static ILoggerFactory Logging(LogLevel logLevel, LogFormat format = LogFormat.Text) => LoggerFactory.Create(builder =>
    {
        builder.SetMinimumLevel(logLevel);
        if (format == LogFormat.Json)
        {
            builder
                .AddConsole(o =>
                {
                    o.FormatterName = JsonLinesFormatter.FormatterName;
                    o.LogToStandardErrorThreshold = LogLevel.Trace;
                })
                .AddConsoleFormatter<JsonLinesFormatter, ConsoleFormatterOptions>();
            return;
        }

        builder
            .AddSimpleConsole(o =>
            {
                o.SingleLine = true;
                o.TimestampFormat = "HH:mm:ss.fff ";
                o.UseUtcTimestamp = true;
            })
            .AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
    });

    /// <summary>The version the program reports (<c>--version</c> and the start line).</summary>
    public static string Version =>
        typeof(SyncHost).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion is { } version
            ? version.Split('+')[0]
            : "unknown";

    public static async Task<int> RunAsync(FileInfo configFile, IReadOnlyCollection<string> names, RunMode mode, LogLevel logLevel, TextWriter output, TextWriter error, CancellationToken cancellationToken, Metrics.MetricsEndpoint? metricsPort = null, bool showProgress = false, bool shadow = false, bool keepOld = false, bool stopAllOnFailure = false, BackfillStart? from = null, LogFormat logFormat = LogFormat.Text)
    {
        using var loggerFactory = Logging(logLevel, logFormat);
        var lifecycle = loggerFactory.CreateLogger(HostLog.Category);
        HostLog.Starting(lifecycle, Version, mode == RunMode.Backfill ? "backfill" : "run", configFile.FullName);
        var exit = await RunLoggedAsync(configFile, names, mode, loggerFactory, output, error, cancellationToken, metricsPort, showProgress, shadow, keepOld, stopAllOnFailure, from);
        // A run stopped before its end returns 130; the process exits 128 + the signal's number.
        var signal = SyncCli.StopSignal;
        HostLog.Stopping(
            lifecycle,
            StopReason(exit, cancellationToken.IsCancellationRequested).Replace("signal", signal is { } s ? $"signal {s}" : "signal", StringComparison.Ordinal),
            exit == ExitCodes.Interrupted && signal is { } stoppedBy ? ExitCodes.InterruptedBy(stoppedBy) : exit);
        return exit;
    }

    /// <summary>Why the process stops, in the words of the exit code (docs/operations.md, "Exit codes").</summary>
    private static string StopReason(int exit, bool signalled) => exit switch
    {
        ExitCodes.Ok or ExitCodes.DeadLettered when signalled => "signal: stopped on request",
        ExitCodes.Ok => "finished",
        ExitCodes.DeadLettered => "finished with dead letters",
        ExitCodes.Usage => "error in the command line or config",
        ExitCodes.StoppedByErrorPolicy => "error: stopped by the error policy",
        ExitCodes.Interrupted => "signal: interrupted before the end",
        _ => "error",
    };

    private static async Task<int> RunLoggedAsync(FileInfo configFile, IReadOnlyCollection<string> names, RunMode mode, ILoggerFactory loggerFactory, TextWriter output, TextWriter error, CancellationToken cancellationToken, Metrics.MetricsEndpoint? metricsPort, bool showProgress, bool shadow, bool keepOld, bool stopAllOnFailure, BackfillStart? from)
    {
        var components = Components();
        if (await LoadConfigAsync(configFile, components, error) is not { } config)
        {
            return ExitCodes.Usage;
        }

        HostLog.ConfigLoaded(
            loggerFactory.CreateLogger(HostLog.Category),
            config.Materializers.Count,
            string.Join(", ", config.Materializers.Select(m => m.Key)),
            config.Sources.Count,
            string.Join(", ", config.Sources.Keys),
            config.Sinks.Count,
            string.Join(", ", config.Sinks.Keys),
            names.Count == 0 ? "all" : string.Join(", ", names));

        WarnAboutInsecureTransport(config, loggerFactory.CreateLogger("Sync.Security"));
        using var sourceOrderWarnings = SourceOrderWarnings.LogTo(loggerFactory.CreateLogger("Sync.SourceOrder"));
        await using var backlog = new Metrics.TopicBacklog(config, components);
        using var metrics = new SyncMetrics { TopicEnds = backlog.EndsAsync };
        await using var metricsServer = metricsPort is { } endpoint ? await StartMetricsAsync(endpoint, metrics, error) : null;
        if (metricsPort is not null && metricsServer is null)
        {
            return ExitCodes.Failure;
        }

        BackfillProgress? progress = null;
        IReadOnlyList<MaterializerOutcome> outcomes;
        await using var suppression = new LedgerSuppression(config, components);
        try
        {
            var runtime = new SyncRuntime(config, components, loggerFactory, suppression.Filter)
            {
                Metrics = metrics,
                Started = (name, counters) => progress?.Track(name, counters),
                Shadow = shadow,
                KeepOld = keepOld,
                StopAllOnFailure = stopAllOnFailure,
                BackfillFrom = from ?? BackfillStart.Earliest,
            };
            var selected = runtime.Select(names);
            if (showProgress)
            {
                progress = await BackfillProgress.StartAsync(config, components, selected, error, cancellationToken, countTotals: from is null || from.IsEarliest);
            }

            outcomes = await runtime.RunAsync(names, mode, cancellationToken);
            if (progress is not null)
            {
                await progress.FinishAsync(outcomes);
            }
        }
        catch (ConfigException e)
        {
            await PrintProblemsAsync(error, e);
            return ExitCodes.Usage;
        }
        catch (BackfillStartException e)
        {
            await error.WriteLineAsync($"error: {e.Message}");
            return ExitCodes.Usage;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Stopped while sinks or sources were still opening: a service without an end stopped
            // normally; anything else did not finish.
            var runtime = new SyncRuntime(config, components, loggerFactory);
            if (runtime.Select(names).All(m => runtime.HasNoEnd(m.Key, mode)))
            {
                await error.WriteLineAsync("stopped before any batch was applied");
                return ExitCodes.Ok;
            }

            await error.WriteLineAsync($"interrupted before any batch was applied: the {(mode == RunMode.Backfill ? "backfill" : "run")} did not finish; run it again to go on");
            return ExitCodes.Interrupted;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            await error.WriteLineAsync($"error: {e.Message}");
            return ExitCodes.Failure;
        }
        finally
        {
            if (progress is not null)
            {
                await progress.DisposeAsync();
            }
        }

        SummaryTable.Write(output, mode, outcomes);
        foreach (var outcome in outcomes.Where(o => o.Swap is not null))
        {
            var swap = outcome.Swap!;
            await output.WriteLineAsync($"{outcome.Name}: the shadow is live as {swap.Live}; the old data was {swap.Old}; {swap.ErasureMarkersCarried} erasure markers carried over");
        }

        foreach (var outcome in outcomes.Where(o => shadow && o.Swap is null && o.Failure is null))
        {
            await output.WriteLineAsync($"{outcome.Name}: interrupted before the end; the live target is untouched and a rerun rebuilds the shadow");
        }

        var interrupted = outcomes.Where(o => o.Failure is null && o.End == MaterializerEnd.Interrupted).Select(o => o.Name).ToList();
        if (interrupted.Count > 0)
        {
            await error.WriteLineAsync($"interrupted: {string.Join(", ", interrupted)} stopped before the end of {(interrupted.Count == 1 ? "its source" : "their sources")}; what was read is applied and checkpointed, and a rerun goes on from there");
        }

        var failed = outcomes.Where(o => o.Failure is not null).ToList();
        foreach (var outcome in failed)
        {
            await error.WriteLineAsync(outcome.Failure is ErrorPolicyException
                ? $"error: materializer {outcome.Name} stopped by its error policy: {outcome.Failure.Message}"
                : $"error: materializer {outcome.Name} failed: {outcome.Failure!.Message}");
        }

        return ExitCode(outcomes);
    }

    /// <summary>The worst outcome decides: a --from that only the source could check (a partition of
    /// a topic) is a usage error (2), another failure 1, a stop by the error policy 4, a stop request
    /// before a source's end 130 (<see cref="ExitCodes.Interrupted"/>), dead letters tolerated by
    /// errors.tolerance all 3, else 0 (a source without an end stopped on request included).</summary>
    private static int ExitCode(IReadOnlyList<MaterializerOutcome> outcomes)
    {
        var failed = outcomes.Where(o => o.Failure is not null).ToList();
        if (failed.Count > 0 && failed.All(o => o.Failure is BackfillStartException))
        {
            return ExitCodes.Usage;
        }

        if (failed.Any(o => o.Failure is not ErrorPolicyException))
        {
            return ExitCodes.Failure;
        }

        return failed.Count > 0 ? ExitCodes.StoppedByErrorPolicy
            : outcomes.Any(o => o.End == MaterializerEnd.Interrupted) ? ExitCodes.Interrupted
            : outcomes.Any(o => o.Counters.DeadLettered > 0) ? ExitCodes.DeadLettered
            : ExitCodes.Ok;
    }

    /// <summary>Every setting that turns a certificate check or encryption off is logged as a
    /// warning at each start: allowed, never silent.</summary>
    private static void WarnAboutInsecureTransport(SyncConfig config, ILogger logger)
    {
        var components = config.Sources.Values.Select(c => ($"sources.{c.Name}", c.Options))
            .Concat(config.Sinks.Values.Select(c => ($"sinks.{c.Name}", c.Options)));
        foreach (var (path, options) in components)
        {
            if (options is IReportsInsecureTransport transport)
            {
                foreach (var warning in transport.InsecureTransport(path))
                {
                    logger.LogWarning("Insecure transport: {Warning}", warning);
                }
            }
        }
    }

    /// <summary>Logs <see cref="SourceOrder.Warning"/> (source coordinates that do not fit the 64-bit
    /// order) while a command runs; disposing stops it, since the event outlives the logger.</summary>
    private sealed class SourceOrderWarnings : IDisposable
    {
        private readonly ILogger _logger;

        private SourceOrderWarnings(ILogger logger) => _logger = logger;

        public static SourceOrderWarnings LogTo(ILogger logger)
        {
            var warnings = new SourceOrderWarnings(logger);
            SourceOrder.Warning += warnings.Log;
            return warnings;
        }

        public void Dispose() => SourceOrder.Warning -= Log;

        private void Log(string message) => _logger.LogWarning("{Warning}", message);
    }
}
