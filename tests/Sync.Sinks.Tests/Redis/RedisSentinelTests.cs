using StackExchange.Redis;

namespace Sync.Sinks.Tests.Redis;

/// <summary>The Redis sink behind Redis Sentinel (SYNC_TEST_REDIS_SENTINEL: <c>service@sentinel,sentinel,…</c>,
/// a primary, its replica and three sentinels started by scripts/lib/redis-cluster.sh).</summary>
public sealed class RedisSentinelTests
{
    private const string Variable = "SYNC_TEST_REDIS_SENTINEL";

    /// <summary>A failover forced by <c>SENTINEL FAILOVER</c> (https://redis.io/docs/latest/operate/oss_and_stack/management/sentinel/#sentinel-commands)
    /// while batches are written: the sink follows the new primary. Writes the old primary took after the
    /// replica was promoted are lost with it, the checkpoint with them (it is written after its rows on
    /// the same server, and a replica holds a prefix of its primary's history), so resuming from the
    /// checkpoint the sink holds — what <c>sync run</c> does — ends in the exact state.</summary>
    [RedisSentinelFact]
    public async Task A_failover_mid_run_is_followed_and_resuming_from_the_checkpoint_ends_in_the_exact_state()
    {
        var (service, sentinels) = Deployment()!.Value;
        var ns = RedisTestServer.NewNamespace();
        var options = new RedisSinkOptions
        {
            Sentinel = new RedisSentinelOptions { ServiceName = service, Endpoints = [.. sentinels] },
            KeyPrefix = ns + "sync:",
            Retry = new RetryPolicy { MaxAttempts = 10, InitialDelay = TimeSpan.FromMilliseconds(50), MaxDelay = TimeSpan.FromMilliseconds(500) },
        };
        var keysBytes = Enumerable.Range(0, 1500).Select(i => (byte)(i * 37 % 251)).ToArray();
        var opsBytes = Enumerable.Range(0, 1500).Select(i => (byte)(i * 11 % 7)).ToArray();
        var log = Changelogs.Random(opsBytes, keysBytes, keyCount: 40);
        var target = new TargetSpec(ns + "items");
        var before = await PrimaryAsync(sentinels[0], service);

        await using (var sink = await RedisSink.OpenAsync("sentinel", options, CancellationToken.None))
        {
            var failedOver = false;
            for (var i = 0; i < log.Count; i += 20)
            {
                if (i == 200)
                {
                    await SentinelAsync(sentinels[0], "FAILOVER", service);
                }

                await ApplyAsync(sink, target, log.Skip(i).Take(20).ToList());
                failedOver = failedOver || !string.Equals(await PrimaryAsync(sentinels[0], service), before, StringComparison.Ordinal);
            }

            // The failover was applied while the batches ran (polled; the sentinels switch within seconds).
            for (var attempt = 0; !failedOver && attempt < 200; attempt++)
            {
                await Task.Delay(50);
                failedOver = !string.Equals(await PrimaryAsync(sentinels[0], service), before, StringComparison.Ordinal);
            }

            Assert.True(failedOver, $"the sentinels still name {before} as the primary of {service}");

            // The old primary took writes until the sentinels turned it into a replica of the new one,
            // which drops them; only then is what the sink holds the state to resume from.
            var demoted = false;
            for (var attempt = 0; !demoted && attempt < 200; attempt++)
            {
                try
                {
                    demoted = await RoleAsync(before) == "slave";
                }
                catch (RedisConnectionException)
                {
                    // (refused while it restarts its replication: asked again)
                }
                if (!demoted)
                {
                    await Task.Delay(50);
                }
            }

            Assert.True(demoted, $"{before} was not turned into a replica after the failover");
            var checkpoint = await sink.LoadCheckpointAsync("sentinel", CancellationToken.None);
            var resume = log.Where(c => !checkpoint.TryGetValue(c.Origin.Topic, out var at) || c.Origin.Position.CompareTo(at) > 0).ToList();
            for (var i = 0; i < resume.Count; i += 20)
            {
                await ApplyAsync(sink, target, resume.Skip(i).Take(20).ToList());
            }
        }

        var primary = await PrimaryAsync(sentinels[0], service);
        Assert.NotEqual(before, primary);
        await using var reader = await RedisTestServer.ConnectAsync(primary);
        try
        {
            var rows = await RedisTestServer.ReadRowsAsync(reader.GetDatabase(), reader.GetServers()[0], new RedisKeys(options.KeyPrefix), target.Table, RedisValueFormat.Hash);
            var expected = Changelogs.FinalState(log).Values
                .Select(row => $"id={row["id"].AsInt64}|n={row["n"].AsInt64}|name={row["name"].AsText}")
                .Order(StringComparer.Ordinal);
            Assert.Equal(expected, rows);
        }
        finally
        {
            await RedisTestServer.CleanAsync(ns, primary);
        }
    }

