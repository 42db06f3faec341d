using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging.Abstractions;
using Sync.Engine.Changes;
using Sync.Engine.Config;
using Sync.Engine.Formats;
using Sync.Engine.Runtime;
using Sync.Engine.Sources;
using Sync.Sources;
using Sync.Sources.File;
using Sync.Bench;
using Sync.Sinks;

// Measures the walking skeleton's hot paths against the limit next to each:
//   decode:  Debezium decode of messages (value and key) vs one Utf8JsonReader pass over the same bytes
//            (and, without a limit, with the changelog line parse of the file source included)
//   e2e:     changelog file -> SQLite through the real runtime, events/s
//   erase:   one subject and 1,000 subjects across 10 topics and 3 sinks (with --postgres and --redis)
//   heal:    time from a PostgreSQL or Redis sink coming back rolled back by N changes to caught up,
//            against the same N changes applied the ordinary way (with --postgres and/or --redis;
//            --heal-only runs only these)
//   ledger:  erase recorded on a topic ledger -> 3 running views suppress it, p50/p99 over 200 erasures
//            (fake broker in this process; --ledger-only runs only the ledger figures); with --ledger
//            also through the file and the PostgreSQL ledger
//   verify:  `ledger verify` of 100,000 ledger entries against 3 sinks and 10 topics (with --postgres and --redis; in --ledger-only too)
//   backfill: `backfill --shadow` into PostgreSQL (bulk load and guarded) against binary COPY of the same rows
//            (with --postgres; --backfill-only runs only these), and into the fake Elasticsearch (before and
//            after the bulk shadow settings and requests in flight: wall time and client CPU)
//   redis backfill: `backfill --shadow` into Redis (bulkShadow and compare-and-set) against pipelined HSET of the
//            same rows (with --redis; in --backfill-only too)
// Usage: dotnet run -c Release --project bench/Sync.Bench [-- --quick] [--ledger] [--redis HOST:PORT] [--postgres CONNECTION-STRING] [--json FILE] [--erase-only | --decode-only | --sinks-only | --heal-only | --ledger-only | --backfill-only | --redis-shadow-only] [--no-backfill] [--no-guarded-shadow] [--grouped-shadow] [--pg-steady-only [ROUNDS]]
if (args.Contains(Sync.Bench.Backfill.ElasticsearchShadowBench.ServeArgument))
{
    await Sync.Bench.Backfill.ElasticsearchShadowBench.ServeAsync();
    return;
}

var quick = args.Contains("--quick");
// --ledger-only skips what --erase-only skips, and the erasure figures too.
var eraseOnly = args.Contains("--erase-only") || args.Contains("--ledger-only");
var decodeOnly = args.Contains("--decode-only");
// --sinks-only: only the PostgreSQL and Redis sink figures (for working on the sinks).
var sinksOnly = args.Contains("--sinks-only");
var healOnly = args.Contains("--heal-only");
// --backfill-only: only the shadow backfill figures (with --postgres).
// --redis-shadow-only: only the Redis shadow backfill figures (with --redis).
var redisShadowOnly = args.Contains("--redis-shadow-only");
var backfillOnly = redisShadowOnly || args.Contains("--backfill-only");
// --ledger-only: only the ledger propagation figures (no services needed).
var ledgerOnly = args.Contains("--ledger-only");
var figures = new List<Figure>();
var jsonAt = Array.IndexOf(args, "--json");
var jsonFile = jsonAt >= 0 && jsonAt + 1 < args.Length ? args[jsonAt + 1] : null;
var redisAt = Array.IndexOf(args, "--redis");
var redisEndpoint = redisAt >= 0 && redisAt + 1 < args.Length ? args[redisAt + 1] : null;
// --redis-cluster NODES (host:port,…): the Redis sink on a cluster against the standalone --redis.
var redisClusterAt = Array.IndexOf(args, "--redis-cluster");
var redisCluster = redisClusterAt >= 0 && redisClusterAt + 1 < args.Length ? args[redisClusterAt + 1].Split(',') : null;
var postgresAt = Array.IndexOf(args, "--postgres");
var postgresConnection = postgresAt >= 0 && postgresAt + 1 < args.Length ? args[postgresAt + 1] : null;
var root = FindRoot();
var lines = File.ReadAllLines(Path.Combine(root, "examples", "data", "changelog.jsonl"))
    .Where(l => !l.Contains("\"topic\":\"persistent://public/default/db1\"", StringComparison.Ordinal))
    .Select(Encoding.UTF8.GetBytes)
    .ToArray();
