using Sync.Engine.Formats;
using Sync.Sinks.Tests.Healing;
using Sync.Sinks.Tests.Postgres;
using Sync.Sinks.Tests.Redis;
using Sync.Sources.Pulsar;
using Sync.Testing.Fixtures;

namespace Sync.Sinks.Tests.Epochs;

/// <summary>The two cases of issue 28's table, read by two in-process <c>sync run</c>s on one shared or
/// key-shared subscription of the fake broker (a receiver queue of 4, so that both get messages): the
/// processes agree on the new source epoch through the sink and reconcile once the subscription has
/// acknowledged the new snapshot, and the sink ends exactly in the source's final state. The events
/// are Debezium PostgreSQL envelopes as Pulsar IO writes them (<c>source.lsn</c>, <c>source.snapshot</c>
/// as in debezium/debezium, debezium-connector-postgres/src/main/java/io/debezium/connector/postgresql/SourceInfo.java
/// and debezium-core/src/main/java/io/debezium/connector/SnapshotRecord.java; the key as base64 of the
/// JSON key bytes).</summary>
public abstract class SharedSubscriptionEpochRunTests : FakeBrokerTest
{
    private readonly string _dir = Directory.CreateTempSubdirectory("sync-shared-epochs-").FullName;
    private readonly SyncComponents _components = new([new PulsarSourceFactory()], SinkCatalog.All, MessageFormats.Names, MessageFormats.Create);
    private readonly string _topic = $"persistent://public/default/sep-{Guid.NewGuid():N}"[..50];

    /// <summary>The <c>target</c> sink's config block (indented under <c>sinks:</c>).</summary>
    protected abstract string SinkYaml { get; }

    protected abstract string Table { get; }

    /// <summary>What the target holds, as <c>id=name</c> lines in id order.</summary>
    protected abstract Task<IReadOnlyList<string>> RowsAsync();

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    [Theory]
    [InlineData("key-shared")]
    [InlineData("shared")]
    public async Task A_failover_with_a_re_snapshot_ends_in_the_new_primarys_state_with_two_processes(string subscriptionType)
    {
        var events = new List<(int Id, string? Name, long Lsn, string Snapshot)>();
        for (var id = 1; id <= 10; id++)
        {
            events.Add((id, $"a{id}", 100, id == 1 ? "first" : id == 10 ? "last" : "true"));
        }

        for (var id = 2; id <= 5; id++)
        {
            events.Add((id, $"b{id}", 400 + id, "false"));
        }

        // Lost in the failover: two creates and the update of id 1 to X.
        events.Add((11, "lost11", 980, "false"));
        events.Add((12, "lost12", 990, "false"));
        events.Add((1, "X", 1000, "false"));

        // The new primary, snapshotted at 950, then streaming on.
        for (var id = 1; id <= 10; id++)
        {
            events.Add((id, id == 1 ? "Y" : id <= 5 ? $"b{id}" : $"a{id}", 950, id == 1 ? "first" : id == 10 ? "last" : "true"));
        }

        events.Add((6, "c6", 960, "false"));
        events.Add((13, "new13", 970, "false"));

        var expected = new SortedDictionary<int, string> { [1] = "Y", [6] = "c6", [13] = "new13" };
        for (var id = 2; id <= 10; id++)
        {
            expected.TryAdd(id, id <= 5 ? $"b{id}" : $"a{id}");
        }

        await RunTwoProcessesAsync(subscriptionType, events, expected, expectedReconciled: 2);
    }

    [Theory]
    [InlineData("key-shared")]
    [InlineData("shared")]
    public async Task A_move_to_a_new_cluster_ends_in_the_new_clusters_state_with_two_processes(string subscriptionType)
    {
        // 100 rows at LSN ≈ 5·10^12; the new cluster's snapshot at ≈ 3·10^7 holds 95 of them with new
        // values, then 50 updates.
        var events = new List<(int Id, string? Name, long Lsn, string Snapshot)>();
        for (var id = 1; id <= 100; id++)
        {
            events.Add((id, $"old{id}", 5_000_000_000_000L + id, "false"));
        }

        for (var id = 1; id <= 95; id++)
        {
            events.Add((id, $"new{id}", 30_000_000L, id == 1 ? "first" : id == 95 ? "last" : "true"));
        }

        for (var id = 1; id <= 50; id++)
        {
            events.Add((id, $"upd{id}", 30_000_100L + id, "false"));
        }

        var expected = new SortedDictionary<int, string>();
        for (var id = 1; id <= 95; id++)
        {
            expected[id] = id <= 50 ? $"upd{id}" : $"new{id}";
        }

        await RunTwoProcessesAsync(subscriptionType, events, expected, expectedReconciled: 5);
    }

