using System.Text.Json.Nodes;
using StackExchange.Redis;
using Sync.Testing.Elasticsearch;

namespace Sync.Cli.Tests;

/// <summary><c>sync backfill --shadow</c> through the real CLI on Redis (a real server,
/// SYNC_TEST_REDIS, and a real Redis Cluster, SYNC_TEST_REDIS_CLUSTER) and on the Elasticsearch fake:
/// the new generation or index is switched in at the end and <c>sync run</c> goes on writing to it.</summary>
public sealed class ShadowBackfillKeyValueAndSearchTests : WorkspaceTests
{
    private const string Topic = "persistent://public/default/shop.public.items";
    private const int Keys = 500;
    private readonly string _table = $"items{Guid.NewGuid():N}"[..16];

    private static string Redis => TestServers.Redis;

    internal static string[]? ClusterNodes => Environment.GetEnvironmentVariable("SYNC_TEST_REDIS_CLUSTER") is { Length: > 0 } value ? value.Split(',') : null;

    [Fact]
    public async Task On_redis_the_new_generation_replaces_the_old_keys_and_a_run_writes_to_it()
    {
        Workspace.Write("data/items.jsonl", Changelog(1, 2_000));
        var config = Config($"cache: {{ type: redis, endpoints: ['{Redis}'], keyPrefix: '{_table}:sync:' }}", "cache");
        await using var redis = await ConnectionMultiplexer.ConnectAsync(Redis);
        var db = redis.GetDatabase();
        try
        {
            Assert.Equal(0, (await Workspace.Sync("run", "--config", config)).ExitCode);
            await db.HashSetAsync($"{_table}:99999", "name", "stale");

            var backfill = await Workspace.Sync("backfill", "--config", config, "--materializer", "items", "--shadow", "--no-progress");
            Assert.True(backfill.ExitCode == 0, backfill.ToString());
            var prefix = (string?)await db.StringGetAsync($"{_table}:sync:generation:{_table.Length}:{_table}");
            Assert.Equal($"{_table}@1:", prefix);
            Assert.Equal(Keys, await CountKeysAsync(redis, $"{prefix}{_table}:*"));
            // The old generation's rows went with their version keys; a key sync never wrote (no version
            // key) is not sync's to delete.
            Assert.Equal(1, await CountKeysAsync(redis, $"{_table}:[0-9]*"));
            Assert.Equal("stale", (string?)await db.HashGetAsync($"{_table}:99999", "name"));

            await AppendAndRunAsync(config, db, prefix!, 2_001);
        }
        finally
        {
            await DeleteKeysAsync(redis);
        }
    }

