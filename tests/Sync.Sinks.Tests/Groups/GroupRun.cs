using Microsoft.Extensions.Logging;

namespace Sync.Sinks.Tests.Groups;

/// <summary>An in-process <c>sync run</c> (or <c>sync backfill</c>) of a config that holds a consistency
/// group, with the counters of each member it started; disposing it stops the run and waits for its end.</summary>
internal sealed class GroupRun : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly List<(string Member, MaterializerCounters Counters)> _started = [];

    public GroupRun(SyncConfig config, SyncComponents components, ILoggerFactory logs, RunMode mode = RunMode.Resume, bool shadow = false)
    {
        Config = config;
        Components = components;
        var runtime = new SyncRuntime(config, components, logs)
        {
            Shadow = shadow,
            Started = (name, counters) =>
            {
                lock (_started)
                {
                    _started.Add((name, counters));
                }
            },
        };
        Outcome = runtime.RunAsync([], mode, _stop.Token);
    }

    public SyncConfig Config { get; }

    public SyncComponents Components { get; }

    /// <summary>The run's outcome: a backfill ends by itself once it read every topic to its end.</summary>
    public Task<IReadOnlyList<MaterializerOutcome>> Outcome { get; }

    /// <summary>The most sink rollbacks any member counted.</summary>
    public long Rollbacks
    {
        get
        {
            lock (_started)
            {
                return _started.Count == 0 ? 0 : _started.Max(s => s.Counters.Rollbacks);
            }
        }
    }

    /// <summary>Whether <paramref name="member"/>, as last started, reports that its source went back in time.</summary>
    public bool Regressed(string member)
    {
        lock (_started)
        {
            return _started.FindLast(s => s.Member == member) is { Counters: { } counters } && counters.SourceRegression is not null;
        }
    }

    /// <summary>Throws with the run's failures once it ended.</summary>
    public async Task ThrowIfEndedAsync()
    {
        if (Outcome.IsCompleted)
        {
            var failures = (await Outcome).Select(o => o.Failure?.Message).Where(m => m is not null);
            throw new InvalidOperationException($"the group's run ended: {string.Join("; ", failures)}");
        }
    }

    /// <summary>False while the run goes on; throws with its failures once it ended.</summary>
    public async Task<bool> EndedAsync()
    {
        await ThrowIfEndedAsync();
        return false;
    }

    public async ValueTask DisposeAsync()
    {
        using (_stop)
        {
            await _stop.CancelAsync();
            await Outcome;
        }
    }
}
