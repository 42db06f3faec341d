using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging.Abstractions;
using Sync.Bench;
using Sync.Bench.EndToEnd;
using Sync.Engine.Config;
using Sync.Engine.Formats;
using Sync.Engine.Runtime;
using Sync.Pulsar;
using Sync.Sinks;
using Sync.Testing.Elasticsearch;
using Sync.Testing.Process;

// End-to-end and footprint figures (issue 9, items 4, 6, 7 and 8):
//   latency      publish (our producer, to the fake broker in its own process) -> committed in
//                PostgreSQL, p50/p99 at 1k and 10k events/s, measured per event by a sink wrapper
//                that stamps the moment ApplyAsync returned (the batch and its checkpoint durable)
//   saturation   a pre-published backlog drained by `sync run`'s runtime, events/s, and CPU
//                seconds of this process per million events (decode, map, collapse, sink client)
//   backfill     peak RSS and CPU of the real CLI process (`sync backfill`) over a backlog of
//                5,000,000 events (500,000 with --quick) on the fake broker into PostgreSQL
//   startup      `sync --version`, and `sync run` of the quick start from process start to exit
//   elasticsearch  client-side CPU per 1,000 events of the Elasticsearch sink; the fake serves
//                from a child process, so its work is not in the figure (and the fake is not a
//                search engine: the figure says nothing about a real cluster's indexing cost)
//   scale        throughput of 1, 2 and 4 materializers (one topic each) in one process, and of
//                1 and 2 sync run processes sharing a Key_Shared subscription on one topic
//   scale-latency  1, 2 and 4 sync run processes on one Key_Shared subscription writing through a
//                LatencyProxy that delays every PostgreSQL reply: scale-out where the sink's
//                latency, not the CPU, is the bottleneck
// Usage: dotnet run -c Release --project bench/Sync.Bench.EndToEnd -- --postgres CS [--quick]
//   consistency  throughput of four materializers alone and in one consistency group, by `sync run`
//                from a changelog file of bank transfers into SQLite and PostgreSQL (ConsistencyGroupCost)
//   consistency-latency  the same four alone and in a group: the latency of each transfer, published at a
//                steady rate to the fake broker, until it is visible in PostgreSQL (ConsistencyGroupLatency)
//        [--only latency,saturation,backfill,startup,elasticsearch,scale,scale-latency,consistency,consistency-latency] [--linger DURATION] [--read-ahead N] [--json FILE]
//        [--cli PATH]  another build of sync.dll to run (the commit before a change)
if (args.Contains("--serve-elasticsearch"))
{
    await using var served = FakeElasticsearch.Start();
    Console.WriteLine(served.Url);
    await Console.In.ReadToEndAsync();
    return 0;
}

var quick = args.Contains("--quick");
var postgres = ArgValue("--postgres");
var jsonFile = ArgValue("--json");
var only = ArgValue("--only")?.Split(',') ?? ["latency", "saturation", "backfill", "startup", "elasticsearch", "scale", "scale-latency", "consistency", "consistency-latency"];
var figures = new List<Figure>();
var bin = Metadata("ArtifactsBin");
var pivots = Metadata("ArtifactsPivots");
var fakePulsarDll = Path.Combine(bin, "FakePulsar", pivots, "FakePulsar.dll");
// --cli: another build of the CLI (the commit before a change), run by the same bench.
var cliDll = ArgValue("--cli") ?? Path.Combine(bin, "Sync.Cli", pivots, "sync.dll");
Console.WriteLine($"machine: {Environment.ProcessorCount} cores, {Environment.OSVersion}, .NET {Environment.Version}");
Console.WriteLine();
Console.WriteLine("| figure | value | unit | limit | limit value | ratio | goal |");
Console.WriteLine("| --- | ---: | --- | --- | ---: | ---: | --- |");

var needsPostgres = only.Any(o => o is "latency" or "saturation" or "backfill" or "scale" or "scale-latency");
if (needsPostgres && postgres is null)
{
    Console.Error.WriteLine("--postgres CONNECTION-STRING is required for latency, saturation, backfill and scale");
    return 2;
}

