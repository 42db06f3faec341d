using Sync.Engine.Formats;
using Sync.Sources.Pulsar;
using Sync.Pulsar;
using Sync.Testing.Logging;
using Sync.Testing.Fixtures;
using Sync.Testing.Pulsar;

namespace Sync.Sinks.Tests.Healing;

/// <summary>A fake broker with one topic of user changes, a model of what the sink must hold, and
/// in-process <c>sync run</c>s (on a fake clock) into the sink under test, which the test rolls back
/// to a copy taken earlier (<see cref="SnapshotAsync"/>, <see cref="RestoreAsync"/>) or empties.</summary>
public abstract class SinkRollbackFixture : FakeBrokerTest
{
    /// <summary>The idle check's interval in every config; the tests move the fake clocks past it.</summary>
    protected static readonly TimeSpan CheckInterval = TimeSpan.FromSeconds(10);

    private readonly string _dir = Directory.CreateTempSubdirectory("sync-heal-").FullName;
    private readonly SortedDictionary<int, string> _model = [];
    private IPulsarProducer? _producer;
    private long _lsn;

    protected string Topic { get; } = $"persistent://public/default/heal-{Guid.NewGuid():N}"[..50];

    protected SyncComponents Components { get; } = new([new PulsarSourceFactory()], SinkCatalog.All, MessageFormats.Names, MessageFormats.Create);

    /// <summary>The <c>target</c> sink's config block (indented under <c>sinks:</c>).</summary>
    protected abstract string SinkYaml { get; }

    /// <summary>The materializer's table.</summary>
    protected abstract string Table { get; }

    /// <summary>What the target holds, as <c>id=name</c> lines in id order.</summary>
    protected abstract Task<IReadOnlyList<string>> RowsAsync();

    /// <summary>Keeps a copy of everything the sink holds (rows and sync's state).</summary>
    protected abstract Task SnapshotAsync();

    /// <summary>Puts the copy back in place of what the sink holds now: the sink went back in time.</summary>
    protected abstract Task RestoreAsync();

    /// <summary>Removes everything the sink held: a restart without persistence.</summary>
    protected abstract Task EmptyAsync();

