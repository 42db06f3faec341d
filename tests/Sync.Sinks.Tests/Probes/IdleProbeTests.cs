using Sync.Sinks;

namespace Sync.Sinks.Tests.Probes;

public sealed class IdleProbeTests
{
    [Fact]
    public async Task A_probe_in_flight_when_the_sink_is_disposed_ends_the_loop_quietly_whatever_its_client_throws()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 12, 7, 1, 0, 0, TimeSpan.Zero));
        using var stop = new CancellationTokenSource();
        var probing = new TaskCompletionSource();

        // Elasticsearch's transport turns a cancelled request into an UnexpectedTransportException, not an
        // OperationCanceledException; any client may do likewise.
        var loop = IdleProbe.Start(
            time,
            TimeSpan.FromSeconds(5),
            () => time.GetUtcNow() - TimeSpan.FromMinutes(1),
            async token =>
            {
                probing.TrySetResult();
                try
                {
                    await Task.Delay(Timeout.InfiniteTimeSpan, token);
                }
                catch (OperationCanceledException e)
                {
                    throw new InvalidOperationException("the client's own wrapping of a cancelled request", e);
                }
            },
            stop.Token);

        await probing.Task.WaitAsync(TimeSpan.FromSeconds(30));
        await stop.CancelAsync();

        await loop.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.True(loop.IsCompletedSuccessfully);
    }

    [Fact]
    public async Task A_failed_probe_while_the_sink_lives_does_not_end_the_loop()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 12, 7, 1, 0, 0, TimeSpan.Zero));
        using var stop = new CancellationTokenSource();
        var probes = 0;
        var loop = IdleProbe.Start(
            time,
            TimeSpan.FromSeconds(5),
            () => DateTimeOffset.MinValue,
            _ =>
            {
                Interlocked.Increment(ref probes);
                throw new InvalidOperationException("no answer");
            },
            stop.Token);

        await Poll.UntilAsync(
            () =>
            {
                time.Advance(TimeSpan.FromSeconds(5));
                return Volatile.Read(ref probes) >= 3;
            },
            TimeSpan.FromSeconds(60));

        Assert.False(loop.IsCompleted);
        await stop.CancelAsync();
        await loop.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.True(loop.IsCompletedSuccessfully);
    }
}
