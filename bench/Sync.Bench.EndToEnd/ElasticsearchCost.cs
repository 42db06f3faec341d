using System.Diagnostics;
using Sync.Engine.Changes;
using Sync.Engine.Config;
using Sync.Engine.Formats;
using Sync.Engine.Runtime;
using Sync.Engine.Sinks;
using Sync.Sinks;
using Sync.Sources;
using Sync.Testing.Changes;

namespace Sync.Bench.EndToEnd;

/// <summary>The Elasticsearch sink's own CPU per event: batches applied straight through the
/// sink against the fake served by a child process (this executable with --serve-elasticsearch),
/// so that the process CPU measured here is the sink's: building the _bulk body, HTTP, reading
/// the per-item results.</summary>
internal static class ElasticsearchCost
{
    private const int BatchSize = 1000;

    public static async Task<(double CpuMsPer1000, double EventsPerSecond)> MeasureAsync(string host, string benchDll, string work, int events)
    {
        var start = new ProcessStartInfo(host, host.EndsWith("dotnet", StringComparison.Ordinal) ? [benchDll, "--serve-elasticsearch"] : ["--serve-elasticsearch"])
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
        };
        using var fake = Process.Start(start) ?? throw new InvalidOperationException("the Elasticsearch fake did not start");
        try
        {
            var url = await fake.StandardOutput.ReadLineAsync() ?? throw new InvalidOperationException("the Elasticsearch fake printed nothing");
            var config = Path.Combine(work, "elasticsearch.yaml");
            await File.WriteAllTextAsync(config, $$"""
                sources:
                  none: { type: file, path: none.jsonl }
                sinks:
                  search: { type: elasticsearch, urls: ['{{url}}'] }
                materializers:
                  items: { source: none, topics: [items], sink: search, table: items }
                """);
            var components = new SyncComponents(SourceCatalog.All, SinkCatalog.All, MessageFormats.Names, MessageFormats.Create);
            var loaded = ConfigLoader.Load(config, components.Types);
            await using var sink = await components.Sinks["elasticsearch"].OpenAsync(loaded.Sinks["search"], CancellationToken.None);
            var target = new TargetSpec("items");
            var batches = Enumerable.Range(0, events / BatchSize)
                .Select(b => (IReadOnlyList<ChangeEvent>)[.. Enumerable.Range(b * BatchSize, BatchSize).Select(Upsert)])
                .ToList();

            // The first batches warm the JIT, the connection and the index mapping.
            for (var b = 0; b < 5; b++)
            {
                await sink.ApplyAsync(new SinkBatch("items", target, batches[b], new Dictionary<string, StreamPosition>()), CancellationToken.None);
            }

            var cpu = Process.GetCurrentProcess().TotalProcessorTime;
            var clock = Stopwatch.StartNew();
            foreach (var batch in batches)
            {
                await sink.ApplyAsync(new SinkBatch("items", target, batch, new Dictionary<string, StreamPosition>()), CancellationToken.None);
            }

            var elapsed = clock.Elapsed.TotalSeconds;
            var cpuMs = (Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalMilliseconds;
            return (cpuMs / (events / 1000.0), events / elapsed);
        }
        finally
        {
            fake.StandardInput.Close();
            if (!fake.WaitForExit(10_000))
            {
                fake.Kill();
            }
        }
    }

    // Keys repeat every 10,000 events, so later batches update documents (each a newer version).
    private static ChangeEvent Upsert(int i) =>
        Change.Upsert(("id", i % 10_000), 1000 + i, ("name", $"item {i % 10_000}"), ("price", (i % 1000) + 0.25m), ("qty", i % 17), ("note", $"change {i}"));
}
