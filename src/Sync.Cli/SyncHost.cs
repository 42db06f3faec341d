using Microsoft.Extensions.Logging;
using Sync.Cli.Output;
using Sync.Engine.Config;
using Sync.Engine.Formats;
using Sync.Compliance.Ledger;
using Sync.Engine.Runtime;
using Sync.Sinks;

namespace Sync.Cli;

/// <summary>Wires config, components and output together for the commands.</summary>
internal static class SyncHost
{
    public static SyncComponents Components() =>
        new(SyncComponents.EngineSources, SinkCatalog.All, MessageFormats.Names, MessageFormats.Create);

    public static async Task PrintProblemsAsync(TextWriter error, ConfigException e)
    {
        var problems = e.Problems;
        await error.WriteLineAsync(problems.Count == 1 ? "The config has 1 problem:" : $"The config has {problems.Count} problems:");
        foreach (var problem in problems)
        {
            await error.WriteLineAsync($"  {problem}");
        }
    }

    public static async Task<int> RunAsync(FileInfo configFile, IReadOnlyCollection<string> names, RunMode mode, LogLevel logLevel, TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        SyncConfig config;
        var components = Components();
        try
        {
            config = ConfigLoader.Load(configFile.FullName, components.Types);
        }
        catch (ConfigException e)
        {
            await PrintProblemsAsync(error, e);
            return ExitCodes.Usage;
        }

        using var loggerFactory = LoggerFactory.Create(builder => builder
            .SetMinimumLevel(logLevel)
            .AddSimpleConsole(o =>
            {
                o.SingleLine = true;
                o.TimestampFormat = "HH:mm:ss.fff ";
                o.UseUtcTimestamp = true;
            })
            .AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace));

        WarnAboutInsecureTransport(config, loggerFactory.CreateLogger("Sync.Security"));
        var runtime = new SyncRuntime(config, components, loggerFactory, name => LedgerSuppressionFilter.For(config, name));
        IReadOnlyList<MaterializerOutcome> outcomes;
        try
        {
            runtime.Select(names);
            outcomes = await runtime.RunAsync(names, mode, cancellationToken);
        }
        catch (ConfigException e)
        {
            await PrintProblemsAsync(error, e);
            return ExitCodes.Usage;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            await error.WriteLineAsync("stopped before any batch was applied");
            return ExitCodes.Ok;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            await error.WriteLineAsync($"error: {e.Message}");
            return ExitCodes.Failure;
        }

        SummaryTable.Write(output, mode, outcomes);
        var failed = outcomes.Where(o => o.Failure is not null).ToList();
        foreach (var outcome in failed)
        {
            await error.WriteLineAsync($"error: materializer {outcome.Name} failed: {outcome.Failure!.Message}");
        }

        return failed.Count > 0 ? ExitCodes.Failure : ExitCodes.Ok;
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
}
