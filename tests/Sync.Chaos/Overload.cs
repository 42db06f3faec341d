using System.Diagnostics;

namespace Sync.Chaos;

/// <summary>What an overload run measured.</summary>
public sealed record OverloadResult(int Rate, int BurstRate, long BurstMessages, TimeSpan BurstTime, long PeakRssBytes, long SteadyRssBytes, TimeSpan CatchUp, int Lost, int Duplicated, bool CaughtUp)
{
    public bool Passed => CaughtUp && Lost == 0 && Duplicated == 0;

    public string FigureLine => $"burst: {BurstMessages} changes at {BurstMessages / Math.Max(BurstTime.TotalSeconds, 0.001):0}/s, peak RSS: {PeakRssBytes / 1048576.0:0} MB, catch-up: {CatchUp.TotalSeconds:0.0} s, lost: {Lost}, duplicated: {Duplicated}";

    /// <summary>Changes per second all three materializers applied from the start of the burst until caught up.</summary>
    public double DrainRate => BurstMessages / Math.Max((BurstTime + CatchUp).TotalSeconds, 0.001);

    public string Describe() => $"steady rate {Rate}/s (peak RSS {SteadyRssBytes / 1048576.0:0} MB), then a burst asked at {BurstRate}/s for {BurstTime.TotalSeconds:0.0} s; sync drained it at {DrainRate:0}/s into each of the three sinks";
}

/// <summary>
/// Overload: sync run materializes a steady stream, then a burst at ten times that rate arrives;
/// the process's peak RSS (VmHWM) is sampled throughout, and the time from the end of the burst
/// until every sink matches the model again is the catch-up time.
/// </summary>
public sealed class Overload(CampaignOptions options, TimeSpan burst)
{
    public async Task<OverloadResult> RunAsync()
    {
        await using var environment = await Campaign.CampaignEnvironment.StartAsync(options);
        environment.StartSync();
        long peak = 0;
        using var stopSampling = new CancellationTokenSource();
        var sampling = Task.Run(async () =>
        {
            while (!stopSampling.IsCancellationRequested)
            {
                peak = Math.Max(peak, environment.Sync.PeakRss() ?? 0);
                await Task.Delay(100, CancellationToken.None);
            }
        });

        // Steady state first: the steady stream for a while, caught up.
        using (var steady = new CancellationTokenSource(options.SteadyTime))
        {
            await environment.Publisher.PublishAtRateAsync(options.Rate, steady.Token);
        }

        await environment.CatchUpAsync(options.CatchUpTimeout, CancellationToken.None);
        var steadyPeak = peak;

        var before = environment.Model.Published;
        var clock = Stopwatch.StartNew();
        using (var burstWindow = new CancellationTokenSource(burst))
        {
            await environment.Publisher.PublishPipelinedAsync(options.Rate * 10, burstWindow.Token);
        }

        var burstTime = clock.Elapsed;
        var burstMessages = environment.Model.Published - before;
        clock.Restart();
        var comparisons = await environment.CatchUpAsync(options.CatchUpTimeout, CancellationToken.None);
        var catchUp = clock.Elapsed;
        await stopSampling.CancelAsync();
        await sampling;
        return new OverloadResult(
            options.Rate,
            options.Rate * 10,
            burstMessages,
            burstTime,
            peak,
            steadyPeak,
            catchUp,
            comparisons.Sum(c => c.Lost),
            comparisons.Sum(c => c.Duplicated),
            comparisons.All(c => c.Matches));
    }
}
