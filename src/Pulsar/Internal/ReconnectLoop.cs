namespace Sync.Pulsar.Internal;

/// <summary>The retry loop a producer or consumer runs after losing its broker: wait, try to
/// register again, and back off (doubling up to the client's maximum) while the error is one a new
/// lookup can fix. Ends when registered, when shut down, or with a fatal error.</summary>
internal static class ReconnectLoop
{
    /// <summary>The client's meter, for any System.Diagnostics.Metrics listener.</summary>
    public const string MeterName = "Sync.Pulsar";

    private static readonly System.Diagnostics.Metrics.Meter Meter = new(MeterName);

    private static readonly System.Diagnostics.Metrics.Counter<long> Reconnects =
        Meter.CreateCounter<long>("client.reconnects", "{reconnect}", "Producers and consumers registered again after losing their broker.");

    private static readonly System.Diagnostics.Metrics.Counter<long> FailedAttempts =
        Meter.CreateCounter<long>("client.reconnect_failures", "{attempt}", "Attempts to register again that failed and were retried after a backoff.");

    /// <param name="register">Looks the topic up again and registers; throws on failure.</param>
    /// <param name="isFatal">Errors that no new lookup can fix.</param>
    /// <param name="retrying">Called with each fixable error and the next delay.</param>
    /// <param name="failed">Called once with a fatal error.</param>
    public static async Task RunAsync(
        PulsarClientOptions options,
        Func<CancellationToken, Task> register,
        Func<Exception, bool> isFatal,
        Action<PulsarException, TimeSpan> retrying,
        Action<PulsarException> failed,
        CancellationToken shutdown)
    {
        var delay = options.RetryInitialDelay;
        while (true)
        {
            try
            {
                await Task.Delay(delay, shutdown);
                await register(shutdown);
                Reconnects.Add(1);
                return;
            }
            catch (OperationCanceledException) when (shutdown.IsCancellationRequested)
            {
                return;
            }
            catch (ObjectDisposedException)
            {
                // The client was disposed under us: nothing left to reconnect through.
                return;
            }
            catch (PulsarException e) when (!isFatal(e))
            {
                FailedAttempts.Add(1);
                retrying(e, delay);
            }
            catch (PulsarException e)
            {
                failed(e);
                return;
            }

            delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, options.RetryMaxDelay.Ticks));
        }
    }
}
