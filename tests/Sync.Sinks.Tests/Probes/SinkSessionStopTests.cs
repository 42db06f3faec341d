using Sync.Sinks;

namespace Sync.Sinks.Tests.Probes;

public sealed class SinkSessionStopTests
{
    private sealed class Connection;

    [Fact]
    public async Task Disposing_waits_for_the_probes_before_it_closes_the_connection_and_a_late_probe_still_reads_a_cancelled_token()
    {
        var events = new List<string>();
        var session = new SinkSession<Connection>(
            this,
            _ => Task.FromResult(new Connection()),
            _ =>
            {
                lock (events)
                {
                    events.Add("closed");
                }

                return ValueTask.CompletedTask;
            },
            new SinkFailures(_ => null),
            RetryPolicy.Default,
            TimeProvider.System);
        await session.RunAsync("open", (_, _) => Task.FromResult(0), CancellationToken.None);
        var probeStarted = new TaskCompletionSource();
        session.AddProbe(Task.Run(async () =>
        {
            probeStarted.SetResult();
            try
            {
                await Task.Delay(Timeout.InfiniteTimeSpan, session.Stopping);
            }
            catch (OperationCanceledException)
            {
                lock (events)
                {
                    events.Add("probe ended");
                }
            }
        }));
        await probeStarted.Task;

        await session.DisposeAsync();

        Assert.Equal(["probe ended", "closed"], events);
        Assert.True(session.IsStopping);

        // A probe that checked IsStopping an instant before disposing began reads the token after it.
        Assert.True(session.Stopping.IsCancellationRequested);
    }
}
