using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Sync.Sinks.Tests;

/// <summary>An in-process <c>sync run</c> of a config with one materializer, as one process of a fleet
/// (under <c>instance</c> when named), and that materializer's counters once it started.</summary>
internal sealed record InProcessRun(Task Run, Func<MaterializerCounters?> Counters)
{
    public static InProcessRun Start(SyncConfig config, SyncComponents components, CancellationToken stop, string? instance = null, ILoggerFactory? logs = null)
    {
        MaterializerCounters? counters = null;
        var run = new SyncRuntime(config, components, logs ?? NullLoggerFactory.Instance)
        {
            Instance = instance,
            Started = (_, c) => Volatile.Write(ref counters, c),
        }.RunAsync([], RunMode.Resume, stop);
        return new InProcessRun(run, () => Volatile.Read(ref counters));
    }

    /// <summary>Cancels <paramref name="stop"/> and waits until each of <paramref name="runs"/> ended.</summary>
    public static async Task StopAsync(CancellationTokenSource stop, params Task[] runs)
    {
        await stop.CancelAsync();
        foreach (var run in runs)
        {
            try
            {
                await run;
            }
            catch (OperationCanceledException)
            {
            }
        }
    }
}
