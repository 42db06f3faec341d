using System.Diagnostics;
using Sync.Engine.Config;
using Sync.Engine.Ledger;
using Sync.Sources.Pulsar;
using Sync.Testing.Pulsar;

namespace Sync.Bench.Ledger;

/// <summary>Propagation of an erasure through a topic ledger: from the start of the ledger write
/// (what <c>sync erase</c> does first) until three running views (three <c>sync run</c> processes,
/// each with its own client and connection) suppress the subject. Each erasure is timed on its
/// own, one after the other, so p50/p99 are per-erasure latencies, not a throughput.
/// <para>Only the fake broker can run here, in this process: the figures are the client, the
/// protocol and the views' own work over loopback TCP, without a bookie's fsync or a network hop.
/// A real cluster adds its write latency (the receipt waits for the bookies' quorum) and one
/// dispatch to each reader.</para></summary>
public static class TopicLedgerPropagationBench
{
    public const int Views = 3;

    public sealed record Result(int Erasures, double P50Ms, double P99Ms, double MaxMs, double WriteP50Ms);

    public static async Task<Result> RunAsync(int erasures, Action<string> output)
    {
        await using var broker = FakePulsarBroker.Start();
        var options = new PulsarSourceOptions { ServiceUrl = broker.ServiceUrl.ToString(), AdminUrl = broker.AdminUrl.ToString() };
        var topic = $"persistent://public/default/sync-ledger-bench-{Environment.ProcessId}";
        await using var writer = new PulsarTopicLedger("bench", options, topic);
        var ledgers = Enumerable.Range(0, Views).Select(_ => new PulsarTopicLedger("bench", options, topic)).ToList();
        var views = ledgers.Select(l => (PulsarTopicLedgerView)l.OpenView(TimeSpan.FromSeconds(30), TimeProvider.System)).ToList();
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(5));
            await Task.WhenAll(views.Select(v => v.WaitUntilAsync(_ => true, timeout.Token)));
            // The first write checks and sets the topic's retention: outside the figures.
            await writer.RecordAsync([Request("warm-up")], timeout.Token);
            var propagation = new List<double>(erasures);
            var writes = new List<double>(erasures);
            for (var i = 0; i < erasures; i++)
            {
                var request = Request($"r{i}");
                var key = (request.Subject, request.KeyHash);
                var clock = Stopwatch.StartNew();
                var seen = views.Select(v => v.WaitUntilAsync(set => set.Contains(key), timeout.Token)).ToList();
                await writer.RecordAsync([request], timeout.Token);
                writes.Add(clock.Elapsed.TotalMilliseconds);
                await Task.WhenAll(seen);
                propagation.Add(clock.Elapsed.TotalMilliseconds);
            }

            propagation.Sort();
            writes.Sort();
            var result = new Result(erasures, Percentile(propagation, 0.50), Percentile(propagation, 0.99), propagation[^1], Percentile(writes, 0.50));
            output($"ledger propagation (topic, fake broker): {erasures} erasures, p50 {result.P50Ms:0.00} ms, p99 {result.P99Ms:0.00} ms, max {result.MaxMs:0.00} ms; the write alone p50 {result.WriteP50Ms:0.00} ms");
            return result;
        }
        finally
        {
            foreach (var view in views)
            {
                await view.DisposeAsync();
            }

            foreach (var ledger in ledgers)
            {
                await ledger.DisposeAsync();
            }
        }
    }

    private static ErasureRequest Request(string id) =>
        new(id, "customer", $"hash-{id}", DateTimeOffset.UtcNow, "bench", RequestStatus.InProgress, null);

    private static double Percentile(List<double> sorted, double p) =>
        sorted[Math.Min(sorted.Count - 1, (int)Math.Ceiling(p * sorted.Count) - 1)];
}