var target = quick ? 200_000 : 2_000_000;

Console.WriteLine($"machine: {Environment.ProcessorCount} cores, {Environment.OSVersion}, .NET {Environment.Version}");
Console.WriteLine();
Console.WriteLine("| figure | value | unit | limit | limit value | ratio | goal |");
Console.WriteLine("| --- | ---: | --- | --- | ---: | ---: | --- |");

// --pg-steady-only [ROUNDS]: only the PostgreSQL steady-state figure (the sink against the in-server limit), in
// ROUNDS rounds (3), each reporting its load average; the medians as figures.
var steadyAt = Array.IndexOf(args, "--pg-steady-only");
if (steadyAt >= 0 && postgresConnection is not null)
{
    var rounds = steadyAt + 1 < args.Length && int.TryParse(args[steadyAt + 1], out var r) ? r : 3;
    var (events, keys) = (quick ? 100_000 : 1_000_000, quick ? 10_000 : 100_000);
    var steady = await Sync.Bench.Postgres.PostgresBench.SteadyAsync(postgresConnection, events, keys, 5_000, rounds, Console.Error);
    static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }

    // Medians of the rounds (the ratio is that of the medians; each round's own ratio is on stderr).
    var label = $"{events:N0} changes over {keys:N0} keys, batches of 5,000, median of {steady.Count} rounds";
    var limit = Median(steady.Select(s => s.InServer));
    Add(new Figure($"Postgres sink against the in-server guarded upsert limit, {label}", Median(steady.Select(s => s.Sink)), "events/s", Sync.Bench.Postgres.PostgresBench.InServerLimitName, limit, GoalRatio: 0.7));
    Add(new Figure($"Postgres sink with the conditional checkpoint write, {label}", Median(steady.Select(s => s.Conditional)), "events/s", Sync.Bench.Postgres.PostgresBench.InServerLimitName, limit));
    Add(new Figure($"Postgres sink: client CPU per event, {label}", Median(steady.Select(s => s.SinkCpuMicros)), "µs"));
    return;
}

// --grouped-shadow: run the PostgreSQL bulk shadow load again with four batches per transaction.
// --no-backfill: leave the shadow backfill figures out (they take minutes at full size); --no-guarded-shadow: leave out
// the guarded PostgreSQL and Redis shadow loads (context only, and the longest part at full size), and the comparison with them.
if (postgresConnection is not null && !redisShadowOnly && !args.Contains("--no-backfill") && (backfillOnly || (!eraseOnly && !decodeOnly && !healOnly)))
{
    // The size issue 19 sets: 5,000,000 changes over 1,000,000 keys (--quick: a tenth).
    var backfill = await Sync.Bench.Backfill.ShadowBackfillBench.RunAsync(postgresConnection, quick ? 500_000 : 5_000_000, quick ? 100_000 : 1_000_000, 5_000, Console.Error.WriteLine, guarded: !args.Contains("--no-guarded-shadow"), batchesPerTransaction: args.Contains("--grouped-shadow") ? 4 : 1);
    var shape = $"{backfill.Events:N0} changes over {backfill.Keys:N0} keys, batches of {backfill.BatchSize:N0}";
    const string CopyLimit = "binary COPY of the same rows into an unindexed table (best of 2)";
    Add(new Figure($"Postgres backfill --shadow (bulk load), {shape}, sink time", backfill.BulkPerSecond, "events/s", CopyLimit, backfill.CopyPerSecond, GoalRatio: 0.5));
    Add(new Figure($"Postgres backfill --shadow (bulk load), {shape}: append to the staging log", backfill.AppendSeconds * 1000, "ms"));
    Add(new Figure($"Postgres backfill --shadow (bulk load), {shape}: build, keys, indexes and swap", backfill.BuildSeconds * 1000, "ms"));
    Add(new Figure($"Postgres backfill --shadow (bulk load), {shape}: client CPU per event", backfill.ClientCpuMicros, "µs"));
    Add(new Figure($"Postgres backfill --shadow (bulk load), {shape}: keys held in memory at most", backfill.PeakHeldKeys, "keys"));
    Add(new Figure($"Postgres backfill --shadow (bulk load), {shape}: memory held besides the changes (map, key texts)", backfill.HeldBytes / 1048576.0, "MiB"));
    if (!double.IsNaN(backfill.GroupedSeconds))
    {
        Add(new Figure($"Postgres backfill --shadow (bulk load), {shape}, four batches per transaction, sink time", backfill.Events / backfill.GroupedSeconds, "events/s", CopyLimit, backfill.CopyPerSecond));
    }

    if (!double.IsNaN(backfill.GuardedSeconds))
    {
        Add(new Figure($"Postgres backfill --shadow (guarded, bulkShadow: false), {shape}, sink time", backfill.GuardedPerSecond, "events/s", CopyLimit, backfill.CopyPerSecond));
    }
}