var work = Directory.CreateTempSubdirectory("sync-bench-e2e-").FullName;
try
{
    if (only.Contains("startup"))
    {
        var version = MedianSeconds(5, () => RunCli(["--version"], work));
        Add(new Figure("start-up: sync --version", version * 1000, "ms"));
        var quickstart = Path.Combine(work, "quickstart");
        CopyQuickstart(quickstart);
        var run = MedianSeconds(3, () =>
        {
            File.Delete(Path.Combine(quickstart, "quickstart.db"));
            RunCli(["run", "--config", Path.Combine(quickstart, "quickstart.yaml")], quickstart);
        });
        Add(new Figure("start-up: sync run of the quick start (18 events), process start to exit", run * 1000, "ms"));
    }

    if (only.Contains("elasticsearch"))
    {
        var events = quick ? 100_000 : 500_000;
        var (cpuMsPer1000, perSecond) = await ElasticsearchCost.MeasureAsync(Environment.ProcessPath!, typeof(Program).Assembly.Location, work, events);
        Add(new Figure($"Elasticsearch sink client CPU, {events:N0} upserts in _bulk batches of 1,000 (fake in another process)", cpuMsPer1000, "CPU ms per 1,000 events"));
        Add(new Figure("Elasticsearch sink against the fake, wall clock", perSecond, "events/s"));
    }

    if (postgres is not null && only.Any(o => o is "latency" or "saturation" or "backfill" or "scale" or "scale-latency"))
    {
        await using var broker = await FakePulsarProcess.StartAsync(fakePulsarDll);
        var bench = new PulsarToPostgres(broker.ServiceUrl, broker.AdminUrl, postgres, work, ArgValue("--linger"), ArgValue("--read-ahead"));
        if (only.Contains("latency"))
        {
            foreach (var rate in new[] { 1_000, 10_000 })
            {
                var seconds = quick ? 5 : 15;
                var latency = await bench.LatencyAsync(rate, seconds);
                Add(new Figure($"end to end publish -> committed in PostgreSQL at {rate:N0} events/s, p50 ({latency.Count:N0} events)", latency.P50Ms, "ms"));
                Add(new Figure($"end to end publish -> committed in PostgreSQL at {rate:N0} events/s, p99", latency.P99Ms, "ms", Goal: rate == 10_000 ? "<= 50 ms" : null));
                Add(new Figure($"end to end publish -> committed in PostgreSQL at {rate:N0} events/s, max", latency.MaxMs, "ms"));
                // Less moved by the machine's load than the percentiles: what the collector's pauses take of the run.
                Add(new Figure($"same run at {rate:N0} events/s, collector pauses in all ({latency.Gen2Collections:N0} full collections)", latency.GcPauseMs, "ms"));
            }
        }

        if (only.Contains("saturation"))
        {
            var events = quick ? 100_000 : 1_000_000;
            var saturation = await bench.SaturationAsync(topics: 1, events);
            Add(new Figure($"end to end saturation, {events:N0} events backlog -> PostgreSQL, one materializer", saturation.EventsPerSecond, "events/s"));
            Add(new Figure("CPU of the sync process per million events (decode, map, collapse, sink client)", saturation.CpuSecondsPerMillion, "CPU s per 1M events", Goal: "<= 3.2 CPU s per 1M events"));
            Add(new Figure($"same drain, managed bytes allocated per event ({saturation.Gen0Collections:N0} garbage collections)", saturation.BytesPerEvent, "bytes per event"));
            Add(new Figure("same drain, voluntary context switches of the process's threads per 1,000 events", saturation.SwitchesPerThousand, "switches per 1,000 events"));
        }

        if (only.Contains("scale"))
        {
            var events = quick ? 100_000 : 400_000;
            await bench.SaturationAsync(1, events / 4); // warm-up, not reported
            foreach (var materializers in new[] { 1, 2, 4 })
            {
                var scaled = await bench.SaturationAsync(materializers, events);
                Add(new Figure($"scale: {materializers} materializer(s), one topic each, {events:N0} events in all", scaled.EventsPerSecond, "events/s"));
            }

            foreach (var processes in new[] { 1, 2 })
            {
                var perSecond = await bench.KeySharedProcessesAsync(cliDll, processes, events);
                Add(new Figure($"scale: {processes} sync run process(es) sharing a Key_Shared subscription, one topic, {events:N0} events, process start-up included", perSecond, "events/s"));
            }
        }

        if (only.Contains("scale-latency"))
        {
            // Small batches and a delay well above the CPU a batch costs, so that a process spends
            // most of its time waiting for PostgreSQL's replies; the machine's 2 cores are then
            // not what limits 1, 2 or 4 processes.
            var events = quick ? 30_000 : 100_000;
            var delay = TimeSpan.FromMilliseconds(10);
            const int batchSize = 500;
            var server = new Npgsql.NpgsqlConnectionStringBuilder(postgres);
            var address = (await System.Net.Dns.GetHostAddressesAsync(server.Host!)).First(a => a.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork);
            await using var proxy = new LatencyProxy(new System.Net.IPEndPoint(address, server.Port), delay);
            var throughProxy = new Npgsql.NpgsqlConnectionStringBuilder(postgres) { Host = "127.0.0.1", Port = proxy.Port }.ConnectionString;
            foreach (var processes in new[] { 1, 2, 4 })
            {
                var perSecond = await bench.KeySharedProcessesAsync(cliDll, processes, events, throughProxy, batchSize);
                Add(new Figure($"scale, sink latency bound ({delay.TotalMilliseconds:0} ms added to every PostgreSQL reply, batchSize {batchSize}): {processes} sync run process(es) on one Key_Shared subscription, {events:N0} events, start-up included", perSecond, "events/s"));
            }
        }

        if (only.Contains("backfill"))
        {
            var events = quick ? 500_000 : 5_000_000;
            var backfill = await bench.BackfillFootprintAsync(cliDll, events);
            Add(new Figure($"sync backfill of {events:N0} events (fake broker -> PostgreSQL), peak RSS of the CLI process", backfill.PeakRssMb, "MB", Goal: "<= 300 MB"));
            Add(new Figure("same backfill, throughput", backfill.EventsPerSecond, "events/s"));
            Add(new Figure("same backfill, CPU of the CLI process per million events", backfill.CpuSecondsPerMillion, "CPU s per 1M events"));
        }
    }

    if (only.Contains("consistency"))
    {
        foreach (var figure in new ConsistencyGroupCost(cliDll, work, postgres).Run(quick ? 5_000 : 40_000))
        {
            Add(figure);
        }
    }

    if (only.Contains("consistency-latency") && postgres is not null)
    {
        await using var broker = await FakePulsarProcess.StartAsync(fakePulsarDll);
        var latency = new ConsistencyGroupLatency(cliDll, work, postgres, broker.ServiceUrl, broker.AdminUrl);
        foreach (var figure in await latency.RunAsync(transactions: quick ? 1_000 : 3_000, perSecond: 100))
        {
            Add(figure);
        }
    }
}
finally
{
    Directory.Delete(work, recursive: true);
}

