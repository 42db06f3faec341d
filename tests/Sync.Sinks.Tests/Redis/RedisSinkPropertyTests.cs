using FsCheck.Xunit;
using Sync.Sinks.Tests.Conformance;

namespace Sync.Sinks.Tests.Redis;

/// <summary>Random changelogs (creates, updates, deletes, Debezium Server tombstones over a few keys,
/// increasing LSNs) delivered with redeliveries and in any order, in batches of a random size, to a
/// standalone Redis and to a Redis Cluster: the rows must equal the reference model
/// (<see cref="Changelogs.FinalState"/>).</summary>
public sealed class RedisSinkPropertyTests
{
    [Property(MaxTest = 40)]
    public Task Standalone_rows_equal_the_reference_model_in_any_delivery_order(byte[] ops, byte[] keys, int[] ranks, byte batchSize) =>
        CheckAsync(cluster: false, ops, keys, ranks, batchSize);

    [RedisClusterProperty(MaxTest = 40)]
    public Task Cluster_rows_equal_the_reference_model_in_any_delivery_order(byte[] ops, byte[] keys, int[] ranks, byte batchSize) =>
        CheckAsync(cluster: true, ops, keys, ranks, batchSize);

    [RedisClusterProperty(MaxTest = 40)]
    public async Task Cluster_rows_equal_the_reference_model_whatever_the_redeliveries(byte[] ops, byte[] keys, int[] redeliveries, byte batchSize)
    {
        var log = Changelogs.Random(ops ?? [], keys ?? [], keyCount: 6);
        await using var harness = await RedisHarness.CreateAsync(RedisValueFormat.Hash, cluster: true);
        await DeliverAsync(harness, Changelogs.WithRedeliveries(log, redeliveries ?? []), batchSize);
        Assert.Equal(Expected(log), await harness.ReadAsync(harness.Target("items")));
    }

    private static async Task CheckAsync(bool cluster, byte[] ops, byte[] keys, int[] ranks, byte batchSize)
    {
        var log = Changelogs.Random(ops ?? [], keys ?? [], keyCount: 6);
        await using var harness = await RedisHarness.CreateAsync(RedisValueFormat.Hash, cluster);
        await DeliverAsync(harness, Changelogs.InAnyOrder(log, ranks ?? []), batchSize);
        Assert.Equal(Expected(log), await harness.ReadAsync(harness.Target("items")));
    }

    private static async Task DeliverAsync(RedisHarness harness, List<ChangeEvent> delivery, byte batchSize)
    {
        var size = 1 + (batchSize % 6);
        for (var i = 0; i < delivery.Count; i += size)
        {
            var changes = delivery.Skip(i).Take(size).ToList();
            var checkpoint = changes.GroupBy(c => c.Origin.Topic).ToDictionary(g => g.Key, g => g.Max(c => c.Origin.Position));
            var result = await harness.Sink.ApplyAsync(new SinkBatch("property", harness.Target("items"), changes, checkpoint), CancellationToken.None);
            Assert.Empty(result.Rejected);
        }
    }

    /// <summary>The reference rows as the harness renders them: columns by name (id, n, name).</summary>
    private static List<string> Expected(List<ChangeEvent> log) =>
        [.. Changelogs.FinalState(log).Values
            .Select(row => $"id={row["id"].AsInt64}|n={row["n"].AsInt64}|name={row["name"].AsText}")
            .Order(StringComparer.Ordinal)];
}

/// <summary>A property that needs the Redis Cluster: skipped, with the reason, where SYNC_TEST_REDIS_CLUSTER is not set.</summary>
public sealed class RedisClusterPropertyAttribute : PropertyAttribute
{
    public RedisClusterPropertyAttribute()
    {
        if (RedisClusterTestServer.Nodes is null)
        {
            Skip = RedisClusterTestServer.SkipReason;
        }
    }
}