if (redisEndpoint is not null && !args.Contains("--no-backfill") && (backfillOnly || (!eraseOnly && !decodeOnly && !healOnly && !ledgerOnly)))
{
    var redisGuarded = !args.Contains("--no-guarded-shadow");
    var redisShadow = await Sync.Bench.Backfill.RedisShadowBench.RunAsync(redisEndpoint, quick ? 200_000 : 1_000_000, quick ? 40_000 : 200_000, 5_000, Console.Error.WriteLine, guarded: redisGuarded);
    var shape = $"{redisShadow.Events:N0} changes over {redisShadow.Keys:N0} keys, batches of {redisShadow.BatchSize:N0}";
    const string HsetLimit = "pipelined HSET of the same rows (best of 2)";
    Add(new Figure($"Redis backfill --shadow (bulkShadow: true), {shape}, sink time", redisShadow.BulkPerSecond, "events/s", HsetLimit, redisShadow.HsetPerSecond, GoalRatio: 0.7));
    if (redisGuarded)
    {
        Add(new Figure($"Redis backfill --shadow (compare-and-set, bulkShadow: false), {shape}, sink time", redisShadow.GuardedPerSecond, "events/s", HsetLimit, redisShadow.HsetPerSecond));
    }
}

if (!redisShadowOnly && (backfillOnly || (!eraseOnly && !decodeOnly && !healOnly && !sinksOnly)))
{
    // Elasticsearch: the fake in a process of its own; a tenth of the PostgreSQL size (the fake holds every document in memory).
    foreach (var es in await Sync.Bench.Backfill.ElasticsearchShadowBench.RunAsync(quick ? 200_000 : 500_000, quick ? 50_000 : 100_000, 50_000, Console.Error.WriteLine))
    {
        var shape = $"{es.Events:N0} changes over {es.Keys:N0} keys, batches of {es.BatchSize:N0}, fake Elasticsearch";
        Add(new Figure($"Elasticsearch backfill --shadow ({es.Load.Name}), {shape}: wall time", es.WallSeconds * 1000, "ms"));
        Add(new Figure($"Elasticsearch backfill --shadow ({es.Load.Name}), {shape}: client CPU per event", es.ClientCpuMicrosPerEvent, "µs"));
    }
}

if (backfillOnly)
{
    if (jsonFile is not null)
    {
        await File.WriteAllTextAsync(jsonFile, System.Text.Json.JsonSerializer.Serialize(figures, new System.Text.Json.JsonSerializerOptions { WriteIndented = true }));
    }

    return;
}