if (jsonFile is not null)
{
    await File.WriteAllTextAsync(jsonFile, JsonSerializer.Serialize(figures, new JsonSerializerOptions { WriteIndented = true }));
}

return 0;

void Add(Figure figure)
{
    figures.Add(figure);
    Console.WriteLine(figure.ToMarkdown());
}

string? ArgValue(string name)
{
    var at = Array.IndexOf(args, name);
    return at >= 0 && at + 1 < args.Length ? args[at + 1] : null;
}

static string Metadata(string key) =>
    typeof(PulsarToPostgres).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().First(a => a.Key == key).Value
    ?? throw new InvalidOperationException($"assembly metadata {key} missing");

double MedianSeconds(int runs, Action action)
{
    action(); // warm the file cache
    var times = new List<double>();
    for (var i = 0; i < runs; i++)
    {
        var clock = Stopwatch.StartNew();
        action();
        times.Add(clock.Elapsed.TotalSeconds);
    }

    times.Sort();
    return times[times.Count / 2];
}

void RunCli(string[] cliArgs, string directory)
{
    var start = new ProcessStartInfo("dotnet", [cliDll, .. cliArgs]) { WorkingDirectory = directory, RedirectStandardOutput = true, RedirectStandardError = true };
    using var process = Process.Start(start)!;
    var output = process.StandardOutput.ReadToEndAsync();
    var error = process.StandardError.ReadToEnd();
    process.WaitForExit();
    if (process.ExitCode != 0)
    {
        throw new InvalidOperationException($"sync {string.Join(' ', cliArgs)} exited {process.ExitCode}: {error}{output.Result}");
    }
}

static void CopyQuickstart(string to)
{
    var root = AppContext.BaseDirectory;
    for (var dir = new DirectoryInfo(root); dir is not null; dir = dir.Parent)
    {
        if (File.Exists(Path.Combine(dir.FullName, "Sync.slnx")))
        {
            root = dir.FullName;
            break;
        }
    }

    Directory.CreateDirectory(Path.Combine(to, "data"));
    File.Copy(Path.Combine(root, "examples", "quickstart.yaml"), Path.Combine(to, "quickstart.yaml"));
    File.Copy(Path.Combine(root, "examples", "data", "changelog.jsonl"), Path.Combine(to, "data", "changelog.jsonl"));
}

/// <summary>Marks the class that holds the top-level statements, for the metadata lookup.</summary>
internal sealed partial class Program;
