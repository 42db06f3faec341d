using Sync.Engine.Formats;
using Sync.Pulsar;
using Sync.Sinks.Tests.Postgres;
using Sync.Sources.Pulsar;
using Sync.Testing.Fixtures;
using Sync.Testing.Logging;
using Sync.Testing.Pulsar;

namespace Sync.Sinks.Tests.Epochs;

/// <summary>The late-process race of source epochs on a key-shared subscription, with two in-process
/// <c>sync run</c>s on the fake broker and a real PostgreSQL sink: process A owns every key of the new
/// snapshot, process B only keys streamed around it, so B holds no record of the new snapshot. A's
/// proposal of the new epoch is held in the sink until B has applied and acknowledged a change streamed
/// in the new epoch (a new key), which B could only order in the old epoch. Then either B learns the
/// epoch and applies the change again (the sink ends exactly in the source's state), or B stops first
/// and a restarted B (the same instance name) reads the range it lost again from the topic and applies
/// it in the new epoch (the sink ends exactly in the source's state too). Either way the reconciliation
/// waits for B's repair, so it never deletes B's new key, a row the source holds.
/// <para>Key_Shared AUTO_SPLIT: the second consumer takes the lower half of the first one's range
/// (apache/pulsar, HashRangeAutoSplitStickyKeyConsumerSelector; modelled by FakeKeySharedSelector),
/// each key's slot being Murmur3_32 of its bytes mod 65536 (KeyHashing.StickyKeyHash). Broker behaviour
/// the race rests on: an acknowledged message is never delivered again, to any consumer of the
/// subscription (Pulsar's individual acknowledgement, the subscription's individuallyDeletedMessages).
/// The events are Debezium PostgreSQL envelopes (<c>source.lsn</c>, <c>source.snapshot</c> as in
/// debezium/debezium, debezium-connector-postgres/.../SourceInfo.java and debezium-core/.../SnapshotRecord.java).</para></summary>
public sealed class LateProcessEpochRunTests : FakeBrokerTest
{
    private const int Half = KeySharedPolicy.HashRangeSize / 2;
    private readonly string _dir = Directory.CreateTempSubdirectory("sync-late-epochs-").FullName;
    private readonly string _topic = $"persistent://public/default/lep-{Guid.NewGuid():N}"[..50];
    private readonly string _schema = $"lp_{Guid.NewGuid():N}"[..18];
    private readonly Gate _proposals = new();
    private readonly Gate _readsOfB = new(armed: false);