foreach (var (name, filter) in eraseOnly || sinksOnly || healOnly ? [] : new (string, Func<byte[], bool>)[]
{
    ("decode debezium-json, bare envelope", l => l.AsSpan().IndexOf("db1.public.customers"u8) >= 0),
    ("decode debezium-json, with schema", l => l.AsSpan().IndexOf("db2.sales.orders"u8) >= 0 && l.AsSpan().IndexOf("\"value\":null"u8) < 0),
})
{
    // The decoder reads message values and keys (a Debezium key is a JSON document of its own); the
    // changelog line around them is the file source's work (a Pulsar message arrives as its value
    // and key), measured apart below.
    var sample = lines.Where(filter).ToArray();
    var messages = sample.Select(l => ChangelogLineParser.Parse(l, StreamPosition.ForLine(1), out _)).ToArray();
    var values = messages.Select(m => m.Value.ToArray()).ToArray();
    var keys = messages.Select(m => m.Key.GetBytes()).ToArray();
    var bytes = values.Sum(v => (long)v.Length);
    var decoder = MessageFormats.Create("debezium-json", new DecoderOptions());
    var next = 0;
    var nextValue = 0;
    var nextBoth = 0;
    var rates = MeasureAlternating(
        target,
        values,
        _ =>
        {
            var i = nextBoth++ % values.Length;
            Tokenize(values[i]);
            Tokenize(keys[i]);
        },
        _ => decoder.Decode(messages[next++ % messages.Length]),
        _ => Tokenize(values[nextValue++ % values.Length]));
    var (limit, decode, valueOnly) = (rates[0], rates[1], rates[2]);
    var withLine = Measure(target, sample, line => decoder.Decode(ChangelogLineParser.Parse(line, StreamPosition.ForLine(1), out _)));
    var mbPerSecond = decode * bytes / values.Length / 1e6;
    Add(new Figure(name, decode, "events/s", "Utf8JsonReader pass over the same bytes (value and key)", limit, GoalRatio: 0.5));
    Add(new Figure(name + ", against the value alone", decode, "events/s", "Utf8JsonReader pass over the value alone", valueOnly));
    Add(new Figure(name + ", changelog line parse included", withLine, "events/s"));
    Add(new Figure(name + " (MB/s)", mbPerSecond, "MB/s"));
}

if (!eraseOnly && !decodeOnly && !sinksOnly && !healOnly)
{
    await EndToEndAsync();
}

if (postgresConnection is not null && !eraseOnly && !decodeOnly && !healOnly)
{
    // --pg-batch-sizes 1000,20000,50000: the sink and the staged upsert limit at other batch sizes too.
    var sizesAt = Array.IndexOf(args, "--pg-batch-sizes");
    int[] otherSizes = sizesAt >= 0 && sizesAt + 1 < args.Length ? [.. args[sizesAt + 1].Split(',').Select(n => int.Parse(n, System.Globalization.CultureInfo.InvariantCulture))] : [];
    // --naive-events N: how many events the naive per-event baseline applies (20,000; slow on a busy machine).
    var naiveAt = Array.IndexOf(args, "--naive-events");
    var naiveEvents = naiveAt >= 0 && naiveAt + 1 < args.Length ? int.Parse(args[naiveAt + 1], System.Globalization.CultureInfo.InvariantCulture) : 20_000;
    foreach (var f in await Sync.Bench.Postgres.PostgresBench.RunAsync(postgresConnection, quick ? 100_000 : 1_000_000, quick ? 10_000 : 100_000, 5_000, naiveEvents, sinksOnly ? Console.Error : TextWriter.Null, otherBatchSizes: otherSizes))
    {
        Add(new Figure(f.Name, f.PerSecond, f.Unit, f.LimitName, f.Limit, GoalRatio: f.Name.StartsWith("Postgres sink against the in-server", StringComparison.Ordinal) ? 0.7 : null));
    }
}