    [RedisClusterCliFact]
    public async Task On_a_redis_cluster_the_new_generation_replaces_the_old_keys_on_every_primary_and_a_run_resumes_from_the_backfills_end()
    {
        Workspace.Write("data/items.jsonl", Changelog(1, 2_000));
        var endpoints = string.Join(", ", ClusterNodes!.Select(n => $"'{n}'"));
        var config = Config($"cache: {{ type: redis, endpoints: [{endpoints}], keyPrefix: '{_table}:sync:', cluster: true }}", "cache");
        var options = new ConfigurationOptions();
        foreach (var node in ClusterNodes!)
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

            await AppendAndRunAsync(config, db, prefix!, 2_001);
            Assert.Equal(0, await CountKeysAsync(redis, $"{_table}:[0-9]*"));
        }
        finally
        {
            await DeleteKeysAsync(redis);
        }
    }

    /// <summary>Appends change <paramref name="n"/> and runs: it is written to the generation <paramref name="prefix"/> names.</summary>
    private async Task AppendAndRunAsync(string config, IDatabase db, string prefix, int n)
    {
        File.AppendAllText(Workspace.File("data/items.jsonl"), Changelog(n, n));
        var run = await Workspace.Sync("run", "--config", config);
        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Matches($@"items\s+cache/{_table}\s+1\s", run.Output);
        Assert.Equal(n.ToString(CultureInfo.InvariantCulture), (string?)await db.HashGetAsync($"{prefix}{_table}:{n % Keys}", "n"));
    }

    private async Task DeleteKeysAsync(ConnectionMultiplexer redis)
    {
        foreach (var server in Primaries(redis))
        {
            await foreach (var key in server.KeysAsync(pattern: _table + "*"))
            {
                await redis.GetDatabase().KeyDeleteAsync(key);
            }
        }
    }

    /// <summary>The one server, or every primary of a cluster (each holds only its own slots' keys).</summary>
    private static IEnumerable<IServer> Primaries(ConnectionMultiplexer redis) => redis.GetServers().Where(s => s.IsConnected && !s.IsReplica);

    [Fact]
    public async Task On_elasticsearch_a_reader_counting_through_the_live_name_sees_only_complete_indices()
    {
        await using var fake = FakeElasticsearch.Start();
        Workspace.Write("data/items.jsonl", Changelog(1, 4_000));
        var config = Config($"search: {{ type: elasticsearch, urls: ['{fake.Url}'] }}", "search", batchSize: 1_000);
        Assert.Equal(0, (await Workspace.Sync("run", "--config", config)).ExitCode);
        using var http = new HttpClient { BaseAddress = fake.Url };
        await http.PutAsync($"{_table}/_doc/99999?refresh=true", new StringContent("""{"id":99999,"n":0}""", Encoding.UTF8, "application/json"));

        var seen = new HashSet<long>();
        using var stop = new CancellationTokenSource();
        var reader = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                await http.PostAsync($"{_table}/_refresh", null);
                var count = JsonNode.Parse(await http.GetStringAsync($"{_table}/_count"))!["count"]!.GetValue<long>();
                lock (seen)
                {
                    seen.Add(count);
                }
            }
        });
        var backfill = await Workspace.Sync("backfill", "--config", Config($"search: {{ type: elasticsearch, urls: ['{fake.Url}'] }}", "search", batchSize: 20), "--materializer", "items", "--shadow", "--no-progress");
        await Sync.Testing.Process.Poll.UntilAsync(() => { lock (seen) { return seen.Contains(Keys); } });
        await stop.CancelAsync();
        await reader;

        Assert.True(backfill.ExitCode == 0, backfill.ToString());
        Assert.Contains($"alias \"{_table}\" -> index \"{_table}-g1\"", backfill.Output, StringComparison.Ordinal);
        lock (seen)
        {
            Assert.Equal(new long[] { Keys, Keys + 1 }, seen.Order());
        }

        File.AppendAllText(Workspace.File("data/items.jsonl"), Changelog(4_001, 4_001));
        var run = await Workspace.Sync("run", "--config", config);
        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Matches($@"items\s+search/{_table}\s+1\s", run.Output);
        Assert.Contains("\"n\":4001", fake.Documents($"{_table}-g1")[(4_001 % Keys).ToString(CultureInfo.InvariantCulture)], StringComparison.Ordinal);
    }

    private static async Task<long> CountKeysAsync(ConnectionMultiplexer redis, string pattern)
    {
        long count = 0;
        foreach (var server in Primaries(redis))
        {
            await foreach (var _ in server.KeysAsync(pattern: pattern, pageSize: 1000))
            {
                count++;
            }
        }

        return count;
    }

    private string Config(string sink, string sinkName, int batchSize = 100) => Workspace.Write($"{sinkName}-{batchSize}.yaml", $"""
        sources:
          changelog: {"{"} type: file, path: data/items.jsonl {"}"}
        sinks:
          {sink}
        materializers:
          items:
            source: changelog
            topics: ['{Topic}']
            sink: {sinkName}
            table: {_table}
            batchSize: {batchSize}
        """);

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
        if (ShadowBackfillKeyValueAndSearchTests.ClusterNodes is null)
        {
            Skip = "SYNC_TEST_REDIS_CLUSTER is not set: run ./scripts/test.sh, which starts a local Redis Cluster";
        }
    }
}
