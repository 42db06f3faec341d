using StackExchange.Redis;

namespace Sync.Cli.Tests;

/// <summary><c>sync backfill --shadow</c> through the real CLI on a real Redis Cluster
/// (SYNC_TEST_REDIS_CLUSTER): the new key generation is switched in, the old keys go from every primary,
/// and <c>sync run</c> goes on from the backfill's end, writing to the new generation.</summary>
public sealed class ShadowBackfillRedisClusterTests : WorkspaceTests
{
    private const string Topic = "persistent://public/default/shop.public.items";
    private const int Keys = 300;
    private readonly string _table = $"items{Guid.NewGuid():N}"[..16];

    internal static string[]? Nodes => Environment.GetEnvironmentVariable("SYNC_TEST_REDIS_CLUSTER") is { Length: > 0 } value ? value.Split(',') : null;

    [RedisClusterCliFact]
    public async Task On_a_redis_cluster_the_new_generation_replaces_the_old_keys_on_every_primary_and_a_run_resumes_from_the_backfills_end()
    {
        Workspace.Write("data/items.jsonl", Changelog(1, 1_200));
        var endpoints = string.Join(", ", Nodes!.Select(n => $"'{n}'"));
        var config = Workspace.Write("cluster.yaml", $$"""
            sources:
              changelog: { type: file, path: data/items.jsonl }
            sinks:
              cache: { type: redis, endpoints: [{{endpoints}}], keyPrefix: '{{_table}}:sync:', cluster: true }
            materializers:
              items:
                source: changelog
                topics: ['{{Topic}}']
                sink: cache
                table: {{_table}}
                batchSize: 100
            """);
        var options = new ConfigurationOptions();
        foreach (var node in Nodes!)
        {
            options.EndPoints.Add(node);
        }

        await using var redis = await ConnectionMultiplexer.ConnectAsync(options);
        var db = redis.GetDatabase();
        try
        {
            Assert.Equal(0, (await Workspace.Sync("run", "--config", config)).ExitCode);
            Assert.Equal(Keys, await CountKeysAsync(redis, $"{_table}:[0-9]*"));

            var backfill = await Workspace.Sync("backfill", "--config", config, "--materializer", "items", "--shadow", "--no-progress");
            Assert.True(backfill.ExitCode == 0, backfill.ToString());
            // The documented read on a cluster: the locator names the pointer, the pointer holds the prefix.
            var pointer = (string?)await db.StringGetAsync($"{_table}:sync:generation-pointer:{_table.Length}:{_table}");
            Assert.Equal($"{_table}:sync:generation:{_table.Length}:{_table}:{{{_table}:sync:checkpoint:items}}", pointer);
            var prefix = (string?)await db.StringGetAsync(pointer);
            Assert.Equal($"{_table}@1:", prefix);
            Assert.Equal(Keys, await CountKeysAsync(redis, $"{prefix}{_table}:*"));
            Assert.Equal(0, await CountKeysAsync(redis, $"{_table}:[0-9]*"));
            Assert.Equal("1200", (string?)await db.HashGetAsync($"{prefix}{_table}:{1_200 % Keys}", "n"));

            File.AppendAllText(Workspace.File("data/items.jsonl"), Changelog(1_201, 1_201));
            var run = await Workspace.Sync("run", "--config", config);
            Assert.True(run.ExitCode == 0, run.ToString());
            Assert.Matches($@"items\s+cache/{_table}\s+1\s", run.Output);
            Assert.Equal("1201", (string?)await db.HashGetAsync($"{prefix}{_table}:{1_201 % Keys}", "n"));
            Assert.Equal(0, await CountKeysAsync(redis, $"{_table}:[0-9]*"));
        }
        finally
        {
            foreach (var server in redis.GetServers().Where(s => s.IsConnected && !s.IsReplica))
            {
                await foreach (var key in server.KeysAsync(pattern: _table + "*"))
                {
                    await db.KeyDeleteAsync(key);
                }
            }
        }
    }

    private static async Task<long> CountKeysAsync(ConnectionMultiplexer redis, string pattern)
    {
        long count = 0;
        foreach (var server in redis.GetServers().Where(s => s.IsConnected && !s.IsReplica))
        {
            await foreach (var _ in server.KeysAsync(pattern: pattern, pageSize: 1000))
            {
                count++;
            }
        }

        return count;
    }

    private static string Changelog(int from, int to)
    {
        var text = new StringBuilder();
        for (var i = from; i <= to; i++)
        {
            var key = i % Keys;
            text.Append(CultureInfo.InvariantCulture, $$$$"""{"topic":"{{{{Topic}}}}","key":{"id":{{{{key}}}}},"value":{"op":"u","after":{"id":{{{{key}}}},"n":{{{{i}}}}},"source":{"lsn":{{{{1000 + i}}}}}}}""").Append('\n');
        }

        return text.ToString();
    }
}

/// <summary>Needs the Redis Cluster the test script starts: skipped, with the reason, where SYNC_TEST_REDIS_CLUSTER is not set.</summary>
internal sealed class RedisClusterCliFactAttribute : FactAttribute
{
    public RedisClusterCliFactAttribute()
    {
        if (ShadowBackfillRedisClusterTests.Nodes is null)
        {
            Skip = "SYNC_TEST_REDIS_CLUSTER is not set: run ./scripts/test.sh, which starts a local Redis Cluster";
        }
    }
}
