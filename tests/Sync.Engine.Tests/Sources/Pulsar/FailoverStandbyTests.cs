namespace Sync.Engine.Tests.Sources.Pulsar;

/// <summary>
/// Two processes on one failover subscription (the default): the broker dispatches to one and
/// tells the other it stands by (ACTIVE_CONSUMER_CHANGE, apache/pulsar
/// AbstractDispatcherSingleActiveConsumer.addConsumer). The standby's health says <c>standby</c>
/// rather than <c>running</c>, so an operator can tell the idle process from a stuck one; when the
/// active process stops, the standby is told it took over and reads on.
/// </summary>
public sealed class FailoverStandbyTests : PulsarSourceFixture
{
    [Fact]
    public async Task The_standby_process_reports_standby_until_the_active_one_stops_and_then_takes_over()
    {
        var topic = NewTopic("standby");
        var config = Config($"topics: [{topic}]");
        using var firstMetrics = new SyncMetrics();
        using var secondMetrics = new SyncMetrics();
        using var stopFirst = new CancellationTokenSource();
        using var stopSecond = new CancellationTokenSource();
        var first = new SyncRuntime(config, Components, NullLoggerFactory.Instance) { Metrics = firstMetrics }.RunAsync([], RunMode.Resume, stopFirst.Token);
        await UntilAsync(() => firstMetrics.Health() is [{ State: MaterializerState.Running }]);
        // Running says the materializer started, not that its consumer is subscribed: a message it
        // applied does, so the first process is the active consumer before the second one joins.
        await using (var producer = await ProducerAsync(topic))
        {
            await PublishAsync(producer, 1, "c", "ann", 10);
        }

        await UntilAsync(() => Sink.Rows("users").Count == 1);
        var second = new SyncRuntime(config, Components, NullLoggerFactory.Instance) { Metrics = secondMetrics }.RunAsync([], RunMode.Resume, stopSecond.Token);

        await UntilAsync(() => secondMetrics.Health() is [{ State: MaterializerState.Standby }], () => string.Join("; ", secondMetrics.Health().Select(h => $"{h.State} {h.Error}")));
        Assert.Equal(MaterializerState.Running, firstMetrics.Health()[0].State);

        await stopFirst.CancelAsync();
        Assert.Null(Assert.Single(await first).Failure);
        await UntilAsync(() => secondMetrics.Health() is [{ State: MaterializerState.Running }]);
        await using (var producer = await ProducerAsync(topic))
        {
            await PublishAsync(producer, 2, "c", "bob", 20);
        }

        await UntilAsync(() => Sink.Rows("users").Count == 2);
        await stopSecond.CancelAsync();
        Assert.Null(Assert.Single(await second).Failure);
    }

    private static async Task UntilAsync(Func<bool> done, Func<string>? state = null)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (!done())
        {
            Assert.True(DateTime.UtcNow < deadline, $"not reached within {Patience}{(state is null ? "" : $"; state: {state()}")}");
            await Task.Delay(10);
        }
    }
}