    private async Task RunTwoProcessesAsync(string subscriptionType, List<(int Id, string? Name, long Lsn, string Snapshot)> events, SortedDictionary<int, string> expected, long expectedReconciled)
    {
        var config = ConfigLoader.Parse(
            $"""
            sources:
              broker: {Broker.SourceYaml($"subscriptionType: {subscriptionType}", "subscription: epochs", "receiverQueueSize: 4")}
            sinks:
            {SinkYaml}
            materializers:
              users: {"{"} source: broker, topics: [{_topic}], sink: target, table: {Table}, format: debezium-json, batchSize: 3, linger: 0ms, rollbackCheckInterval: 100ms {"}"}
            """,
            Path.Combine(_dir, "sync.yaml"),
            _components.Types,
            _ => null);
        using var stop = new CancellationTokenSource();
        // Under names of their own, as two hosts are: the trace a sweep reads is per name. A process that
        // applied records of the new snapshot before it learned the epoch repairs them at its next batch or
        // idle check (every rollbackCheckInterval), and the sweep waits for that.
        InProcessRun[] processes = [InProcessRun.Start(config, _components, stop.Token, "p0"), InProcessRun.Start(config, _components, stop.Token, "p1")];
        Task[] runs = [.. processes.Select(p => p.Run)];

        // Both consumers subscribed (each gave its 4 permits) before anything is published.
        await Poll.UntilAsync(() => Broker.FindTopic(_topic)?.FindSubscription("epochs") is { PermitsLeft: >= 8 }, TimeSpan.FromSeconds(60));
        await DebeziumUsers.PublishAsync(Client, _topic, events);

        var want = expected.Select(r => $"{r.Key}={r.Value}").ToList();
        await Poll.UntilAsync(async () => runs.Any(r => r.IsCompleted) || ((await RowsAsync()).SequenceEqual(want) && processes.Sum(p => p.Counters()?.Reconciled ?? 0) >= expectedReconciled), TimeSpan.FromSeconds(90));
        Assert.DoesNotContain(runs, r => r.IsCompleted);
        Assert.Equal(want, await RowsAsync());

        // Both processes took part, ordered the new epoch alike, and neither was refused one.
        var counters = processes.Select(p => p.Counters()).ToList();
        Assert.All(counters, c => Assert.True(c!.Read > 0));
        Assert.All(counters, c => Assert.Null(c!.Degraded));
        // Two processes that find the sweep due at once both run it; each deletes only what still lies
        // below the start, though the Redis sink counts a row whose marker both wrote (equal versions re-apply).
        // A record of the new snapshot that a process applied in the old epoch, before it learned the epoch,
        // is never among them: the sweep waits for that process's repair.
        Assert.InRange(counters.Sum(c => c!.Reconciled), expectedReconciled, 2 * expectedReconciled);
        await InProcessRun.StopAsync(stop, runs);
    }
}

public sealed class PostgresSharedSubscriptionEpochRunTests : SharedSubscriptionEpochRunTests
{
    private readonly string _schema = $"se_{Guid.NewGuid():N}"[..18];

    protected override string SinkYaml => PostgresRollbackTests.TargetYaml(_schema);

    protected override string Table => "users";

    public override async Task DisposeAsync()
    {
        await PostgresTestDb.ScalarAsync($"DROP SCHEMA IF EXISTS {_schema} CASCADE; DROP SCHEMA IF EXISTS {_schema}_sync CASCADE");
        await base.DisposeAsync();
    }

    protected override Task<IReadOnlyList<string>> RowsAsync() => PostgresRollbackTests.ReadRowsAsync(PostgresTestDb.ServerConnectionString, _schema);
}

public sealed class RedisSharedSubscriptionEpochRunTests : SharedSubscriptionEpochRunTests
{
    private readonly RedisTestNamespace _redis = new();

    protected override string SinkYaml => _redis.SinkYaml;

    protected override string Table => _redis.Name + "users";

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        await _redis.ConnectAsync();
    }

    public override async Task DisposeAsync()
    {
        await _redis.DisposeAsync();
        await base.DisposeAsync();
    }

    protected override Task<IReadOnlyList<string>> RowsAsync() => RedisRollbackTests.ReadRowsAsync(_redis.Connection, _redis.Name, Table);
}
