using System.Diagnostics;
using StackExchange.Redis;
using Sync.Engine.Changes;
using Sync.Engine.Runtime;
using Sync.Engine.Sinks;
using Sync.Sinks.Redis;

namespace Sync.Bench.Redis;

/// <summary>Redis sink throughput against the limit measured in the same run: the sink applies
/// <c>events</c> changes over <c>keys</c> keys (60% update, 30% insert, 10% delete) in collapsed batches;
/// the limit is pipelined <c>HSET</c> of the same keys and fields with the same client and the same
/// batch size (one wait per batch), as redis-benchmark pipelines. Keys live under a namespace of
/// their own, removed afterwards (the server's other keys are not touched).
/// Usage from Program.cs: <c>await RedisBench.RunAsync("127.0.0.1:6379", quick ? 100_000 : 1_000_000, Console.WriteLine);</c></summary>
public static class RedisBench
{
    public sealed record Result(int Events, int Keys, int BatchSize, double SinkEventsPerSecond, double HsetPerSecond, int Upserted, int Deleted, int Stale)
    {
        /// <summary>The minimal never-regress script (<see cref="MinimalScriptAsync"/>), changes/s.</summary>
        public double ScriptPerSecond { get; init; }

        public double Ratio => SinkEventsPerSecond / HsetPerSecond;
    }

    /// <summary>Warms both paths up on the first tenth of the changes, then measures the limit and the
    /// sink <paramref name="rounds"/> times each, alternating, each round on a fresh namespace, and
    /// reports the best round of each (the machine is shared; the best round is the least disturbed).</summary>
    public static async Task<Result> RunAsync(string endpoint, int events, Action<string> output, int batchSize = 1000, int changesPerScript = 200, int rounds = 3)
    {
        var keys = Math.Max(1, events / 10);
        var changes = Generate(events, keys, seed: 42);
        var batches = changes.Chunk(batchSize).Select(b => Collapser.Collapse(b).ToArray()).ToArray();
        await using var admin = await ConnectionMultiplexer.ConnectAsync(new ConfigurationOptions { EndPoints = { endpoint }, AllowAdmin = true });
        output($"{events:N0} changes collapse to {batches.Sum(b => b.Length):N0} in batches of {batchSize} (the sink's costs are per collapsed change, the limit's per change)");
        var warmup = changes.Take(events / 10).ToList();
        await LimitAsync(admin, warmup, batchSize);
        await SinkAsync(admin, endpoint, [.. warmup.Chunk(batchSize).Select(b => Collapser.Collapse(b).ToArray())], changesPerScript);

        await MinimalScriptAsync(admin, warmup, batchSize);
        double bestLimit = 0, bestSink = 0, bestConditional = 0, bestScript = 0;
        (int Upserted, int Deleted, int Stale) counts = default;
        for (var round = 1; round <= rounds; round++)
        {
            var (limitSeconds, limitCost) = await LimitAsync(admin, changes, batchSize);
            var limit = events / limitSeconds;
            var (scriptSeconds, scriptCost) = await MinimalScriptAsync(admin, changes, batchSize);
            var script = events / scriptSeconds;
            output($"round {round}: minimal never-regress script {script:N0} /s ({scriptCost})");
            bestScript = Math.Max(bestScript, script);
            var (seconds, upserted, deleted, stale, sinkCost) = await SinkAsync(admin, endpoint, batches, changesPerScript);
            var sink = events / seconds;
            var (conditionalSeconds, _, _, _, conditionalCost) = await SinkAsync(admin, endpoint, batches, changesPerScript, conditionalCheckpoint: true);
            var conditional = events / conditionalSeconds;
            output($"round {round}: sink {sink:N0} events/s ({sinkCost}), with the conditional checkpoint write {conditional:N0} events/s ({conditionalCost}), pipelined HSET {limit:N0} /s ({limitCost})");
            bestLimit = Math.Max(bestLimit, limit);
            bestSink = Math.Max(bestSink, sink);
            bestConditional = Math.Max(bestConditional, conditional);
            counts = (upserted, deleted, stale);
        }

        output($"| Redis sink with the conditional checkpoint write (ExpectedCheckpoint, one script per batch), {events:N0} changes, batches of {batchSize} | {bestConditional:N0} | events/s | the same sink writing its checkpoint with HSET, same rounds | {bestSink:N0} | {bestConditional / bestSink:0.00}x |");

        var outcome = new Result(events, keys, batchSize, bestSink, bestLimit, counts.Upserted, counts.Deleted, counts.Stale) { ScriptPerSecond = bestScript };
        output($"| Redis sink, {events:N0} changes over {keys:N0} keys (60% update, 30% insert, 10% delete), batches of {batchSize}, {changesPerScript} per script call | {bestSink:N0} | events/s | pipelined HSET of the same fields | {bestLimit:N0} | {outcome.Ratio:0.00}x |");
        return outcome;
    }