    public override async Task DisposeAsync()
    {
        _proposals.Release();
        _readsOfB.Release();
        await base.DisposeAsync();
        await PostgresTestDb.ScalarAsync($"DROP SCHEMA IF EXISTS {_schema} CASCADE; DROP SCHEMA IF EXISTS {_schema}_sync CASCADE");
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public async Task A_process_that_learns_the_new_epoch_late_applies_its_new_changes_again_and_the_sink_ends_in_the_source_state()
    {
        var (a, b) = (Ids(first: true), Ids(first: false));
        var config = Config();
        var logsA = new RecordingLoggerFactory();
        using var stop = new CancellationTokenSource();
        var (runA, countersA) = Start(config, "a", s => new HeldProposals(s, _proposals), stop.Token, logsA);
        await Poll.UntilAsync(() => Subscription() is { PermitsLeft: >= 4 }, TimeSpan.FromSeconds(60));
        var (runB, countersB) = Start(config, "b", s => new HeldCheckpointReads(s, _readsOfB), stop.Token);
        await Poll.UntilAsync(() => Subscription() is { PermitsLeft: >= 8 }, TimeSpan.FromSeconds(60));

        await PublishAsync(History(a, b));
        // B applied and acknowledged the new key while A's proposal of the epoch is held; then B is slow to
        // read the checkpoint (a pause, a slow network) while A stores the agreement and completes the epoch.
        await Poll.UntilAsync(() => _proposals.Waiting && countersB()?.Read == 2, TimeSpan.FromSeconds(60));
        _readsOfB.Arm();
        _proposals.Release();

        // Every message is acknowledged, so A's sweep is due; it waits for B's repair instead of deleting B's new key.
        await Poll.UntilAsync(() => runA.IsCompleted || countersA()!.Reconciled > 0 || WaitsForB(logsA), TimeSpan.FromSeconds(60));
        Assert.Equal(0, countersA()!.Reconciled);
        Assert.Contains($"{b[1]}=new", await RowsAsync());
        _readsOfB.Release();

        var want = Expected(a, b, newKeyKept: true);
        await Poll.UntilAsync(async () => runA.IsCompleted || runB.IsCompleted || ((await RowsAsync()).SequenceEqual(want) && countersA()!.Reconciled + countersB()!.Reconciled >= 1 && countersB()!.Degraded is null), TimeSpan.FromSeconds(90));
        Assert.False(runA.IsCompleted || runB.IsCompleted);
        Assert.Equal(want, await RowsAsync());
        // The sweep deleted the row the failover lost and nothing else.
        Assert.Equal(1, countersA()!.Reconciled + countersB()!.Reconciled);
        Assert.Null(countersA()!.Degraded);
        Assert.Null(countersB()!.Degraded);
        await InProcessRun.StopAsync(stop, runA, runB);
    }

    [Fact]
    public async Task A_process_that_stops_inside_the_repair_window_is_repaired_by_its_restart_which_reads_the_lost_range_again()
    {
        var (a, b) = (Ids(first: true), Ids(first: false));
        var config = Config();
        using var stopA = new CancellationTokenSource();
        var (runA, countersA) = await StopBInsideTheWindowAsync(config, a, b, stopA.Token);

        // B restarts under its name: it finds its predecessor's trace, reads the topic again from the agreed
        // position through what its predecessor applied, and applies the new key in the new epoch; then the
        // sweep that waited for it runs. The sink ends exactly in the source's state.
        using var stopAgain = new CancellationTokenSource();
        var (runAgain, countersAgain) = Start(config, "b", null, stopAgain.Token);
        var want = Expected(a, b, newKeyKept: true);
        await Poll.UntilAsync(async () => runAgain.IsCompleted || (countersAgain() is { Replayed: > 0 } && countersA()!.Reconciled + countersAgain()!.Reconciled >= 1 && (await RowsAsync()).SequenceEqual(want)), TimeSpan.FromSeconds(60));
        Assert.False(runAgain.IsCompleted);
        Assert.Equal(want, await RowsAsync());
        Assert.Equal(1, countersA()!.Reconciled + countersAgain()!.Reconciled);
        Assert.Null(countersAgain()!.Degraded);
        Assert.Null(countersA()!.Degraded);
        await InProcessRun.StopAsync(stopAgain, runAgain);
        await InProcessRun.StopAsync(stopA, runA);

        // The repair is stored, the epoch swept, and no loss: status reports nothing.
        Assert.Null(await StatusWarningAsync(config));
        Assert.Equal(want, await RowsAsync());
    }

    /// <summary>Pulsar's truncate deletes every ledger of the topic but the one being written, and moves
    /// every cursor to the end (apache/pulsar, ManagedLedgerImpl.asyncTruncate; the admin endpoint
    /// DELETE /admin/v2/persistent/{tenant}/{namespace}/{topic}/truncate): the lost range cannot be read
    /// again, so the restart reports the loss, with that reason, and stores it for every later run.</summary>
    [Fact]
    public async Task A_restart_that_cannot_read_the_lost_range_again_reports_the_loss_with_the_reason()
    {
        var (a, b) = (Ids(first: true), Ids(first: false));
        var config = Config();
        using var stopA = new CancellationTokenSource();
        var (runA, countersA) = await StopBInsideTheWindowAsync(config, a, b, stopA.Token);
        var swept = Expected(a, b, newKeyKept: false);

        Broker.RollLedger(_topic);
        using (var admin = new HttpClient())
        {
            var path = _topic["persistent://".Length..];
            using var truncated = await admin.DeleteAsync(new Uri(Broker.AdminUrl, $"admin/v2/persistent/{path}/truncate"));
            truncated.EnsureSuccessStatusCode();
        }

        using var stopAgain = new CancellationTokenSource();
        var (runAgain, countersAgain) = Start(config, "b", null, stopAgain.Token);
        await Poll.UntilAsync(() => runAgain.IsCompleted || countersAgain()?.Degraded is not null, TimeSpan.FromSeconds(60));
        var degraded = countersAgain()!.Degraded;
        Assert.NotNull(degraded);
        Assert.Contains("stopped (crash, deploy) before it applied them again", degraded.Error, StringComparison.Ordinal);
        Assert.Contains("retention, a trim or a truncate removed", degraded.Error, StringComparison.Ordinal);
        Assert.Contains("sync backfill --materializer users --shadow", degraded.Error, StringComparison.Ordinal);

        // The loss is stored and reported, so no repair will come: the sweep waits no more, and deletes the new
        // key with the lost row (both below the start). The truncate left the mark-delete position before the
        // first entry of the ledger being written, (ledger, -1), as a real broker leaves a caught-up cursor
        // once its ledger is trimmed (apache/pulsar, ManagedLedgerImpl.maybeUpdateCursorBeforeTrimmingConsumedLedger,
        // called after a rollover and when a topic loads). The reader takes entry -1 for "not known", as on a new
        // subscription (PulsarConsumer.GetMarkDeletePositionAsync), so the sweep runs once the next message is
        // acknowledged: an update that keeps the row's value.
        await PublishAsync([(a[0], "a1-x", 975, "false")]);
        await Poll.UntilAsync(async () => runAgain.IsCompleted || (await RowsAsync()).SequenceEqual(swept), TimeSpan.FromSeconds(60));
        Assert.Equal(swept, await RowsAsync());

        // The report is stored: a later run of any process reports it too.
        await InProcessRun.StopAsync(stopAgain, runAgain);
        using var stopLater = new CancellationTokenSource();
        var (runLater, countersLater) = Start(config, "c", null, stopLater.Token);
        await Poll.UntilAsync(() => runLater.IsCompleted || countersLater()?.Degraded is not null, TimeSpan.FromSeconds(60));
        Assert.Contains("stopped (crash, deploy) before it applied them again", countersLater()!.Degraded!.Error, StringComparison.Ordinal);
        await InProcessRun.StopAsync(stopLater, runLater);
        await InProcessRun.StopAsync(stopA, runA);
    }

    /// <summary>Starts A (its proposals held) and B, publishes the history, stops B once it applied and
    /// acknowledged the new key in the old epoch (before any agreement exists: what it kept to apply again
    /// goes with it, and the broker will not deliver it again), releases A's proposal and waits until A
    /// found the new epoch's sweep due and waiting for B's repair: the lost row of the old primary and B's
    /// new key, which lies below the start, are both still there.</summary>
    private async Task<InProcessRun> StopBInsideTheWindowAsync(SyncConfig config, int[] a, int[] b, CancellationToken stopA)
    {
        var logsA = new RecordingLoggerFactory();
        var (runA, countersA) = Start(config, "a", s => new HeldProposals(s, _proposals), stopA, logsA);
        await Poll.UntilAsync(() => Subscription() is { PermitsLeft: >= 4 }, TimeSpan.FromSeconds(60));
        using var stopB = new CancellationTokenSource();
        var (runB, countersB) = Start(config, "b", null, stopB.Token);
        await Poll.UntilAsync(() => Subscription() is { PermitsLeft: >= 8 }, TimeSpan.FromSeconds(60));

        await PublishAsync(History(a, b));
        await Poll.UntilAsync(() => _proposals.Waiting && countersB()?.Read == 2, TimeSpan.FromSeconds(60));
        await InProcessRun.StopAsync(stopB, runB);
        _proposals.Release();

        await Poll.UntilAsync(() => runA.IsCompleted || countersA()!.Reconciled > 0 || WaitsForB(logsA), TimeSpan.FromSeconds(90));
        Assert.Equal(0, countersA()!.Reconciled);
        Assert.Equal(Expected(a, b, newKeyKept: true, lostKept: true), await RowsAsync());
        Assert.Contains("holds back the reconciliation", await StatusWarningAsync(config), StringComparison.Ordinal);
        Assert.Contains("start one with SYNC_INSTANCE=b", await StatusWarningAsync(config), StringComparison.Ordinal);
        return new InProcessRun(runA, countersA);
    }

    private static async Task<string?> StatusWarningAsync(SyncConfig config) =>
        (await new StatusReader(config, new SyncComponents([new PulsarSourceFactory()], SinkCatalog.All, MessageFormats.Names, MessageFormats.Create)).ReadAsync([], CancellationToken.None)).Single().Warning;

    private static bool WaitsForB(RecordingLoggerFactory logs) =>
        logs.Entries.Any(e => e.Message.Contains("waits for instance 'b'", StringComparison.Ordinal));

    /// <summary>Ids whose key the first consumer (A, <paramref name="first"/>) or the second (B) owns, away from the split.</summary>
    private static int[] Ids(bool first) =>
        [.. Enumerable.Range(1, 1000).Where(id => KeyHashing.StickyKeyHash(DebeziumUsers.Key(id)) is var slot && (first ? slot > Half + 2000 : slot < Half - 2000)).Take(3)];

    /// <summary>An old primary snapshotted and streaming; a failover loses two changes (one of them B's); the
    /// new primary's snapshot holds only A's keys; then a new key of B's and an update of A's are streamed.</summary>
    private static List<(int Id, string? Name, long Lsn, string Snapshot)> History(int[] a, int[] b) =>
    [
        (a[0], "a1", 100, "first"), (a[1], "a2", 100, "true"), (a[2], "a3", 100, "last"),
        (a[0], "a1-x", 410, "false"),
        (b[0], "lost", 990, "false"), (a[1], "X", 1000, "false"),
        (a[0], "a1-x", 950, "first"), (a[1], "a2", 950, "true"), (a[2], "a3", 950, "last"),
        (b[1], "new", 960, "false"),
        (a[2], "a3-y", 970, "false"),
    ];

    private static List<string> Expected(int[] a, int[] b, bool newKeyKept, bool lostKept = false)
    {
        var rows = new SortedDictionary<int, string> { [a[0]] = "a1-x", [a[1]] = "a2", [a[2]] = "a3-y" };
        if (newKeyKept)
        {
            rows[b[1]] = "new";
        }

        if (lostKept)
        {
            rows[b[0]] = "lost";
        }

        return [.. rows.Select(r => $"{r.Key}={r.Value}")];
    }

    private SyncConfig Config() => ConfigLoader.Parse(
        $"""
        sources:
          broker: {Broker.SourceYaml("subscriptionType: key-shared", "subscription: epochs", "receiverQueueSize: 4")}
        sinks:
        {Healing.PostgresRollbackTests.TargetYaml(_schema)}
        materializers:
          users: {"{"} source: broker, topics: [{_topic}], sink: target, table: users, format: debezium-json, batchSize: 3, linger: 0ms, rollbackCheckInterval: 100ms {"}"}
        """,
        Path.Combine(_dir, "sync.yaml"),
        new SyncComponents([new PulsarSourceFactory()], SinkCatalog.All, MessageFormats.Names, MessageFormats.Create).Types,
        _ => null);

    private static InProcessRun Start(SyncConfig config, string instance, Func<ISink, ISink>? wrap, CancellationToken stop, RecordingLoggerFactory? logs = null)
    {
        var sinks = wrap is null ? SinkCatalog.All : SinkCatalog.All.Select(f => (ISinkFactory)new WrappingSinkFactory(f, wrap));
        return InProcessRun.Start(config, new SyncComponents([new PulsarSourceFactory()], sinks, MessageFormats.Names, MessageFormats.Create), stop, instance, logs);
    }

    private FakeSubscription? Subscription() => Broker.FindTopic(_topic)?.FindSubscription("epochs");

    private Task PublishAsync(List<(int Id, string? Name, long Lsn, string Snapshot)> events) => DebeziumUsers.PublishAsync(Client, _topic, events);

    private Task<IReadOnlyList<string>> RowsAsync() => Healing.PostgresRollbackTests.ReadRowsAsync(PostgresTestDb.ServerConnectionString, _schema);

    /// <summary>Holds the calls that reach it, once armed, until released.</summary>
    private sealed class Gate(bool armed = true)
    {
        private readonly TaskCompletionSource _released = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _waiting;
        private volatile bool _armed = armed;

        public bool Waiting => Volatile.Read(ref _waiting) > 0;

        public void Arm() => _armed = true;

        public void Release() => _released.TrySetResult();

        public async Task PassAsync(CancellationToken cancellationToken)
        {
            if (_armed)
            {
                Interlocked.Increment(ref _waiting);
                await _released.Task.WaitAsync(cancellationToken);
            }
        }
    }

    /// <summary>Holds every proposal of a new epoch (a conditional checkpoint entry write naming
    /// <see cref="SourceEpochs.AgreedPrefix"/>) at the gate.</summary>
    private sealed class HeldProposals(ISink inner, Gate gate) : DelegatingSink(inner), IAsyncDisposable
    {
        public override async ValueTask<IReadOnlyDictionary<string, StreamPosition>?> AddCheckpointEntriesAsync(
            string materializer, IReadOnlyList<KeyValuePair<string, StreamPosition>> entries, CancellationToken cancellationToken)
        {
            if (entries.Any(e => e.Key.StartsWith(SourceEpochs.AgreedPrefix, StringComparison.Ordinal)))
            {
                await gate.PassAsync(cancellationToken);
            }

            return await Inner.AddCheckpointEntriesAsync(materializer, entries, cancellationToken);
        }

        ValueTask IAsyncDisposable.DisposeAsync() => Inner.DisposeAsync();
    }

    /// <summary>Holds every checkpoint read at the gate: a process slow to learn what the others stored.</summary>
    private sealed class HeldCheckpointReads(ISink inner, Gate gate) : DelegatingSink(inner), IAsyncDisposable
    {
        public override async ValueTask<IReadOnlyDictionary<string, StreamPosition>> LoadCheckpointAsync(string materializer, CancellationToken cancellationToken)
        {
            await gate.PassAsync(cancellationToken);
            return await Inner.LoadCheckpointAsync(materializer, cancellationToken);
        }

        ValueTask IAsyncDisposable.DisposeAsync() => Inner.DisposeAsync();
    }
}
