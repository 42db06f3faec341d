using System.Diagnostics;
using Sync.Bench.Postgres;
using Sync.Engine.Changes;
using Sync.Engine.Runtime;
using Sync.Engine.Sinks;
using Sync.Sinks.Elasticsearch;
using Sync.Testing.Elasticsearch;

namespace Sync.Bench.Backfill;

/// <summary>
/// <c>backfill --shadow</c> into Elasticsearch, the fake of tests/Sync.Testing serving in a process of
/// its own (so that this process's CPU time is the client's alone): <c>events</c> changes over
/// <c>keys</c> keys (the rows of <see cref="PostgresBench.Generate"/>) in batches collapsed by the
/// engine's <see cref="Collapser"/>, through <see cref="ShadowWritingSink"/> as the runtime calls it,
/// from <see cref="ElasticsearchSink.BeginShadowAsync"/> to the end of the swap. Each load runs against
/// a fresh fake, and reports the wall time, this process's CPU time and the fake's.
/// The fake is not Elasticsearch: it indexes nothing and has no periodic refresh, so
/// <c>refresh_interval: -1</c> and no replicas save it nothing; what these figures show is the
/// client's cost per change and what several requests in flight do to the wall time.
/// </summary>
public static class ElasticsearchShadowBench
{
    /// <summary>One load's configuration.</summary>
    public sealed record Load(string Name, bool BulkShadow, int BulkBytes, int BulkConcurrency);

    public sealed record Result(Load Load, int Events, int Keys, int BatchSize, double WallSeconds, double ClientCpuSeconds, double FakeCpuSeconds, int Requests)
    {
        public double PerSecond => Events / WallSeconds;

        public double ClientCpuMicrosPerEvent => ClientCpuSeconds * 1e6 / Events;
    }

    /// <summary>The loads measured: before (one request at a time, at most 16 MiB each, the sink's
    /// fixed size until <c>bulkBytes</c>) and after (the defaults: 5 MiB, 4 in flight, with the bulk
    /// shadow settings).</summary>
    public static IReadOnlyList<Load> Loads { get; } =
    [
        new("before: one request at a time, 16 MiB, bulkShadow false", false, 16 * 1024 * 1024, 1),
        new("after: bulkBytes 5 MiB, bulkConcurrency 4, bulkShadow true", true, ElasticsearchSinkOptions.DefaultBulkBytes, 4),
    ];

    /// <summary>The argument that makes this program serve a fake Elasticsearch instead of measuring.</summary>
    public const string ServeArgument = "--serve-fake-elasticsearch";

    /// <summary>Serves a fake until standard input closes; prints its URL, then the number of <c>_bulk</c> requests it answered.</summary>
    public static async Task ServeAsync()
    {
        await using var fake = FakeElasticsearch.Start();
        Console.WriteLine(fake.Url);
        await Console.In.ReadToEndAsync();
        Console.WriteLine(fake.BulkSizes.Count);
    }

    public static async Task<List<Result>> RunAsync(int events, int keys, int batchSize, Action<string> progress, CancellationToken cancellationToken = default)
    {
        var batches = ShadowBackfillBench.Batches(PostgresBench.Generate(events, keys), batchSize);

        progress($"elasticsearch shadow backfill bench: {events:N0} changes over {keys:N0} keys, batches of {batchSize:N0}, fake in a process of its own");
        var results = new List<Result>();
        foreach (var load in Loads)
        {
            var result = await RunLoadAsync(load, events, keys, batchSize, batches, cancellationToken);
            progress($"  {load.Name}: {result.PerSecond:N0} events/s, wall {result.WallSeconds:N2} s, client CPU {result.ClientCpuSeconds:N2} s ({result.ClientCpuMicrosPerEvent:N1} µs/event), fake CPU {result.FakeCpuSeconds:N2} s, {result.Requests} _bulk requests");
            results.Add(result);
        }

        return results;
    }

    private static async Task<Result> RunLoadAsync(Load load, int events, int keys, int batchSize, List<(IReadOnlyList<ChangeEvent> Changes, Dictionary<string, StreamPosition> Checkpoint)> batches, CancellationToken cancellationToken)
    {
        using var server = StartFake(out var url);
        try
        {
            var options = new ElasticsearchSinkOptions
            {
                Urls = [url],
                BulkShadow = load.BulkShadow,
                BulkBytes = load.BulkBytes,
                BulkConcurrency = load.BulkConcurrency,
                RequestTimeout = TimeSpan.FromMinutes(5),
            };
            await using var sink = await ElasticsearchSink.OpenAsync("bench", options, cancellationToken);
            var live = new TargetSpec("items") { Options = new ElasticsearchTargetOptions() };
            var process = Process.GetCurrentProcess();
            var fakeCpu = server.TotalProcessorTime;
            var cpu = process.TotalProcessorTime;
            var clock = Stopwatch.StartNew();
            var shadow = await sink.BeginShadowAsync("bench", live, cancellationToken);
            await ShadowBackfillBench.ApplyAllAsync(new ShadowWritingSink(sink, shadow), live, batches, cancellationToken);

            await sink.SwapShadowAsync(shadow, keepOld: false, cancellationToken);
            var wall = clock.Elapsed.TotalSeconds;
            process.Refresh();
            server.Refresh();
            var clientCpu = (process.TotalProcessorTime - cpu).TotalSeconds;
            var serverCpu = (server.TotalProcessorTime - fakeCpu).TotalSeconds;
            server.StandardInput.Close();
            var requests = int.Parse(await server.StandardOutput.ReadLineAsync(cancellationToken) ?? "0", System.Globalization.CultureInfo.InvariantCulture);
            return new Result(load, events, keys, batchSize, wall, clientCpu, serverCpu, requests);
        }
        finally
        {
            server.StandardInput.Close();
            await server.WaitForExitAsync(CancellationToken.None);
        }
    }

    /// <summary>Starts this program again in <see cref="ServeArgument"/> mode and reads the fake's URL.</summary>
    private static Process StartFake(out string url)
    {
        var start = new ProcessStartInfo(Environment.ProcessPath!)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        if (Path.GetFileNameWithoutExtension(Environment.ProcessPath!) == "dotnet")
        {
            start.ArgumentList.Add(typeof(ElasticsearchShadowBench).Assembly.Location);
        }

        start.ArgumentList.Add(ServeArgument);
        var process = Process.Start(start)!;
        url = process.StandardOutput.ReadLine() ?? throw new InvalidOperationException("the fake Elasticsearch process printed no URL");
        return process;
    }
}
