using Sync.Engine.Formats;
using Sync.Sources.Pulsar;
using Sync.Testing.Fixtures;
using Sync.Testing.Pulsar;

namespace Sync.Sinks.Tests.Status;

/// <summary><c>sync status</c> of a materializer whose source went back in time: a new snapshot or
/// <c>sync epoch bump</c> helps, on an ordered subscription and on a shared or key-shared one whose sink
/// stores the processes' agreement on an epoch (SourceEpochs.Shared.cs; SQLite does). In-process run over the fake broker into SQLite. The events
/// are Debezium PostgreSQL envelopes (<c>source.lsn</c>, <c>source.snapshot</c> as in debezium/debezium,
/// debezium-connector-postgres/src/main/java/io/debezium/connector/postgresql/SourceInfo.java and
/// debezium-core/src/main/java/io/debezium/connector/SnapshotRecord.java).</summary>
public sealed class DegradedEpochStatusTests : FakeBrokerTest
{
    private readonly string _dir = Directory.CreateTempSubdirectory("sync-epoch-status-").FullName;
    private readonly string _topic = $"persistent://public/default/eps-{Guid.NewGuid():N}"[..50];
    private readonly SyncComponents _components = new([new PulsarSourceFactory()], SinkCatalog.All, MessageFormats.Names, MessageFormats.Create);

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    [Theory]
    [InlineData("shared")]
    [InlineData("key-shared")]
    [InlineData("failover")]
    public async Task Status_advises_a_snapshot_or_a_bump_on_every_subscription_whose_sink_agrees_on_epochs(string subscriptionType)
    {
        var warning = await DegradedWarningAsync(subscriptionType);

        Assert.Contains("is degraded", warning, StringComparison.Ordinal);

        Assert.Contains("Take a new snapshot in the connector or run 'sync epoch bump --config CONFIG --materializer users --reason TEXT'", warning, StringComparison.Ordinal);
        Assert.DoesNotContain("--shadow", warning, StringComparison.Ordinal);
    }

    /// <summary>A snapshot and a change on the old cluster's LSNs, then a change far below them outside a
    /// snapshot (a restore without a new snapshot): the run marks the stream gone back in time.</summary>
    private async Task<string> DegradedWarningAsync(string subscriptionType)
    {
        await DebeziumUsers.PublishAsync(Client, _topic, [(1, "a", 5_000_000_000_000L, "last"), (1, "X", 5_000_000_001_000L, "false"), (1, "restored", 30_000_000L, "false")]);

        var config = ConfigLoader.Parse(
            $"""
            sources:
              broker: {Broker.SourceYaml($"subscriptionType: {subscriptionType}", "subscription: status")}
            sinks:
              target: {"{"} type: sqlite, path: users.db {"}"}
            materializers:
              users: {"{"} source: broker, topics: [{_topic}], sink: target, table: users, format: debezium-json, batchSize: 8, linger: 0ms {"}"}
            """,
            Path.Combine(_dir, "sync.yaml"),
            _components.Types,
            _ => null);
        using (var stop = new CancellationTokenSource())
        {
            var run = InProcessRun.Start(config, _components, stop.Token).Run;
            await Poll.UntilAsync(async () => run.IsCompleted || (await StatusAsync(config)).Warning is not null, TimeSpan.FromSeconds(60));
            await InProcessRun.StopAsync(stop, run);
        }

        return (await StatusAsync(config)).Warning ?? throw new InvalidOperationException("the status has no warning");
    }

    private async Task<TopicStatus> StatusAsync(SyncConfig config) =>
        (await new StatusReader(config, _components).ReadAsync([], CancellationToken.None)).Single();
}
