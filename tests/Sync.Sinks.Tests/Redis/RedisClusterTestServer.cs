using StackExchange.Redis;

namespace Sync.Sinks.Tests.Redis;

/// <summary>The Redis Cluster the cluster tests use: <c>SYNC_TEST_REDIS_CLUSTER</c> (the six nodes as
/// <c>host:port,…</c>), which ./scripts/test.sh exports after scripts/lib/redis-cluster.sh started three
/// primaries with a replica each. Tests of cluster behaviour skip with <see cref="SkipReason"/> where it is
/// not set (<see cref="RedisClusterFactAttribute"/>); the cluster conformance suite, whose facts it shares
/// with every sink, fails with the same message instead.</summary>
internal static class RedisClusterTestServer
{
    public const string Variable = "SYNC_TEST_REDIS_CLUSTER";

    public static string SkipReason =>
        $"{Variable} is not set: run ./scripts/test.sh, which starts a throwaway Redis Cluster (scripts/lib/redis-cluster.sh) and exports its nodes";

    public static string[]? Nodes => Environment.GetEnvironmentVariable(Variable) is { Length: > 0 } value ? value.Split(',') : null;

    public static string[] RequiredNodes => Nodes ?? throw new InvalidOperationException(SkipReason);

    public static RedisSinkOptions Options(string ns) => new()
    {
        Endpoints = [.. RequiredNodes],
        KeyPrefix = ns + "sync:",
        Cluster = true,
        Retry = new RetryPolicy { MaxAttempts = 8, InitialDelay = TimeSpan.FromMilliseconds(50), MaxDelay = TimeSpan.FromMilliseconds(500) },
    };

    public static async Task<ConnectionMultiplexer> ConnectAsync()
    {
        var configuration = new ConfigurationOptions { AllowAdmin = true };
        foreach (var node in RequiredNodes)
        {
            configuration.EndPoints.Add(node);
        }

        return await ConnectionMultiplexer.ConnectAsync(configuration);
    }

    /// <summary>Every primary of the cluster (each holds only its own slots' keys).</summary>
    public static IServer[] Primaries(ConnectionMultiplexer connection) => [.. connection.GetServers().Where(s => s.IsConnected && !s.IsReplica)];

    /// <summary>Deletes every key of the namespace, on every primary, one key per command (keys of many slots).</summary>
    public static async Task CleanAsync(string ns)
    {
        await using var connection = await ConnectAsync();
        var db = connection.GetDatabase();
        foreach (var server in Primaries(connection))
        {
            var deletes = new List<Task>();
            await foreach (var key in server.KeysAsync(pattern: RedisKeys.EscapePattern(ns) + "*", pageSize: 1000))
            {
                deletes.Add(db.KeyDeleteAsync(key));
            }

            await Task.WhenAll(deletes);
        }
    }
}

/// <summary>A fact that needs the Redis Cluster: skipped, with the reason, where SYNC_TEST_REDIS_CLUSTER is not set.</summary>
public sealed class RedisClusterFactAttribute : FactAttribute
{
    public RedisClusterFactAttribute()
    {
        if (RedisClusterTestServer.Nodes is null)
        {
            Skip = RedisClusterTestServer.SkipReason;
        }
    }
}