    /// <summary>CPU spent by this process (the client) and by the Redis server, and the server time of
    /// its scripts and HSETs (<c>INFO commandstats</c>), at one moment; the difference of two, per change,
    /// tells where a round's time went.</summary>
    private sealed record CostSnapshot(TimeSpan ClientCpu, long Allocated, double ServerCpuSeconds, long EvalUsec, long HsetUsec)
    {
        public static async Task<CostSnapshot> TakeAsync(ConnectionMultiplexer admin)
        {
            var server = admin.GetServers()[0];
            var info = await server.InfoRawAsync("cpu") + await server.InfoRawAsync("commandstats");
            return new CostSnapshot(Process.GetCurrentProcess().TotalProcessorTime, GC.GetTotalAllocatedBytes(true),
                Stat(info, "used_cpu_user:") + Stat(info, "used_cpu_sys:"),
                (long)UsecOf(info, "cmdstat_evalsha:"), (long)(UsecOf(info, "cmdstat_hset:") + UsecOf(info, "cmdstat_hmset:")));
        }

        public string Since(CostSnapshot start, int events) =>
            $"client CPU {(ClientCpu - start.ClientCpu).TotalMicroseconds / events:0.0} µs/change, {(Allocated - start.Allocated) / (double)events:0} B allocated/change, Redis CPU {(ServerCpuSeconds - start.ServerCpuSeconds) * 1e6 / events:0.0} µs/change, EVALSHA+HSET server time {(EvalUsec + HsetUsec - start.EvalUsec - start.HsetUsec) / (double)events:0.0} µs/change";

        private static double Stat(string info, string name)
        {
            var at = info.IndexOf(name, StringComparison.Ordinal);
            if (at < 0)
            {
                return 0;
            }

            var end = info.IndexOf('\n', at);
            return double.Parse(info.AsSpan(at + name.Length, (end < 0 ? info.Length : end) - at - name.Length).Trim(), System.Globalization.CultureInfo.InvariantCulture);
        }

        private static double UsecOf(string info, string command)
        {
            var at = info.IndexOf(command, StringComparison.Ordinal);
            if (at < 0)
            {
                return 0;
            }

            var usec = info.IndexOf("usec=", at, StringComparison.Ordinal);
            var end = info.IndexOf(',', usec);
            return double.Parse(info.AsSpan(usec + 5, end - usec - 5), System.Globalization.CultureInfo.InvariantCulture);
        }
    }

    /// <summary>Pipelined HSET of every change's fields (the key columns for a delete), a batch per wait. Returns seconds.</summary>
    internal static Task<(double Seconds, string Cost)> LimitAsync(ConnectionMultiplexer admin, List<ChangeEvent> changes, int batchSize) =>
        PipelinedAsync(admin, changes, batchSize, (db, ns, change) =>
        {
            var image = change.After ?? change.Key;
            var fields = new HashEntry[image.Count];
            for (var i = 0; i < fields.Length; i++)
            {
                fields[i] = new HashEntry(image.Names[i], image.Values[i].ToText());
            }

            return db.HashSetAsync(ns + "limit:" + change.Key.Values[0].ToText(), fields);
        });

