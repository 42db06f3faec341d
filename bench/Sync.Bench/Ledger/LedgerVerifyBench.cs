using System.Diagnostics;
using System.Globalization;
using Microsoft.Data.Sqlite;
using StackExchange.Redis;
using Sync.Bench.Erasure;
using Sync.Compliance.Ledger;
using Sync.Engine.Config;
using Sync.Engine.Formats;
using Sync.Engine.Ledger;
using Sync.Engine.Runtime;
using Sync.Sinks;
using Sync.Sources;
using Sync.Testing.Pulsar;

namespace Sync.Bench.Ledger;

/// <summary>Time and peak memory of <c>sync ledger verify</c>: a ledger of many active requests against
/// ten Pulsar IO topics of the fake broker (the erasure benchmark's topics) materialized into three
/// sinks (PostgreSQL, Redis, SQLite). The ledger is written after the materialization (a running
/// materializer would otherwise suppress its subjects); its first 100 keys are customers that exist,
/// so the sweep finds residue in every place, the rest are keys that exist nowhere. The verification
/// runs as the CLI process a scheduled job starts (<c>./sync</c>, Release), under
/// <c>/usr/bin/time</c> for its peak resident set; the fake broker stays in this process.</summary>
public static class LedgerVerifyBench
{
    private const string Secret = "ledger-verify-bench-secret-0123456789";
    private const int PresentKeys = 100;

    public sealed record Result(int Entries, int CustomersPerTopic, double Seconds, long PeakKilobytes, int ExitCode, string Summary);

