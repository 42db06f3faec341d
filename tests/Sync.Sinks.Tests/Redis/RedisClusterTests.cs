using StackExchange.Redis;
using StreamPosition = Sync.Engine.Changes.StreamPosition;
using Sync.Sinks.Tests.Conformance;

namespace Sync.Sinks.Tests.Redis;

/// <summary>The Redis sink on a real Redis Cluster (three primaries with a replica each, SYNC_TEST_REDIS_CLUSTER).</summary>
public sealed class RedisClusterTests
{
    private static readonly IReadOnlyDictionary<string, StreamPosition> NoCheckpoint = new Dictionary<string, StreamPosition>();

    [RedisClusterFact]
    public async Task Each_row_its_version_and_its_delete_marker_share_the_row_keys_slot_and_the_rows_spread_over_every_primary()
    {
        await using var h = await RedisHarness.CreateAsync(RedisValueFormat.Hash, cluster: true);
        var target = h.Target("items");
        var changes = Enumerable.Range(1, 60).Select(i => Change.Create(("id", (object?)i), i, ("name", $"n{i}"))).ToList();
        changes.Add(Change.Delete(("id", (object?)1), 100));
        var result = await h.Sink.ApplyAsync(new SinkBatch("cluster", target, changes, NoCheckpoint), CancellationToken.None);
        Assert.Equal((60, 1), (result.Upserted, result.Deleted));

        await using var connection = await RedisClusterTestServer.ConnectAsync();
        var keys = new RedisKeys(RedisClusterTestServer.Options(h.Namespace).KeyPrefix, cluster: true);
        var db = connection.GetDatabase();
        var primaries = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 1; i <= 60; i++)
        {
            var rowKey = $"{target.Table}:{i}";
            var stateKey = keys.State(target.Table, rowKey);
            // CLUSTER KEYSLOT, as the server computes it (https://redis.io/docs/latest/commands/cluster-keyslot/).
            Assert.Equal((long)await db.ExecuteAsync("CLUSTER", "KEYSLOT", rowKey), (long)await db.ExecuteAsync("CLUSTER", "KEYSLOT", stateKey));
            var state = RedisState.TryParse((byte[]?)await db.StringGetAsync(stateKey))!;
            Assert.Equal(i == 1, state.Deleted);
            primaries.Add(connection.GetServer(db.IdentifyEndpoint(rowKey)!).EndPoint.ToString()!);
        }

        Assert.Equal(3, primaries.Count);
        Assert.Equal(59, (await h.ReadAsync(target)).Count);
    }

    [RedisClusterFact]
    public async Task An_erase_finds_and_deletes_a_subjects_rows_on_every_primary()
    {
        await using var h = await RedisHarness.CreateAsync(RedisValueFormat.Json, cluster: true);
        var target = h.Target("orders");
        var changes = Enumerable.Range(1, 30).Select(i => Change.Create(("id", (object?)i), i, ("customer", i % 2 == 0 ? 7L : 8L))).ToList();
        await h.Sink.ApplyAsync(new SinkBatch("cluster", target, changes, NoCheckpoint), CancellationToken.None);

        Assert.Equal(15, await h.Sink.EraseAsync(target, new SubjectMatch("customer", FieldValue.FromInt64(7)), CancellationToken.None));

        var rows = await h.ReadAsync(target);
        Assert.Equal(15, rows.Count);
        Assert.All(rows, row => Assert.Contains("customer=8", row, StringComparison.Ordinal));
        // A replayed create of an erased row is stale: the erasure marker sits in the row's slot.
        var replay = await h.Sink.ApplyAsync(new SinkBatch("cluster", target, [changes[1]], NoCheckpoint), CancellationToken.None);
        Assert.Equal(1, replay.Stale);
    }

    [RedisClusterFact]
    public async Task A_truncate_removes_the_tables_rows_on_every_primary_and_makes_older_changes_stale()
    {
        await using var h = await RedisHarness.CreateAsync(RedisValueFormat.Hash, cluster: true);
        var target = h.Target("items");
        var changes = Enumerable.Range(1, 30).Select(i => Change.Create(("id", (object?)i), i, ("name", "x"))).ToList();
        changes.Add(Change.Truncate(50));
        changes.Add(Change.Create(("id", (object?)99), 60, ("name", "after")));
        var result = await h.Sink.ApplyAsync(new SinkBatch("cluster", target, changes, NoCheckpoint), CancellationToken.None);
        Assert.Equal(30, result.Deleted);
        Assert.Equal(["id=99|name=after"], await h.ReadAsync(target));

        var late = await h.Sink.ApplyAsync(new SinkBatch("cluster", target, [Change.Create(("id", (object?)500), 40, ("name", "late"))], NoCheckpoint), CancellationToken.None);
        Assert.Equal(1, late.Stale);
    }

    [RedisClusterFact]
    public async Task The_verify_sweep_reads_the_states_and_the_stateless_rows_of_every_primary()
    {
        await using var h = await RedisHarness.CreateAsync(RedisValueFormat.Hash, cluster: true);
        var target = h.Target("items");
        var changes = Enumerable.Range(1, 60).Select(i => Change.Create(("id", (object?)i), i, ("name", $"n{i}"))).ToList();
        changes.Add(Change.Delete(("id", (object?)1), 100));
        await h.Sink.ApplyAsync(new SinkBatch("cluster", target, changes, NoCheckpoint), CancellationToken.None);

        // Rows written behind sync's back, without a state, in every primary's slots.
        await using var connection = await RedisClusterTestServer.ConnectAsync();
        var db = connection.GetDatabase();
        var foreign = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 501; i <= 530; i++)
        {
            var rowKey = $"{target.Table}:{i}";
            await db.HashSetAsync(rowKey, [new HashEntry("id", i), new HashEntry("name", "foreign")]);
            foreign.Add(connection.GetServer(db.IdentifyEndpoint(rowKey)!).EndPoint.ToString()!);
        }

        Assert.Equal(3, foreign.Count);
        var stored = new List<Sync.Engine.Verify.StoredRow>();
        await foreach (var row in h.Sink.ScanStoredRows("cluster", target, CancellationToken.None)!)
        {
            stored.Add(row);
        }

        var ids = stored.Select(r => r.Key.Values[0].ToText()).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(Enumerable.Range(1, 60).Concat(Enumerable.Range(501, 30)).Select(i => i.ToString(CultureInfo.InvariantCulture)).Order(StringComparer.Ordinal), ids);
        Assert.True(stored.Single(r => r.Key.Values[0].ToText() == "1").IsMarker);
        Assert.All(stored.Where(r => r.Version.Stream.Length == 0), r => Assert.Equal("foreign", r.Image!["name"].ToText()));
        Assert.Equal(30, stored.Count(r => r.Version.Stream.Length == 0));
    }

    [RedisClusterFact]
    public async Task The_sink_opens_on_a_cluster_it_detects_and_refuses_one_when_cluster_is_false()
    {
        var options = RedisClusterTestServer.Options(RedisTestServer.NewNamespace());
        options.Cluster = null;
        await using (var sink = await RedisSink.OpenAsync("detect", options, CancellationToken.None))
        {
            Assert.True(sink.ClusterDetected);
        }

        options.Cluster = false;
        var e = await Assert.ThrowsAsync<SinkFatalException>(async () => await RedisSink.OpenAsync("refuse", options, CancellationToken.None));
        Assert.Contains("is a Redis Cluster node, but cluster is false", e.Message, StringComparison.Ordinal);
    }
}