    /// <summary>The least a never-regress write of a change can cost in Redis: one <c>EVALSHA</c> per change
    /// of a script that reads the stored version (one <c>HGET</c> of a version field in the row's hash) and,
    /// unless it is newer, writes the fields and the version with one <c>HSET</c>; pipelined a batch per wait,
    /// as <see cref="LimitAsync"/>. Deletes write their key columns, as the HSET limit does. Returns seconds.</summary>
    internal static async Task<(double Seconds, string Cost)> MinimalScriptAsync(ConnectionMultiplexer admin, List<ChangeEvent> changes, int batchSize)
    {
        const string Script = """
            local v = redis.call('HGET', KEYS[1], '_v')
            if v and tonumber(v) >= tonumber(ARGV[1]) then return 0 end
            redis.call('HSET', KEYS[1], '_v', unpack(ARGV))
            return 1
            """;
        var sha = await admin.GetServers()[0].ScriptLoadAsync(Script);
        return await PipelinedAsync(admin, changes, batchSize, (db, ns, change) =>
        {
            var image = change.After ?? change.Key;
            var args = new RedisValue[1 + (2 * image.Count)];
            args[0] = change.Source!.Lsn!.Value;
            for (var i = 0; i < image.Count; i++)
            {
                args[1 + (2 * i)] = image.Names[i];
                args[2 + (2 * i)] = image.Values[i].ToText();
            }

            return db.ScriptEvaluateAsync(sha, [(RedisKey)(ns + "script:" + change.Key.Values[0].ToText())], args);
        });
    }

    /// <summary>Sends one command per change, a batch per wait, under a namespace of its own (removed
    /// afterwards). Returns seconds and the costs.</summary>
    private static async Task<(double Seconds, string Cost)> PipelinedAsync(
        ConnectionMultiplexer admin, List<ChangeEvent> changes, int batchSize, Func<IDatabase, string, ChangeEvent, Task> send)
    {
        var ns = $"bench:{Guid.NewGuid():N}:";
        var db = admin.GetDatabase();
        try
        {
            var start = await CostSnapshot.TakeAsync(admin);
            var clock = Stopwatch.StartNew();
            var pending = new List<Task>(batchSize);
            foreach (var batch in changes.Chunk(batchSize))
            {
                pending.Clear();
                foreach (var change in batch)
                {
                    pending.Add(send(db, ns, change));
                }

                await Task.WhenAll(pending);
            }

            var seconds = clock.Elapsed.TotalSeconds;
            return (seconds, (await CostSnapshot.TakeAsync(admin)).Since(start, changes.Count));
        }
        finally
        {
            await CleanAsync(admin, ns);
        }
    }

    /// <param name="conditionalCheckpoint">Each batch carries the previous batch's checkpoint as
    /// <see cref="SinkBatch.ExpectedCheckpoint"/>, as the materializer sends it (the checkpoint then
    /// compared and written by <see cref="RedisScripts.WriteCheckpointIfHeld"/> instead of an HSET).</param>
    private static async Task<(double Seconds, int Upserted, int Deleted, int Stale, string Cost)> SinkAsync(
        ConnectionMultiplexer admin, string endpoint, ChangeEvent[][] batches, int changesPerScript, bool conditionalCheckpoint = false)
    {
        var ns = $"bench:{Guid.NewGuid():N}:";
        try
        {
            var options = new RedisSinkOptions { Endpoints = [endpoint], KeyPrefix = ns + "sync:", ChangesPerScript = changesPerScript };
            await using var sink = await RedisSink.OpenAsync("bench", options, CancellationToken.None);
            var target = new TargetSpec(ns + "items");
            var checkpoint = new Dictionary<string, Sync.Engine.Changes.StreamPosition>();
            int upserted = 0, deleted = 0, stale = 0;
            var start = await CostSnapshot.TakeAsync(admin);
            var clock = Stopwatch.StartNew();
            IReadOnlyDictionary<string, Sync.Engine.Changes.StreamPosition>? expected = null;
            foreach (var batch in batches)
            {
                checkpoint[batch[^1].Origin.Topic] = batch[^1].Origin.Position;
                expected ??= new Dictionary<string, Sync.Engine.Changes.StreamPosition> { [batch[^1].Origin.Topic] = Sync.Engine.Changes.StreamPosition.Start };
                var result = await sink.ApplyAsync(
                    new SinkBatch("bench", target, batch, checkpoint) { ExpectedCheckpoint = conditionalCheckpoint ? expected : null }, CancellationToken.None);
                expected = new Dictionary<string, Sync.Engine.Changes.StreamPosition>(checkpoint);
                upserted += result.Upserted;
                deleted += result.Deleted;
                stale += result.Stale;
                if (result.Rejected.Count > 0)
                {
                    throw new InvalidOperationException($"the sink rejected {result.Rejected.Count} changes: {result.Rejected[0].Reason}");
                }
            }

            var seconds = clock.Elapsed.TotalSeconds;
            return (seconds, upserted, deleted, stale, (await CostSnapshot.TakeAsync(admin)).Since(start, batches.Sum(b => b.Length)));
        }
        finally
        {
            await CleanAsync(admin, ns);
        }
    }

