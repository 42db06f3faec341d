using System.Diagnostics;
using StackExchange.Redis;
using StreamPosition = Sync.Engine.Changes.StreamPosition;
using Sync.Engine.Changes;
using Sync.Engine.Runtime;
using Sync.Engine.Sinks;
using Sync.Sinks.Redis;
using Sync.Bench.Redis;

namespace Sync.Bench.Backfill;

/// <summary>
/// <c>backfill --shadow</c> into Redis against pipelined <c>HSET</c> of the same rows, in one run on one
/// server: <c>events</c> changes over <c>keys</c> keys (the rows of <see cref="RedisBench.Generate"/>:
/// 60% update, 30% insert, 10% delete) in batches collapsed by the engine's <see cref="Collapser"/>,
/// through <see cref="ShadowWritingSink"/> as the runtime calls it. Sink time: every sink call from
/// <see cref="RedisSink.BeginShadowAsync"/> to the end of <see cref="RedisSink.SwapShadowAsync"/> (which
/// writes out what the bulk load still holds). The limit HSETs every change's fields, a batch per wait.
/// The compare-and-set load (<c>bulkShadow: false</c>) of the same batches is measured for context.
/// Each figure is the best of <c>rounds</c>, alternating, on fresh namespaces (the machine is shared).
/// </summary>
public static class RedisShadowBench
{
    public sealed record Result(int Events, int Keys, int BatchSize, double HsetPerSecond, double BulkSeconds, double GuardedSeconds, string BulkCost, string HsetCost)
    {
        public double BulkPerSecond => Events / BulkSeconds;

        public double GuardedPerSecond => Events / GuardedSeconds;
    }

    /// <param name="guarded">Whether to measure the compare-and-set load too (context only, and the longest part).</param>
    public static async Task<Result> RunAsync(string endpoint, int events, int keys, int batchSize, Action<string> progress, int rounds = 2, bool guarded = true)
    {
        var changes = RedisBench.Generate(events, keys, seed: 42);
        var batches = changes.Chunk(batchSize).Select(b => Collapser.Collapse(b).ToArray()).ToArray();
        await using var admin = await ConnectionMultiplexer.ConnectAsync(new ConfigurationOptions { EndPoints = { endpoint }, AllowAdmin = true });
        progress($"redis shadow backfill bench: {events:N0} changes over {keys:N0} keys, batches of {batchSize:N0} ({batches.Sum(b => b.Length):N0} after the per-batch collapse)");
        double hset = 0, bulk = double.MaxValue, guardedBest = double.MaxValue;
        string bulkCost = string.Empty, hsetCost = string.Empty;
        for (var round = 1; round <= rounds; round++)
        {
            var (limitSeconds, limitCost) = await RedisBench.LimitAsync(admin, changes, batchSize);
            var (bulkSeconds, cost) = await ShadowAsync(admin, endpoint, batches, bulkShadow: true);
            progress($"  round {round}: pipelined HSET {events / limitSeconds:N0} /s ({limitCost}); bulk shadow {events / bulkSeconds:N0} events/s ({cost}); bulk / HSET of the round {limitSeconds / bulkSeconds:0.00}x");
            if (events / limitSeconds > hset)
            {
                (hset, hsetCost) = (events / limitSeconds, limitCost);
            }

            if (bulkSeconds < bulk)
            {
                (bulk, bulkCost) = (bulkSeconds, cost);
            }
        }

        if (guarded)
        {
            var (guardedSeconds, guardedCost) = await ShadowAsync(admin, endpoint, batches, bulkShadow: false);
            guardedBest = Math.Min(guardedBest, guardedSeconds);
            progress($"  compare-and-set shadow {events / guardedSeconds:N0} events/s ({guardedCost})");
        }

        return new Result(events, keys, batchSize, hset, bulk, guardedBest, bulkCost, hsetCost);
    }

    /// <summary>One shadow backfill into a fresh namespace; returns the sink time in seconds and the cost.</summary>
    private static async Task<(double Seconds, string Cost)> ShadowAsync(ConnectionMultiplexer admin, string endpoint, ChangeEvent[][] batches, bool bulkShadow)
    {
        var ns = $"bench:{Guid.NewGuid():N}:";
        try
        {
            var options = new RedisSinkOptions { Endpoints = [endpoint], KeyPrefix = ns + "sync:", BulkShadow = bulkShadow, CommandTimeout = TimeSpan.FromMinutes(2) };
            await using var sink = await RedisSink.OpenAsync("bench", options, CancellationToken.None);
            var live = new TargetSpec(ns + "items");
            var checkpoint = new Dictionary<string, StreamPosition>();
            var cpu = Process.GetCurrentProcess().TotalProcessorTime;
            var clock = Stopwatch.StartNew();
            var shadow = await sink.BeginShadowAsync("bench", live, CancellationToken.None);
            var writing = new ShadowWritingSink(sink, shadow);
            foreach (var batch in batches)
            {
                checkpoint[batch[^1].Origin.Topic] = batch[^1].Origin.Position;
                var result = await writing.ApplyAsync(new SinkBatch("bench", live, batch, new Dictionary<string, StreamPosition>(checkpoint)), CancellationToken.None);
                if (result.Rejected.Count > 0)
                {
                    throw new InvalidOperationException($"the sink rejected {result.Rejected.Count} changes: {result.Rejected[0].Reason}");
                }
            }

            await sink.SwapShadowAsync(shadow, keepOld: false, CancellationToken.None);
            var seconds = clock.Elapsed.TotalSeconds;
            var events = batches.Sum(b => b.Length);
            return (seconds, $"client CPU {(Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalMicroseconds / events:0.0} µs/change");
        }
        finally
        {
            await RedisBench.CleanAsync(admin, ns);
        }
    }
}
