using System.Net;
using StackExchange.Redis;

namespace Sync.Cli.Tests;

/// <summary><c>sync verify</c> against a real Redis Cluster (three primaries with a replica each,
/// SYNC_TEST_REDIS_CLUSTER): each primary holds only its own slots' keys (cluster spec, "Key
/// distribution model", https://redis.io/docs/latest/operate/oss_and_stack/reference/cluster-spec/ ),
/// so drift of every class is injected on every primary, and all of it must be found and repaired.</summary>
public sealed class VerifyRedisClusterTests : WorkspaceTests, IAsyncLifetime
{
    private const string Topic = "persistent://public/default/db1.public.users";
    private const int Keys = 60;

    private readonly string _prefix = "vc" + Guid.NewGuid().ToString("N")[..10];
    private ConnectionMultiplexer _redis = null!;

    private IDatabase Db => _redis.GetDatabase();

    public async Task InitializeAsync()
    {
        var options = new ConfigurationOptions();
        foreach (var node in ShadowBackfillKeyValueAndSearchTests.ClusterNodes ?? [])
        {
            options.EndPoints.Add(node);
        }

        _redis = options.EndPoints.Count == 0 ? null! : await ConnectionMultiplexer.ConnectAsync(options);
    }

    public async Task DisposeAsync()
    {
        if (_redis is null)
        {
            return;
        }

        foreach (var server in Primaries())
        {
            await foreach (var key in server.KeysAsync(pattern: $"{_prefix}*", pageSize: 1000))
            {
                await Db.KeyDeleteAsync(key);
            }
        }

        await _redis.DisposeAsync();
    }

    private IServer[] Primaries() => [.. _redis.GetServers().Where(s => s.IsConnected && !s.IsReplica)];

    private string Config()
    {
        var endpoints = string.Join(", ", ShadowBackfillKeyValueAndSearchTests.ClusterNodes!.Select(n => $"'{n}'"));
        return Workspace.WriteUsersFileConfig(Topic, "cache", $"{{ type: redis, endpoints: [{endpoints}], keyPrefix: '{_prefix}:sync:', cluster: true }}", $"table: users, target: {{ keyTemplate: '{_prefix}:user:{{id}}' }}");
    }

    private string RowKey(int id) => $"{_prefix}:user:{id}";

    /// <summary>On a cluster a row's version key carries the row key as its hash tag, so both share a slot
    /// (docs/operations.md, "Redis Cluster and Redis Sentinel").</summary>
    private string State(int id) => $"{_prefix}:sync:s:5:users:{{{RowKey(id)}}}{RowKey(id)}";

    [RedisClusterCliFact]
    public async Task Drift_of_every_class_on_every_primary_is_found_and_repaired()
    {
        Workspace.Write("data/users.jsonl", string.Concat(Enumerable.Range(1, Keys).Select(id => ChangelogLines.Line(Topic, id, "c", $"user-{id}", id * 10))));
        var config = Config();
        var run = await Workspace.Sync("run", "--config", config);
        Assert.True(run.ExitCode == 0, run.ToString());

        // Four ids of each primary: one per class the log's keys can drift into; one extra row per primary.
        var byPrimary = Enumerable.Range(1, Keys).GroupBy(id => PrimaryOf(RowKey(id))).ToList();
        Assert.Equal(Primaries().Length, byPrimary.Count);
        Assert.True(byPrimary.Count >= 3, $"{byPrimary.Count} primaries hold the rows");
        Assert.All(byPrimary, g => Assert.True(g.Count() >= 4, $"{g.Key} holds {g.Count()} rows"));
        var extras = new List<int>();
        foreach (var primary in byPrimary)
        {
            var ids = primary.Take(4).ToArray();
            await Db.KeyDeleteAsync(RowKey(ids[0]));
            await Db.HashSetAsync(RowKey(ids[1]), "name", "changed");
            await SetLsnAsync(ids[2], 5);
            await SetLsnAsync(ids[3], 999);
            var extra = Enumerable.Range(1_000, 1_000).First(id => PrimaryOf(RowKey(id)).Equals(primary.Key) && !extras.Contains(id));
            extras.Add(extra);
            await Db.HashSetAsync(RowKey(extra), [new HashEntry("id", extra), new HashEntry("name", "added")]);
        }

        var primaries = byPrimary.Count;
        await VerifyReport.AssertDriftAsync(Workspace, config, Keys + primaries, ("missing", primaries), ("extra", primaries), ("stale", primaries), ("ahead", primaries), ("different", primaries));

        var repair = await Workspace.Sync("verify", "--config", config, "--repair");

        Assert.True(repair.ExitCode == 3, repair.ToString());
        Assert.Contains($"repaired: re-applied {3 * primaries}, deleted {primaries}, left {primaries} (ahead of the log)", repair.Output, StringComparison.Ordinal);
        // The extras' deletes leave delete markers, which the log's silence on those keys agrees with.
        Assert.Contains($"after repair: materializer users (sink cache, target users): {Keys + primaries} keys, {primaries} drifted keys", repair.Output, StringComparison.Ordinal);
        foreach (var primary in byPrimary)
        {
            var ids = primary.Take(3).ToArray();
            Assert.Equal($"user-{ids[0]}", (string?)await Db.HashGetAsync(RowKey(ids[0]), "name"));
            Assert.Equal($"user-{ids[1]}", (string?)await Db.HashGetAsync(RowKey(ids[1]), "name"));
        }

        Assert.All(extras, id => Assert.False(Db.KeyExists(RowKey(id))));
        var again = await Workspace.Sync("verify", "--config", config, "--json");
        using var after = JsonDocument.Parse(again.Output);
        var classes = after.RootElement.GetProperty("materializers")[0].GetProperty("classes");
        Assert.Equal(primaries, classes.GetProperty("ahead").GetProperty("count").GetInt64());
        Assert.Equal(primaries, classes.EnumerateObject().Sum(c => c.Value.GetProperty("count").GetInt64()));
    }

    private EndPoint PrimaryOf(string key) => _redis.GetServer(Db.IdentifyEndpoint(key)!).EndPoint;

    private Task SetLsnAsync(int id, long lsn) => RedisVersionStates.SetLsnAsync(Db, State(id), lsn);
}