// --cluster-only (with --sinks-only): only the Redis Cluster figures.
if (redisEndpoint is not null && !eraseOnly && !decodeOnly && !healOnly && !args.Contains("--cluster-only"))
{
    var redis = await Sync.Bench.Redis.RedisBench.RunAsync(redisEndpoint, quick ? 100_000 : 1_000_000, sinksOnly ? Console.Error.WriteLine : _ => { });
    Add(new Figure($"Redis sink, {redis.Events:N0} changes over {redis.Keys:N0} keys, batches of {redis.BatchSize:N0}", redis.SinkEventsPerSecond, "events/s", "minimal never-regress script: one EVALSHA per change (one HGET of the version, one HSET), pipelined", redis.ScriptPerSecond, GoalRatio: 0.8));
    Add(new Figure($"Redis sink, {redis.Events:N0} changes over {redis.Keys:N0} keys, batches of {redis.BatchSize:N0} (context)", redis.SinkEventsPerSecond, "events/s", "pipelined HSET of the same fields", redis.HsetPerSecond));
    Add(new Figure($"Redis minimal never-regress script, {redis.Events:N0} changes (context)", redis.ScriptPerSecond, "events/s", "pipelined HSET of the same fields", redis.HsetPerSecond));
}

if (redisEndpoint is not null && redisCluster is not null && !eraseOnly && !decodeOnly && !healOnly && !ledgerOnly && !backfillOnly)
{
    var cluster = await Sync.Bench.Redis.RedisClusterBench.RunAsync(redisEndpoint, redisCluster, quick ? 50_000 : 200_000, Console.Error.WriteLine);
    Add(new Figure($"Redis sink on a three-primary cluster, {cluster.Events:N0} changes", cluster.Cluster, "events/s", "the same sink on one standalone Redis", cluster.Standalone));
    Add(new Figure($"Redis sink on a three-primary cluster, {cluster.Events:N0} changes", cluster.Cluster, "events/s", "pipelined HSET of the same fields on the same cluster", cluster.ClusterHset));
    Add(new Figure($"Redis sink on one standalone Redis, one row per script call (as on a cluster), {cluster.Events:N0} changes", cluster.StandalonePerRow, "events/s", "the same sink, 200 rows per call", cluster.Standalone));
    Add(new Figure("Redis Cluster: bytes of hash tag in each version key's name", cluster.TagBytesPerRow, "B/row"));
    Add(new Figure("Redis Cluster: memory of sync's version key per row (MEMORY USAGE)", cluster.StateBytesCluster, "B/row", "the same on a standalone Redis", cluster.StateBytesStandalone));
    Add(new Figure("Redis Cluster: memory of the row itself (a 5-field hash, MEMORY USAGE)", cluster.RowBytesCluster, "B/row"));
}

if (!eraseOnly && !decodeOnly && !sinksOnly)
{
    var sqliteFile = Path.Combine(Path.GetTempPath(), $"sync-heal-{Guid.NewGuid():N}.db");
    foreach (var (sink, connection) in new[] { ("postgres", postgresConnection), ("redis", redisEndpoint), ("sqlite", sqliteFile), ("elasticsearch", "fake") })
    {
        if (connection is null)
        {
            continue;
        }

        var heal = await Sync.Bench.Healing.HealBench.RunAsync(sink, connection, quick ? 5_000 : 50_000, Console.Error.WriteLine);
        Add(new Figure(
            $"time to heal, {(sink == "elasticsearch" ? "elasticsearch (fake cluster)" : sink)} rolled back by {heal.Lost:N0} changes while idle ({heal.Replayed:N0} replayed; rollbackCheckInterval {heal.CheckInterval.TotalMilliseconds:N0} ms)",
            heal.HealMs,
            "ms",
            "the same changes applied by a run started on them",
            heal.LiveMs));
    }
}

