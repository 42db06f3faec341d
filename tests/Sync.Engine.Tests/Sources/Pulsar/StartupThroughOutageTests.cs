using Microsoft.Extensions.Logging;
using Sync.Sources.Pulsar;
using Sync.Testing.Logging;
using Sync.Testing.Pulsar;

namespace Sync.Engine.Tests.Sources.Pulsar;

/// <summary>
/// <c>sync run</c> started while the broker is down: its ports refuse, or it closes each connection
/// right after accepting it (a broker starting or stopping; Kubernetes restarting it during an
/// upgrade). The start (the admin check of the subscription against the sink's checkpoint, then the
/// first subscription) waits within <c>subscribeRetryTimeout</c>, says at once what it waits for,
/// reports the materializer degraded, and catches up when the broker is back. The retry timing runs
/// on a fake clock, so the test moves time instead of sleeping through backoffs.
/// </summary>
public sealed class StartupThroughOutageTests : PulsarSourceFixture
{
    private readonly FakeTimeProvider _clock = new();
    private readonly RecordingLoggerFactory _logs = new();

    public static TheoryData<string, bool> Outages => new()
    {
        { "refusing", true },
        { "refusing", false },
        { "closing", true },
        { "closing", false },
    };

    [Theory]
    [MemberData(nameof(Outages))]
    public async Task A_run_started_during_a_broker_outage_waits_reports_degraded_and_catches_up_when_the_broker_returns(string outage, bool adminAndCheckpoint)
    {
        var topic = NewTopic($"outage-{outage}");
        await using (var producer = await ProducerAsync(topic))
        {
            await PublishAsync(producer, 1, "c", "ann", 10);
            await PublishAsync(producer, 2, "c", "bob", 11);
            if (adminAndCheckpoint)
            {
                // A first run stores a checkpoint in the sink, so the next start checks the
                // subscription against it through the admin API.
                await RunUntilAsync(Config($"topics: [{topic}]"), () => Sink.Received.Count == 2);
                Assert.NotEmpty(Sink.Checkpoint("users"));
            }

            await PublishAsync(producer, 3, "c", "cy", 12);
            await PublishAsync(producer, 1, "u", "ann2", 13);
        }

        await using var brokerGate = new FakeBrokerGate(Broker.ServiceUrl);
        await using var adminGate = new FakeBrokerGate(Broker.AdminUrl);
        if (outage == "closing")
        {
            brokerGate.CloseConnections();
            adminGate.CloseConnections();
        }

        var admin = adminAndCheckpoint ? $"adminUrl: {adminGate.UrlLike(Broker.AdminUrl)}" : string.Empty;
        var config = ConfigLoader.Parse(
            $"""
            sources:
              broker:
                type: pulsar
                serviceUrl: {brokerGate.UrlLike(Broker.ServiceUrl)}
                {admin}
                subscribeRetryTimeout: 2m
            sinks:
              ref: {"{"} type: observed {"}"}
            materializers:
              users:
                source: broker
                topics: [{topic}]
                sink: ref
                table: users
                batchSize: 4
                linger: 20ms
            """,
            Path.Combine(Path.GetTempPath(), "sync.yaml"),
            Components.Types,
            _ => null);
        var components = new SyncComponents([new PulsarSourceFactory(_clock)], [new ObservedSinkFactory(Sink)], MessageFormats.Names, MessageFormats.Create);
        using var metrics = new SyncMetrics();
        using var stop = new CancellationTokenSource();
        var run = new SyncRuntime(config, components, _logs) { Metrics = metrics }.RunAsync([], RunMode.Resume, stop.Token);

        // Waiting: degraded with what it waits for, and one warning that names the wait and its budget.
        var waitingFor = adminAndCheckpoint ? "admin API" : "subscribe sync-users";
        await UntilAsync(run, () => metrics.Health() is [{ State: MaterializerState.Degraded, Error: { } why }] && why.Contains(waitingFor, StringComparison.Ordinal));
        var warning = Assert.Single(_logs.Entries, e => e.Level == LogLevel.Warning && e.Message.Contains("cannot ", StringComparison.Ordinal));
        Assert.Contains(waitingFor, warning.Message, StringComparison.Ordinal);
        Assert.Contains("2m (subscribeRetryTimeout)", warning.Message, StringComparison.Ordinal);
        Assert.False(run.IsCompleted);
        if (outage == "closing")
        {
            Assert.True(brokerGate.ClosedConnections + adminGate.ClosedConnections > 0);
        }

        // A little later (on the fake clock) it is still waiting, not failed.
        _clock.Advance(TimeSpan.FromSeconds(20));
        await UntilAsync(run, () => _logs.Entries.Count(e => e.Level == LogLevel.Warning) >= 1 && metrics.Health()[0].State == MaterializerState.Degraded);
        Assert.False(run.IsCompleted);

        brokerGate.Open();
        adminGate.Open();
        await UntilAsync(run, () => Sink.Rows("users").Count == 3 && Sink.Rows("users").Values.Any(row => row.Contains("ann2", StringComparison.Ordinal)), advance: true);
        await UntilAsync(run, () => metrics.Health() is [{ State: MaterializerState.Running }]);
        Assert.Contains(_logs.Entries, e => e.Level == LogLevel.Information && e.Message.Contains("the Pulsar broker answered after", StringComparison.Ordinal));

        await stop.CancelAsync();
        var outcome = Assert.Single(await run);
        Assert.Null(outcome.Failure);
    }

    [Fact]
    public async Task A_refused_admin_credential_is_not_waited_for()
    {
        var topic = NewTopic("outage-auth");
        await using (var producer = await ProducerAsync(topic))
        {
            await PublishAsync(producer, 1, "c", "ann", 10);
        }

        await RunUntilAsync(Config($"topics: [{topic}]"), () => Sink.Received.Count == 1);
        Broker.RequiredToken = "right";
        var config = Config($"topics: [{topic}]", "    token: wrong");
        var components = new SyncComponents([new PulsarSourceFactory(_clock)], [new ObservedSinkFactory(Sink)], MessageFormats.Names, MessageFormats.Create);
        using var stop = new CancellationTokenSource(Patience);

        var outcome = Assert.Single(await new SyncRuntime(config, components, _logs).RunAsync([], RunMode.Resume, stop.Token));

        Assert.Contains("against the sink's checkpoint", outcome.Failure?.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(_logs.Entries, e => e.Message.Contains("retried with backoff", StringComparison.Ordinal));
    }

    /// <summary>Polls (with a real deadline, as the fixture does) until <paramref name="done"/>
    /// holds; with <paramref name="advance"/> the fake clock moves past any backoff on each turn,
    /// so the next attempt happens at once.</summary>
    private async Task UntilAsync(Task run, Func<bool> done, bool advance = false)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (!done())
        {
            if (run.IsCompleted)
            {
                var outcomes = await (Task<IReadOnlyList<MaterializerOutcome>>)run;
                Assert.Fail($"the run ended while waiting: {outcomes[0].Failure?.Message}; log: {string.Join(" | ", _logs.Entries)}");
            }

            if (DateTime.UtcNow > deadline)
            {
                Assert.Fail($"not reached within {Patience}; log: {string.Join(" | ", _logs.Entries)}");
            }

            if (advance)
            {
                _clock.Advance(TimeSpan.FromSeconds(7));
            }

            await Task.Delay(10);
        }
    }
}
