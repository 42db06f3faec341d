using StackExchange.Redis;

namespace Sync.Cli.Tests;

/// <summary><c>sync verify</c> against a real Redis: the drift of <see cref="VerifyCommandTests"/>
/// injected into hashes and version states behind sync's back, each found with its class, and repaired.</summary>
public sealed class VerifyRedisTests : WorkspaceTests, IAsyncLifetime
{
    private const string Topic = "persistent://public/default/db1.public.users";

    private readonly string _prefix = "vf" + Guid.NewGuid().ToString("N")[..10];
    private ConnectionMultiplexer _redis = null!;

    private IDatabase Db => _redis.GetDatabase();

    public async Task InitializeAsync() => _redis = await ConnectionMultiplexer.ConnectAsync(TestServers.Redis);

    public async Task DisposeAsync()
    {
        foreach (var key in _redis.GetServer(_redis.GetEndPoints()[0]).Keys(pattern: $"{_prefix}*"))
        {
            await Db.KeyDeleteAsync(key);
        }

        await _redis.DisposeAsync();
    }

    private string Config() => Workspace.WriteUsersFileConfig(Topic, "cache", $"{{ type: redis, endpoints: ['{TestServers.Redis}'], keyPrefix: '{_prefix}:sync:' }}", $"table: users, target: {{ keyTemplate: '{_prefix}:user:{{id}}' }}");

    private string State(int id) => $"{_prefix}:sync:s:5:users:{_prefix}:user:{id}";

    [Fact]
    public async Task Drift_injected_into_redis_is_found_with_its_class_and_repaired()
    {
        Workspace.Write("data/users.jsonl", string.Concat(Enumerable.Range(1, 6).Select(id => ChangelogLines.Line(Topic, id, "c", $"user-{id}", id * 10))));
        var config = Config();
        var run = await Workspace.Sync("run", "--config", config);
        Assert.True(run.ExitCode == 0, run.ToString());

        await Db.KeyDeleteAsync($"{_prefix}:user:1");
        await Db.HashSetAsync($"{_prefix}:user:7", [new HashEntry("id", "7"), new HashEntry("name", "added")]);
        await Db.HashSetAsync($"{_prefix}:user:2", "name", "changed");
        await SetLsnAsync(3, 5);
        await SetLsnAsync(4, 999);

        await VerifyReport.AssertDriftAsync(Workspace, config, 7, ("missing", 1L), ("extra", 1L), ("stale", 1L), ("ahead", 1L), ("different", 1L));

        var repair = await Workspace.Sync("verify", "--config", config, "--repair");

        Assert.True(repair.ExitCode == 3, repair.ToString());
        Assert.Contains("repaired: re-applied 3, deleted 1, left 1 (ahead of the log)", repair.Output, StringComparison.Ordinal);
        Assert.Contains("after repair: materializer users (sink cache, target users): 7 keys, 1 drifted key", repair.Output, StringComparison.Ordinal);
        Assert.Equal("user-1", (string?)await Db.HashGetAsync($"{_prefix}:user:1", "name"));
        Assert.Equal("user-2", (string?)await Db.HashGetAsync($"{_prefix}:user:2", "name"));
        Assert.False(await Db.KeyExistsAsync($"{_prefix}:user:7"));
    }

    private Task SetLsnAsync(int id, long lsn) => RedisVersionStates.SetLsnAsync(Db, State(id), lsn);
}
