using System.Diagnostics;
using Sync.Engine.Changes;
using StackExchange.Redis;
using Sync.Engine.Runtime;
using Sync.Engine.Sinks;
using Sync.Sinks.Redis;

namespace Sync.Bench.Redis;

/// <summary>The Redis sink on a three-primary Redis Cluster against the same sink on one standalone
/// Redis and against pipelined <c>HSET</c> of the same fields on the same cluster, in one run, on the
/// change mix of <see cref="RedisBench.Generate"/>. Also: the standalone sink with one row per script
/// call (what the cluster mode does) to tell the cost of per-row calls from the cost of the cluster;
/// the bytes the hash tag adds to each version key's name; and the memory of sync's own keys per row
/// (<c>MEMORY USAGE</c> of the version keys, https://redis.io/docs/latest/commands/memory-usage/ ).
/// Each path runs a few rounds, alternating, and reports its best round.</summary>
public static class RedisClusterBench
{
    public sealed record Result(
        int Events, double Standalone, double StandalonePerRow, double Cluster, double ClusterHset,
        double TagBytesPerRow, double StateBytesStandalone, double StateBytesCluster, double RowBytesCluster);

    public static async Task<Result> RunAsync(string standalone, string[] clusterNodes, int events, Action<string> output, int batchSize = 1000, int rounds = 2)
    {
        var changes = RedisBench.Generate(events, Math.Max(1, events / 10), seed: 42);
        var batches = changes.Chunk(batchSize).Select(b => Collapser.Collapse(b).ToArray()).ToArray();
        var standaloneOptions = new RedisSinkOptions { Endpoints = [standalone] };
        var clusterOptions = new RedisSinkOptions { Endpoints = [.. clusterNodes], Cluster = true };
        var perRowOptions = new RedisSinkOptions { Endpoints = [standalone], ChangesPerScript = 1 };
        await using var cluster = await ConnectionMultiplexer.ConnectAsync(string.Join(',', clusterNodes) + ",allowAdmin=true");
        await using var single = await ConnectionMultiplexer.ConnectAsync(standalone + ",allowAdmin=true");
        double s = 0, p = 0, c = 0, h = 0;
        var memory = (Tag: 0.0, Standalone: 0.0, Cluster: 0.0, Row: 0.0);
        for (var round = 1; round <= rounds; round++)
        {
            var (sr, _) = await SinkAsync(single, standaloneOptions, batches, events, measure: false);
            var (pr, _) = await SinkAsync(single, perRowOptions, batches, events, measure: false);
            var (cr, clusterMemory) = await SinkAsync(cluster, clusterOptions, batches, events, measure: true);
            var (_, standaloneMemory) = await SinkAsync(single, standaloneOptions, batches.Take(10).ToArray(), 10 * batchSize, measure: true);
            var (hsetSeconds, _) = await RedisBench.LimitAsync(cluster, changes, batchSize);
            var hr = events / hsetSeconds;
            output($"round {round}: standalone sink {sr:N0} events/s, standalone one row per call {pr:N0}, cluster sink {cr:N0}, cluster pipelined HSET {hr:N0}");
            (s, p, c, h) = (Math.Max(s, sr), Math.Max(p, pr), Math.Max(c, cr), Math.Max(h, hr));
            memory = (clusterMemory.Tag, standaloneMemory.State, clusterMemory.State, clusterMemory.Row);
        }

        output($"version key: {memory.Standalone:N0} B standalone, {memory.Cluster:N0} B on the cluster ({memory.Tag:N1} B of hash tag in its name); the row itself {memory.Row:N0} B (MEMORY USAGE, sampled)");
        return new Result(events, s, p, c, h, memory.Tag, memory.Standalone, memory.Cluster, memory.Row);
    }

    /// <summary>Applies the batches with their checkpoints; returns events/s and, when asked, the mean
    /// MEMORY USAGE of up to 500 version keys and their rows and the hash tag's bytes in a version key's name.</summary>
    private static async Task<(double PerSecond, (double Tag, double State, double Row) Memory)> SinkAsync(
        ConnectionMultiplexer admin, RedisSinkOptions template, ChangeEvent[][] batches, int events, bool measure)
    {
        var ns = $"bench:{Guid.NewGuid():N}:";
        var options = new RedisSinkOptions { Endpoints = template.Endpoints, Cluster = template.Cluster, ChangesPerScript = template.ChangesPerScript, KeyPrefix = ns + "sync:" };
        try
        {
            await using var sink = await RedisSink.OpenAsync("bench", options, CancellationToken.None);
            var target = new TargetSpec(ns + "items");
            var checkpoint = new Dictionary<string, Sync.Engine.Changes.StreamPosition>();
            var clock = Stopwatch.StartNew();
            foreach (var batch in batches)
            {
                checkpoint[batch[^1].Origin.Topic] = batch[^1].Origin.Position;
                var result = await sink.ApplyAsync(new SinkBatch("bench", target, batch, checkpoint), CancellationToken.None);
                if (result.Rejected.Count > 0)
                {
                    throw new InvalidOperationException($"the sink rejected {result.Rejected.Count} changes: {result.Rejected[0].Reason}");
                }
            }

            var perSecond = events / clock.Elapsed.TotalSeconds;
            return (perSecond, measure ? await MemoryAsync(admin, new RedisKeys(options.KeyPrefix, template.Cluster == true), target.Table) : default);
        }
        finally
        {
            await RedisBench.CleanAsync(admin, ns);
        }
    }

    private static async Task<(double Tag, double State, double Row)> MemoryAsync(ConnectionMultiplexer admin, RedisKeys keys, string table)
    {
        var db = admin.GetDatabase();
        double tag = 0, state = 0, row = 0;
        var n = 0;
        foreach (var server in admin.GetServers().Where(s => s.IsConnected && !s.IsReplica))
        {
            await foreach (var stateKey in server.KeysAsync(pattern: keys.StatePattern(table), pageSize: 500))
            {
                var rowKey = keys.RowKeyOf(table, stateKey.ToString());
                tag += stateKey.ToString().Length - keys.StatePrefix(table).Length - rowKey.Length;
                state += (long)await db.ExecuteAsync("MEMORY", "USAGE", stateKey);
                var rowUsage = await db.ExecuteAsync("MEMORY", "USAGE", (RedisKey)rowKey);
                row += rowUsage.IsNull ? 0 : (long)rowUsage;
                if (++n % 167 == 0)
                {
                    break; // a sample from each primary
                }
            }
        }

        return n == 0 ? default : (tag / n, state / n, row / n);
    }
}