    public static async Task<Result> RunAsync(string postgres, string redis, int customersPerTopic, int entries, Action<string> output)
    {
        var dir = Directory.CreateTempSubdirectory("sync-ledger-verify-bench-").FullName;
        var schema = $"ledger_bench_{Environment.ProcessId}";
        await using var broker = FakePulsarBroker.Start();
        await using var cache = await ConnectionMultiplexer.ConnectAsync(new ConfigurationOptions { EndPoints = { redis }, AllowAdmin = true });
        try
        {
            await ErasureBench.PublishAsync(broker, customersPerTopic);
            var config = Path.Combine(dir, "sync.yaml");
            await File.WriteAllTextAsync(config, Config(broker, postgres, redis, schema));
            var components = new SyncComponents(SourceCatalog.All, SinkCatalog.All, MessageFormats.Names, MessageFormats.Create);
            var loaded = ConfigLoader.Load(config, components.Types, _ => null);
            var rows = ErasureBench.Topics * customersPerTopic;
            var server = cache.GetServer(cache.GetEndPoints()[0]);
            await ErasureBench.MaterializeAsync(loaded, components, async () =>
            {
                var postgresRows = await ErasureBench.CountAsync(postgres, $"SELECT count(*) FROM {schema}.customers");
                var redisRows = server.Keys(pattern: $"{schema}:tenant_*:customer:*", pageSize: 5000).LongCount();
                var sqliteRows = SqliteRows(Path.Combine(dir, "local.db"));
                return (postgresRows == rows && redisRows == rows && sqliteRows == rows, $"postgres {postgresRows}, redis {redisRows}, sqlite {sqliteRows}");
            });
            output($"materialized {rows:N0} rows into each of PostgreSQL, Redis and SQLite");

            await RecordLedgerAsync(Path.Combine(dir, "ledger.db"), entries);
            output($"recorded {entries:N0} ledger entries");

            var (seconds, peak, exit, summary) = await VerifyAsync(config, dir);
            output($"ledger verify: {seconds:N1} s, peak {peak / 1024.0:N0} MiB, exit {exit}: {summary}");
            return new Result(entries, customersPerTopic, seconds, peak, exit, summary);
        }
        finally
        {
            await ErasureBench.DropAsync(cache, postgres, schema);

            SqliteConnection.ClearAllPools();
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>Keys 1 to <see cref="PresentKeys"/> (customers that exist), then keys no topic holds.</summary>
    private static async Task RecordLedgerAsync(string path, int entries)
    {
        var hasher = new SubjectHasher(Secret);
        var now = DateTimeOffset.UtcNow;
        await using var ledger = SqliteSuppressionLedger.Open(path);
        foreach (var chunk in Enumerable.Range(1, entries).Select(i => i <= PresentKeys ? i : 10_000_000 + i).Chunk(10_000))
        {
            await ledger.RecordAsync(
                [.. chunk.Select(i => new ErasureRequest(Guid.NewGuid().ToString("N"), "customer", hasher.Hash("customer", i.ToString(CultureInfo.InvariantCulture)), now, "bench", RequestStatus.Complete, now))],
                CancellationToken.None);
        }
    }

    /// <summary>The CLI as a scheduled job runs it, under /usr/bin/time: wall seconds, peak resident KiB, exit code, and the JSON's counts.</summary>
    private static async Task<(double Seconds, long PeakKilobytes, int Exit, string Summary)> VerifyAsync(string config, string dir)
    {
        var launcher = Path.Combine(RepositoryRoot(), "sync");
        var timing = Path.Combine(dir, "time.txt");
        var start = new ProcessStartInfo("/usr/bin/time", ["-f", "%e %M", "-o", timing, launcher, "ledger", "verify", "--config", config, "--json"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };

        // The launcher builds the CLI when a source changed: built first, so the timing is the verify alone.
        using (var build = Process.Start(new ProcessStartInfo(launcher, ["--version"]) { RedirectStandardOutput = true })!)
        {
            await build.WaitForExitAsync();
        }

        using var process = Process.Start(start)!;
        var json = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        var measured = (await File.ReadAllTextAsync(timing)).Trim().Split('\n')[^1].Split(' ');
        if (process.ExitCode is not (0 or 3))
        {
            throw new InvalidOperationException($"ledger verify failed (exit {process.ExitCode}): {await error}");
        }

        using var result = System.Text.Json.JsonDocument.Parse(await json);
        var root = result.RootElement;
        var swept = root.GetProperty("swept").EnumerateArray().ToList();
        var summary = string.Create(CultureInfo.InvariantCulture,
            $"{root.GetProperty("activeRequests").GetInt64():N0} active requests, {swept.Count} places swept ({swept.Sum(p => p.GetProperty("items").GetInt64()):N0} rows and messages), {root.GetProperty("residue").GetArrayLength()} requests with residue, {root.GetProperty("notSwept").GetArrayLength()} places not swept");
        return (double.Parse(measured[0], CultureInfo.InvariantCulture), long.Parse(measured[1], CultureInfo.InvariantCulture), process.ExitCode, summary);
    }

    private static long SqliteRows(string path)
    {
        if (!File.Exists(path))
        {
            return 0;
        }

        using var connection = new SqliteConnection($"Data Source={path};Mode=ReadOnly;Pooling=false");
        connection.Open();
        using var count = connection.CreateCommand();
        count.CommandText = "SELECT count(*) FROM customers";
        try
        {
            return (long)count.ExecuteScalar()!;
        }
        catch (SqliteException)
        {
            return 0;
        }
    }

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Sync.slnx")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("the repository root (Sync.slnx) was not found above " + AppContext.BaseDirectory);
    }

    private static string Config(FakePulsarBroker broker, string postgres, string redis, string schema)
    {
        const string pattern = @"persistent://public/default/tenant_[0-9]+\.public\.customers";
        const string tenant = @"{ column: tenant, from: topic, pattern: 'persistent://public/default/(?<tenant>tenant_[0-9]+)\.public\.customers' }";
        return $$"""
            sources:
              broker: { type: pulsar, serviceUrl: '{{broker.ServiceUrl}}', adminUrl: '{{broker.AdminUrl}}', compactedReadIdle: 100ms }
            sinks:
              warehouse: { type: postgres, connectionString: '{{postgres}}', tls: disable, schema: {{schema}}, stateSchema: {{schema}}_sync }
              cache: { type: redis, endpoints: ['{{redis}}'], keyPrefix: '{{schema}}:sync:' }
              local: { type: sqlite, path: local.db }
            materializers:
              customers: { source: broker, topicPattern: '{{pattern}}', sink: warehouse, table: customers, tenant: {{tenant}}, batchSize: 5000 }
              customers-cache: { source: broker, topicPattern: '{{pattern}}', sink: cache, table: customers, tenant: {{tenant}}, batchSize: 5000, target: { keyTemplate: '{{schema}}:{tenant}:customer:{id}' } }
              customers-local: { source: broker, topicPattern: '{{pattern}}', sink: local, table: customers, tenant: {{tenant}}, batchSize: 5000 }
            subjects:
              customer:
                customers: { key: id }
                customers-cache: { key: id }
                customers-local: { key: id }
            erasure:
              secret: '{{Secret}}'
              ledger: ledger.db
            """;
    }
}