    /// <summary>Applies one batch with its checkpoint; a batch the sink gave up on while the sentinels
    /// had not yet named the new primary is sent again, as the runtime does.</summary>
    private static async Task ApplyAsync(RedisSink sink, TargetSpec target, List<ChangeEvent> changes)
    {
        var checkpoint = changes.GroupBy(c => c.Origin.Topic).ToDictionary(g => g.Key, g => g.Max(c => c.Origin.Position));
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                var result = await sink.ApplyAsync(new SinkBatch("sentinel", target, changes, checkpoint), CancellationToken.None);
                Assert.Empty(result.Rejected);
                return;
            }
            catch (SinkUnavailableException) when (attempt < 10)
            {
            }
        }
    }

    internal static (string Service, string[] Sentinels)? Deployment() =>
        Environment.GetEnvironmentVariable(Variable) is { Length: > 0 } value && value.IndexOf('@', StringComparison.Ordinal) is var at and > 0
            ? (value[..at], value[(at + 1)..].Split(','))
            : null;

    internal static string SkipReason => $"{Variable} is not set: run ./scripts/test.sh, which starts a primary, a replica and three sentinels (scripts/lib/redis-cluster.sh) and exports them";

    private static async Task<RedisResult> SentinelAsync(string sentinel, params object[] args)
    {
        await using var connection = await ConnectionMultiplexer.ConnectAsync(new ConfigurationOptions { EndPoints = { sentinel }, CommandMap = CommandMap.Sentinel, AllowAdmin = true });
        return await connection.GetServer(connection.GetEndPoints()[0]).ExecuteAsync("SENTINEL", args);
    }

    /// <summary>The first word of <c>ROLE</c> (https://redis.io/docs/latest/commands/role/): master or slave.</summary>
    private static async Task<string> RoleAsync(string server)
    {
        await using var connection = await ConnectionMultiplexer.ConnectAsync(new ConfigurationOptions { EndPoints = { server }, AllowAdmin = true, ConnectTimeout = 2000 });
        var role = (RedisResult[])(await connection.GetServer(connection.GetEndPoints()[0]).ExecuteAsync("ROLE"))!;
        return role[0].ToString();
    }

    /// <summary>The primary the sentinels name (<c>SENTINEL GET-MASTER-ADDR-BY-NAME</c>) as host:port.</summary>
    private static async Task<string> PrimaryAsync(string sentinel, string service)
    {
        var address = (RedisResult[])(await SentinelAsync(sentinel, "GET-MASTER-ADDR-BY-NAME", service))!;
        return $"{address[0]}:{address[1]}";
    }
}

/// <summary>A fact that needs the Sentinel deployment: skipped, with the reason, where SYNC_TEST_REDIS_SENTINEL is not set.</summary>
public sealed class RedisSentinelFactAttribute : FactAttribute
{
    public RedisSentinelFactAttribute()
    {
        if (RedisSentinelTests.Deployment() is null)
        {
            Skip = RedisSentinelTests.SkipReason;
        }
    }
}