    public override async Task DisposeAsync()
    {
        if (_producer is not null)
        {
            await _producer.DisposeAsync();
        }

        await base.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    /// <summary>The model: <c>id=name</c> of every live row, in id order.</summary>
    protected IReadOnlyList<string> Expected => [.. _model.Select(r => $"{r.Key}={r.Value}")];

    protected SyncConfig Config(string subscriptionType, string materializerExtra = "")
    {
        var text = $"""
            sources:
              broker: {Broker.SourceYaml($"subscriptionType: {subscriptionType}", "subscription: heal")}
            sinks:
            {SinkYaml}
            materializers:
              users:
                source: broker
                topics: [{Topic}]
                sink: target
                table: {Table}
                batchSize: 8
                linger: 0ms
                rollbackCheckInterval: {(int)CheckInterval.TotalSeconds}s
            {materializerExtra}
            """;
        return ConfigLoader.Parse(text, Path.Combine(_dir, "sync.yaml"), Components.Types, _ => null);
    }

    /// <summary>24 users created.</summary>
    protected async Task PublishFirstPartAsync()
    {
        for (var id = 1; id <= 24; id++)
        {
            await PublishAsync(id, "c", $"a{id}");
        }
    }

    /// <summary>12 renamed, 6 deleted, 12 created.</summary>
    protected async Task PublishSecondPartAsync()
    {
        for (var id = 1; id <= 12; id++)
        {
            await PublishAsync(id, "u", $"b{id}");
        }

        for (var id = 13; id <= 18; id++)
        {
            await PublishAsync(id, "d", null);
        }

        for (var id = 25; id <= 36; id++)
        {
            await PublishAsync(id, "c", $"a{id}");
        }
    }

    /// <summary>4 renamed, after the rollback.</summary>
    protected async Task PublishThirdPartAsync()
    {
        for (var id = 19; id <= 22; id++)
        {
            await PublishAsync(id, "u", $"c{id}");
        }
    }

    /// <summary>Publishes a change as Pulsar IO's Debezium source writes it (the key as base64 of the
    /// JSON key bytes, the envelope without schema, a delete as <c>op=d</c>) and updates the model.</summary>
    private async Task PublishAsync(int id, string op, string? name)
    {
        _producer ??= await Client.CreateProducerAsync(new ProducerOptions { Topic = Topic });
        var lsn = ++_lsn;
        var row = name is null ? "null" : $"{{\"id\":{id},\"name\":\"{name}\"}}";
        var before = op is "u" or "d" ? $"{{\"id\":{id},\"name\":\"old\"}}" : "null";
        var value = string.Create(
            CultureInfo.InvariantCulture,
            $"{{\"before\":{before},\"after\":{(op == "d" ? "null" : row)},\"source\":{{\"connector\":\"postgresql\",\"db\":\"shop\",\"schema\":\"public\",\"table\":\"users\",\"lsn\":{lsn}}},\"op\":\"{op}\",\"ts_ms\":{1_700_000_000_000 + lsn}}}");
        await _producer.SendAsync(new OutgoingMessage { KeyBytes = Encoding.UTF8.GetBytes($"{{\"id\":{id}}}"), Data = Encoding.UTF8.GetBytes(value) });
        if (name is null)
        {
            _model.Remove(id);
        }
        else
        {
            _model[id] = name;
        }
    }

    /// <summary>Publishes the first part and then the second, each until the sink holds the model,
    /// and keeps a copy of the sink between them.</summary>
    protected async Task PublishAroundASnapshotAsync()
    {
        await PublishFirstPartAsync();
        await UntilSinkHoldsModelAsync();
        await SnapshotAsync();
        await PublishSecondPartAsync();
        await UntilSinkHoldsModelAsync();
    }

    /// <summary>Publishes the first two parts around a copy of the sink (<see cref="PublishAroundASnapshotAsync"/>)
    /// and waits until the subscription acknowledged every message, so the last checkpoint is written.</summary>
    protected async Task PublishAroundAnAcknowledgedSnapshotAsync()
    {
        await PublishAroundASnapshotAsync();
        await UntilEveryMessageIsAcknowledgedAsync();
    }

    /// <summary>Runs the first two parts with a copy of the sink taken between them, then puts the copy back.</summary>
    protected async Task RollBackAfterSecondPartAsync()
    {
        await PublishAroundAnAcknowledgedSnapshotAsync();
        await RestoreAsync();
        Assert.NotEqual(Expected, await RowsAsync());
    }

    /// <summary>A run of <paramref name="config"/> takes the first two parts around a copy of the sink and stops cleanly.</summary>
    protected async Task PublishAroundASnapshotAndStopAsync(SyncConfig config)
    {
        await using var run = Start(config);
        await PublishAroundASnapshotAsync();
        Assert.Null((await run.StopAsync()).Failure);
    }

    /// <summary>The next run takes the third part and ends holding the model, still running.</summary>
    protected async Task<RunningSync> StartAgainAndCatchUpAsync(SyncConfig config, RestoreBeforeNextBatch? restoring = null)
    {
        var next = restoring is null ? Start(config) : Start(config, restoring);
        try
        {
            await PublishThirdPartAsync();
            await UntilSinkHoldsModelAsync(passing: next);
            Assert.False(next.Outcome.IsCompleted);
            return next;
        }
        catch
        {
            await next.DisposeAsync();
            throw;
        }
    }

    /// <summary>The target holds exactly the model, and the run found one rollback.</summary>
    protected async Task AssertHealedOnceAsync(RunningSync run)
    {
        Assert.Equal(Expected, await RowsAsync());
        Assert.Equal(1, run.Counters.Rollbacks);
    }

    /// <summary>A sink may make a batch's rows visible before it writes the batch's checkpoint (the
    /// Elasticsearch and Redis sinks write it in a second request): a copy put back in between would
    /// get the late checkpoint written over it, and the sink would claim the changes it lost, with
    /// nothing left to find. A consumer acknowledges only after the sink committed, so once the
    /// subscription acknowledged every message the last checkpoint is written.</summary>
    protected async Task UntilEveryMessageIsAcknowledgedAsync() =>
        await Poll.UntilAsync(
            () => Broker.FindTopic(Topic) is { } topic && topic.FindSubscription("heal") is { } subscription && topic.Entries.All(e => subscription.IsAcknowledged(e.EntryId)),
            TimeSpan.FromSeconds(60));

    /// <summary>Moves both runs' clocks past the idle check and waits until one of them found the
    /// rollback and neither is healing any more.</summary>
    protected static async Task UntilEitherHealedAsync(RunningSync first, RunningSync second)
    {
        first.PassCheckInterval();
        second.PassCheckInterval();
        await Poll.UntilAsync(() => first.Counters.Rollbacks + second.Counters.Rollbacks >= 1 && !first.Counters.Healing && !second.Counters.Healing, TimeSpan.FromSeconds(60));
    }

    /// <summary>Waits until the target holds exactly the model.</summary>
    protected async Task UntilSinkHoldsModelAsync() =>
        await Poll.UntilAsync(async () => (await RowsAsync()).SequenceEqual(Expected), TimeSpan.FromSeconds(60));

    /// <summary>Waits until the target holds exactly the model, moving the run's clock past the idle
    /// check meanwhile: on a shared subscription a run that found the subscription acknowledged past
    /// the checkpoint heals only once nobody moved the checkpoint there for a while of its clock.</summary>
    protected async Task UntilSinkHoldsModelAsync(RunningSync passing) =>
        await Poll.UntilAsync(
            async () =>
            {
                passing.PassCheckInterval();
                return (await RowsAsync()).SequenceEqual(Expected);
            },
            TimeSpan.FromSeconds(60));

    /// <summary>What <c>sync status</c> reads for the materializer.</summary>
    protected async Task<IReadOnlyList<TopicStatus>> StatusAsync(SyncConfig config) =>
        await new StatusReader(config, Components).ReadAsync([], CancellationToken.None);

    /// <summary>Starts <c>sync run</c> of the config in this process.</summary>
    protected RunningSync Start(SyncConfig config) => new(config, Components);

    /// <summary>Starts <c>sync run</c> of the config in this process, its sinks opened through <paramref name="restoring"/>.</summary>
    protected static RunningSync Start(SyncConfig config, RestoreBeforeNextBatch restoring) =>
        new(config, new SyncComponents([new PulsarSourceFactory()], restoring.Wrap(SinkCatalog.All), MessageFormats.Names, MessageFormats.Create));

    /// <summary>One in-process <c>sync run</c>: its fake clock, log, metrics and the materializer's counters.</summary>
    protected sealed class RunningSync : IAsyncDisposable
    {
        private readonly CancellationTokenSource _stop = new();
        private MaterializerCounters? _counters;

        public RunningSync(SyncConfig config, SyncComponents components)
        {
            Metrics = new SyncMetrics(Time);
            var runtime = new SyncRuntime(config, components, Logs)
            {
                Metrics = Metrics,
                Time = Time,
                Started = (_, counters) => Volatile.Write(ref _counters, counters),
            };
            Outcome = runtime.RunAsync([], RunMode.Resume, _stop.Token);
        }

        public FakeTimeProvider Time { get; } = new(new DateTimeOffset(2026, 12, 6, 3, 0, 0, TimeSpan.Zero));

        public RecordingLoggerFactory Logs { get; } = new();

        public SyncMetrics Metrics { get; }

        public Task<IReadOnlyList<MaterializerOutcome>> Outcome { get; }

        public MaterializerCounters Counters => Volatile.Read(ref _counters) ?? new MaterializerCounters();

        public MaterializerState State => Metrics.Health().Single().State;

        public IEnumerable<string> Warnings => Logs.Entries.Where(e => e.Level == Microsoft.Extensions.Logging.LogLevel.Warning).Select(e => e.Message);

        /// <summary>Moves the clock past the idle check's interval, so the sink's checkpoint is read back.</summary>
        public void PassCheckInterval() => Time.Advance(CheckInterval + TimeSpan.FromSeconds(1));

        /// <summary>Moves the clock past the idle check and waits until the rollback it finds is healed.</summary>
        public async Task HealWhileIdleAsync()
        {
            PassCheckInterval();
            await UntilHealedAsync();
        }

        /// <summary>Waits until a rollback was found and its heal caught up.</summary>
        public async Task UntilHealedAsync(long rollbacks = 1)
        {
            await Poll.UntilAsync(() => Outcome.IsCompleted || (Counters.Rollbacks >= rollbacks && !Counters.Healing), TimeSpan.FromSeconds(60));
            if (Outcome.IsCompleted)
            {
                throw new InvalidOperationException($"the run ended: {(await Outcome).Single().Failure}");
            }
        }

        public async Task<MaterializerOutcome> StopAsync()
        {
            await _stop.CancelAsync();
            return (await Outcome).Single();
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            try
            {
                await Outcome;
            }
            catch (OperationCanceledException)
            {
            }

            Metrics.Dispose();
            _stop.Dispose();
        }
    }
}