if (postgresConnection is not null && redisEndpoint is not null && !decodeOnly && !sinksOnly && !healOnly && !ledgerOnly)
{
    var erase = await Sync.Bench.Erasure.ErasureBench.RunAsync(postgresConnection, redisEndpoint, quick ? 1_100 : 5_000, Console.Error.WriteLine);
    var where = $"{Sync.Bench.Erasure.ErasureBench.Topics} topics x {erase.CustomersPerTopic:N0} customers, 3 sinks";
    Add(new Figure($"erase 1 subject, {where}, without compaction", Sync.Bench.Erasure.ErasureBench.Result.WithoutCompaction(erase.One), "ms", Goal: "< 5,000 ms"));
    Add(new Figure($"erase 1 subject: broker compaction of the {Sync.Bench.Erasure.ErasureBench.Topics} topics (fake broker)", erase.One.Timings.CompactionMs, "ms"));
    Add(new Figure($"erase 1,000 subjects in one batch, {where}, without compaction", Sync.Bench.Erasure.ErasureBench.Result.WithoutCompaction(erase.Batch), "ms", Goal: "< 60,000 ms"));
    Add(new Figure($"erase 1,000 subjects: broker compaction of the {Sync.Bench.Erasure.ErasureBench.Topics} topics (fake broker)", erase.Batch.Timings.CompactionMs, "ms"));
}

if (args.Contains("--ledger") || ledgerOnly)
{
    const int Erasures = 200;
    var file = await Sync.Bench.Ledger.LedgerPropagationBench.FileAsync(Erasures, Console.Error.WriteLine);
    Add(new Figure($"ledger propagation p50, file ledger, {Sync.Bench.Ledger.LedgerPropagationBench.Views} views", file.P50Ms, "ms"));
    Add(new Figure($"ledger propagation p99, file ledger, {Sync.Bench.Ledger.LedgerPropagationBench.Views} views", file.P99Ms, "ms"));
    if (postgresConnection is not null)
    {
        var pg = await Sync.Bench.Ledger.LedgerPropagationBench.PostgresAsync(postgresConnection, Erasures, Console.Error.WriteLine);
        Add(new Figure($"ledger propagation p50, postgres ledger (NOTIFY), {Sync.Bench.Ledger.LedgerPropagationBench.Views} views", pg.P50Ms, "ms"));
        Add(new Figure($"ledger propagation p99, postgres ledger (NOTIFY), {Sync.Bench.Ledger.LedgerPropagationBench.Views} views", pg.P99Ms, "ms"));
    }
}

if (ledgerOnly || (!eraseOnly && !decodeOnly && !sinksOnly && !healOnly))
{
    var ledger = await Sync.Bench.Ledger.TopicLedgerPropagationBench.RunAsync(quick ? 50 : 200, Console.Error.WriteLine);
    var what = $"ledger propagation, topic (fake broker): erase recorded -> {Sync.Bench.Ledger.TopicLedgerPropagationBench.Views} views suppress, {ledger.Erasures} erasures";
    Add(new Figure($"{what}, p50", ledger.P50Ms, "ms"));
    Add(new Figure($"{what}, p99", ledger.P99Ms, "ms"));
}

if (postgresConnection is not null && redisEndpoint is not null && !decodeOnly && !sinksOnly && !healOnly && (ledgerOnly || !args.Contains("--erase-only")))
{
    var verify = await Sync.Bench.Ledger.LedgerVerifyBench.RunAsync(postgresConnection, redisEndpoint, quick ? 1_100 : 5_000, quick ? 10_000 : 100_000, Console.Error.WriteLine);
    var shape = $"{verify.Entries:N0} ledger entries, {Sync.Bench.Erasure.ErasureBench.Topics} topics x {verify.CustomersPerTopic:N0} keys, 3 sinks";
    Add(new Figure($"ledger verify, {shape} (CLI process)", verify.Seconds * 1000, "ms", Goal: "< 60,000 ms"));
    Add(new Figure($"ledger verify, {shape}: peak working set", verify.PeakKilobytes / 1024.0, "MiB"));
}

if (jsonFile is not null)
{
    await File.WriteAllTextAsync(jsonFile, System.Text.Json.JsonSerializer.Serialize(figures, new System.Text.Json.JsonSerializerOptions { WriteIndented = true }));
}

