namespace Sync.Sinks;

/// <summary>The schedule of a sink's idle probe: nothing goes to the store between an idle sink's calls,
/// so a store restarted, restored or swapped under it would be noticed only at its next call. While no
/// call used the store for <c>interval</c> (on the sink's clock, so tests move it), <c>probe</c> asks it
/// once, then again every <c>interval</c> the sink stays idle; until <c>stop</c> is cancelled.</summary>
public static class IdleProbe
{
    /// <summary>Starts the probe loop, or nothing when <paramref name="interval"/> is zero (probing off).
    /// A failed probe does not end the loop: the sink's next call meets the failure with its retries.</summary>
    public static Task Start(TimeProvider time, TimeSpan interval, Func<DateTimeOffset> lastUsed, Func<CancellationToken, Task> probe, CancellationToken stop)
    {
        ArgumentNullException.ThrowIfNull(time);
        ArgumentNullException.ThrowIfNull(lastUsed);
        ArgumentNullException.ThrowIfNull(probe);
        return interval > TimeSpan.Zero ? Task.Run(() => RunAsync(time, interval, lastUsed, probe, stop), CancellationToken.None) : Task.CompletedTask;
    }

    private static async Task RunAsync(TimeProvider time, TimeSpan interval, Func<DateTimeOffset> lastUsed, Func<CancellationToken, Task> probe, CancellationToken stop)
    {
        try
        {
            while (true)
            {
                var idle = time.GetUtcNow() - lastUsed();
                if (idle < interval)
                {
                    await Task.Delay(interval - idle, time, stop);
                    continue;
                }

                // The sink's own failure handling sees a store that does not answer; the loop goes on.
                await AskAsync(probe, stop);
                await Task.Delay(interval, time, stop);
            }
        }
        catch (Exception e) when (e is not OutOfMemoryException && stop.IsCancellationRequested)
        {
            // The sink is disposed. A probe in flight then ends in whatever its client makes of the
            // cancellation: Elasticsearch's transport wraps it in an UnexpectedTransportException.
        }
    }

    /// <summary>Asks the store once; true when it answered. Any failure, a cancellation that is not
    /// <paramref name="stop"/>'s included (a client's request timeout), is a failed request, not a stop,
    /// and returns false; only <paramref name="stop"/> ends it with an exception.</summary>
    public static async Task<bool> AskAsync(Func<CancellationToken, Task> probe, CancellationToken stop)
    {
        ArgumentNullException.ThrowIfNull(probe);
        try
        {
            await probe(stop);
            return true;
        }
        catch (Exception e) when (e is not OutOfMemoryException && !stop.IsCancellationRequested)
        {
            return false;
        }
    }
}