    /// <summary>Deletes the namespace's keys on every primary (one on a standalone server), a key per
    /// command, pipelined: keys of a cluster's many slots cannot share one DEL.</summary>
    internal static async Task CleanAsync(ConnectionMultiplexer admin, string ns)
    {
        var db = admin.GetDatabase();
        foreach (var server in admin.GetServers().Where(s => s.IsConnected && !s.IsReplica))
        {
            var deletes = new List<Task>(10_000);
            await foreach (var key in server.KeysAsync(pattern: RedisKeys.EscapePattern(ns) + "*", pageSize: 10_000))
            {
                deletes.Add(db.KeyDeleteAsync(key));
                if (deletes.Count == 10_000)
                {
                    await Task.WhenAll(deletes);
                    deletes.Clear();
                }
            }

            await Task.WhenAll(deletes);
        }
    }

    /// <summary>The change mix: 30% inserts of absent keys, 60% updates and 10% deletes of present ones,
    /// five columns per row (id, name, email, score, updated_at), increasing LSNs, one topic.</summary>
    public static List<ChangeEvent> Generate(int events, int keys, int seed)
    {
        var random = new Random(seed);
        var live = new List<int>(keys);
        var slot = new int[keys];
        Array.Fill(slot, -1);
        var absent = Enumerable.Range(0, keys).ToList();
        var result = new List<ChangeEvent>(events);
        const string topic = "persistent://public/default/db1.public.items";
        string[] names = ["id", "name", "email", "score", "updated_at"];
        for (var n = 0; n < events; n++)
        {
            var roll = random.Next(100);
            ChangeOp op;
            int id;
            if ((roll < 30 && absent.Count > 0) || live.Count == 0)
            {
                op = ChangeOp.Create;
                var pick = random.Next(absent.Count);
                id = absent[pick];
                absent[pick] = absent[^1];
                absent.RemoveAt(absent.Count - 1);
                slot[id] = live.Count;
                live.Add(id);
            }
            else if (roll < 90)
            {
                op = ChangeOp.Update;
                id = live[random.Next(live.Count)];
            }
            else
            {
                op = ChangeOp.Delete;
                var at = random.Next(live.Count);
                id = live[at];
                var last = live[^1];
                live[at] = last;
                slot[last] = at;
                live.RemoveAt(live.Count - 1);
                slot[id] = -1;
                absent.Add(id);
            }

            var lsn = 1_000_000L + n;
            var key = new Row(["id"], [FieldValue.FromInt64(id)]);
            var after = op == ChangeOp.Delete
                ? null
                : new Row(names,
                [
                    FieldValue.FromInt64(id),
                    FieldValue.FromString("name " + id),
                    FieldValue.FromString($"user{id}@example.com"),
                    FieldValue.FromDecimalText((n % 10_000).ToString(System.Globalization.CultureInfo.InvariantCulture) + ".25"),
                    FieldValue.FromTimestamp(1_700_000_000_000_000L + n, TimeUnit.Microseconds),
                ]);
            result.Add(new ChangeEvent
            {
                Op = op,
                Key = key,
                After = after,
                Source = new SourceInfo { Lsn = lsn, Db = "db1", Schema = "public", Table = "items" },
                Origin = new Origin { Topic = topic, Position = new Sync.Engine.Changes.StreamPosition(0, n) },
            });
        }

        return result;
    }
}