async Task EndToEndAsync()
{
    var events = quick ? 100_000 : 1_000_000;
    var dir = Directory.CreateTempSubdirectory("sync-bench-").FullName;
    try
    {
        var changelog = Path.Combine(dir, "items.jsonl");
        WriteChangelog(changelog, events, keys: events / 10);
        var config = Path.Combine(dir, "sync.yaml");
        File.WriteAllText(config, """
            sources:
              changelog: { type: file, path: items.jsonl }
            sinks:
              local: { type: sqlite, path: items.db }
            materializers:
              items: { source: changelog, topics: [items], sink: local, table: items, batchSize: 5000 }
            """);
        var components = new SyncComponents(SourceCatalog.All, SinkCatalog.All, MessageFormats.Names, MessageFormats.Create);
        var loaded = ConfigLoader.Load(config, components.Types);
        var clock = Stopwatch.StartNew();
        var outcome = (await new SyncRuntime(loaded, components, NullLoggerFactory.Instance).RunAsync([], RunMode.Resume, CancellationToken.None)).Single();
        var elapsed = clock.Elapsed.TotalSeconds;
        if (outcome.Failure is not null)
        {
            throw outcome.Failure;
        }

        Add(new Figure($"changelog file -> SQLite, {events:N0} changes over {events / 10:N0} keys", events / elapsed, "events/s"));
    }
    finally
    {
        Directory.Delete(dir, recursive: true);
    }
}

// The best of five rounds: the machine may be shared, and interference only ever slows a round down.
static double Measure(int count, byte[][] sample, Action<byte[]> action) => MeasureAlternating(count, sample, action)[0];

// Rounds of the actions alternate, so that all see the same machine and their ratios hold even when it is busy.
static double[] MeasureAlternating(int count, byte[][] sample, params Action<byte[]>[] actions)
{
    const int Rounds = 5;
    for (var i = 0; i < Math.Min(count / 10, 20_000); i++)
    {
        foreach (var action in actions)
        {
            action(sample[i % sample.Length]);
        }
    }

    var best = new double[actions.Length];
    for (var round = 0; round < Rounds; round++)
    {
        for (var a = 0; a < actions.Length; a++)
        {
            best[a] = Math.Max(best[a], Round(actions[a]));
        }
    }

    return best;

    double Round(Action<byte[]> action)
    {
        var clock = Stopwatch.StartNew();
        for (var i = 0; i < count / Rounds; i++)
        {
            action(sample[i % sample.Length]);
        }

        return count / Rounds / clock.Elapsed.TotalSeconds;
    }
}

static void Tokenize(byte[] json)
{
    if (json.Length == 0)
    {
        return;
    }

    var reader = new Utf8JsonReader(json);
    while (reader.Read())
    {
    }
}

void Add(Figure figure)
{
    figures.Add(figure);
    Console.WriteLine(figure.ToMarkdown());
}

static void WriteChangelog(string path, int events, int keys)
{
    var random = new Random(42);
    using var writer = new StreamWriter(path);
    for (var i = 1; i <= events; i++)
    {
        var key = random.Next(keys);
        var roll = random.Next(10);
        var op = roll < 6 ? "u" : roll < 9 ? "c" : "d";
        writer.Write("{\"topic\":\"items\",\"key\":{\"id\":");
        writer.Write(key);
        writer.Write("},\"value\":{\"op\":\"");
        writer.Write(op);
        writer.Write(op == "d"
            ? $"\",\"before\":{{\"id\":{key}}},\"after\":null"
            : $"\",\"before\":null,\"after\":{{\"id\":{key},\"name\":\"item {key}\",\"price\":{i % 1000}.25,\"qty\":{i % 17},\"note\":\"change {i}\"}}");
        writer.Write($",\"source\":{{\"lsn\":{1000 + i}}},\"ts_ms\":1748854800000}}}}\n");
    }
}

static string FindRoot()
{
    foreach (var start in new[] { Environment.CurrentDirectory, AppContext.BaseDirectory })
    {
        for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Sync.slnx")))
            {
                return dir.FullName;
            }
        }
    }

    throw new InvalidOperationException("run from inside the repository");
}
