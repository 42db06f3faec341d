using System.Diagnostics;
using Sync.Compliance.Ledger;
using Sync.Engine.Ledger;
using Sync.Sinks.Postgres;

namespace Sync.Bench.Ledger;

/// <summary>
/// Propagation of an erasure through a shared ledger: the time from the ledger write returning (the
/// first durable step of <c>sync erase</c>) until every one of <see cref="Views"/> views (one per
/// running process) reports the key, as a materializer asks before each batch. Each view is asked in
/// a loop of its own, 1 ms apart; p50 and p99 over the erasures. The views reload at the latest every
/// 5 s, the default <c>erasure.refreshInterval</c>.
/// </summary>
public static class LedgerPropagationBench
{
    public const int Views = 3;

    public sealed record Result(double P50Ms, double P99Ms, double MaxMs);

    /// <summary>The PostgreSQL ledger: NOTIFY on commit, each view LISTENing on its own connection.</summary>
    public static async Task<Result> PostgresAsync(string connectionString, int erasures, Action<string> output)
    {
        var schema = $"bench_ledger_{Environment.ProcessId}";
        var options = new PostgresSinkOptions { ConnectionString = connectionString, Tls = PostgresTlsMode.Disable };
        await using var eraser = new PostgresSuppressionLedger("bench", options, schema);
        var processes = Enumerable.Range(0, Views).Select(_ => new PostgresSuppressionLedger("bench", options, schema)).ToList();
        try
        {
            return await MeasureAsync(eraser, processes.Select(p => p.OpenView(TimeSpan.FromSeconds(5), TimeProvider.System)).ToList(), erasures, output);
        }
        finally
        {
            foreach (var process in processes)
            {
                await process.DisposeAsync();
            }

            await using var connection = new Npgsql.NpgsqlConnection(connectionString);
            await connection.OpenAsync();
            await using var drop = new Npgsql.NpgsqlCommand($"DROP SCHEMA IF EXISTS {schema} CASCADE", connection);
            await drop.ExecuteNonQueryAsync();
        }
    }

    /// <summary>The file ledger: each view looks at the file's stamps every 20 ms.</summary>
    public static async Task<Result> FileAsync(int erasures, Action<string> output)
    {
        var dir = Directory.CreateTempSubdirectory("sync-bench-ledger-").FullName;
        try
        {
            var path = Path.Combine(dir, "ledger.db");
            await using var eraser = SqliteSuppressionLedger.Open(path);
            return await MeasureAsync(eraser, Enumerable.Range(0, Views).Select(_ => (ISuppressionView)new SqliteSuppressionView(path, TimeSpan.FromSeconds(5), TimeProvider.System)).ToList(), erasures, output);
        }
        finally
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            Directory.Delete(dir, recursive: true);
        }
    }

    private static async Task<Result> MeasureAsync(ISuppressionLedger eraser, IReadOnlyList<ISuppressionView> views, int erasures, Action<string> output)
    {
        try
        {
            foreach (var view in views)
            {
                await view.CurrentAsync(CancellationToken.None);
            }

            var times = new List<double>(erasures);
            for (var i = 0; i < erasures; i++)
            {
                var hash = $"bench-{Guid.NewGuid():N}";
                var seen = views.Select(view => SeenAsync(view, hash)).ToList();
                await eraser.RecordAsync([new ErasureRequest(Guid.NewGuid().ToString("N"), "customer", hash, DateTimeOffset.UtcNow, "bench", RequestStatus.InProgress, null)], CancellationToken.None);
                var written = Stopwatch.GetTimestamp();
                var last = (await Task.WhenAll(seen)).Max();
                times.Add(Stopwatch.GetElapsedTime(written, Math.Max(written, last)).TotalMilliseconds);
            }

            times.Sort();
            var result = new Result(Percentile(times, 0.50), Percentile(times, 0.99), times[^1]);
            output($"ledger propagation ({eraser.Location}): p50 {result.P50Ms:F1} ms, p99 {result.P99Ms:F1} ms, max {result.MaxMs:F1} ms over {erasures} erasures to {views.Count} views");
            return result;
        }
        finally
        {
            foreach (var view in views)
            {
                await view.DisposeAsync();
            }
        }
    }

    /// <summary>When the view first reported the key (a timestamp), asked as a materializer does before each batch.</summary>
    private static async Task<long> SeenAsync(ISuppressionView view, string hash)
    {
        var deadline = Stopwatch.GetTimestamp() + Stopwatch.Frequency * 60;
        while (!(await view.CurrentAsync(CancellationToken.None)).Contains(("customer", hash)))
        {
            if (Stopwatch.GetTimestamp() > deadline)
            {
                throw new TimeoutException("a view did not report an erasure within 60 s");
            }

            await Task.Delay(1);
        }

        return Stopwatch.GetTimestamp();
    }

    private static double Percentile(List<double> sorted, double p) => sorted[Math.Min(sorted.Count - 1, (int)Math.Ceiling(p * sorted.Count) - 1)];
}
