using System.Globalization;
using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using StackExchange.Redis;
using Sync.Compliance.Erasure;
using Sync.Engine.Config;
using Sync.Engine.Formats;
using Sync.Engine.Runtime;
using Sync.Pulsar;
using Sync.Sinks;
using Sync.Sources;
using Sync.Testing.Elasticsearch;
using Sync.Testing.Pulsar;

namespace Sync.Bench.Erasure;

/// <summary>Time to erase data subjects across ten Pulsar IO topics (a fan-in of ten tenant
/// databases, every customer id in every tenant) and three sinks (PostgreSQL, Redis, the
/// Elasticsearch fake): one subject, then a batch of 1,000 in one pass (what <c>--keys-from</c>
/// does). The broker's compaction time is reported apart and left out of the erase figure, as the
/// issue asks: on the fake it is a few admin round trips, on a real broker it depends on the
/// backlog. The fakes run in this process; PostgreSQL and Redis are the throwaway servers of
/// bench/run.sh. The erase runs through <see cref="ErasureService"/>, as <c>sync erase</c> does,
/// without the CLI's process start. The Redis target keeps an index set on <c>id</c>: with the
/// tenant in the key, <c>id</c> alone is not the key, and without an index set the Redis sink finds
/// a subject's rows by a SCAN of the whole table, per key.</summary>
public static class ErasureBench
{
    public const int Topics = 10;

    public sealed record Result(int CustomersPerTopic, ErasureReport One, ErasureReport Batch)
    {
        public static double WithoutCompaction(ErasureReport report) => report.Timings.TotalMs - report.Timings.CompactionMs;
    }

    public static async Task<Result> RunAsync(string postgres, string redis, int customersPerTopic, Action<string> output)
    {
        var dir = Directory.CreateTempSubdirectory("sync-erase-bench-").FullName;
        var schema = $"erase_bench_{Environment.ProcessId}";
        await using var broker = FakePulsarBroker.Start();
        await using var elasticsearch = FakeElasticsearch.Start();
        await using var cache = await ConnectionMultiplexer.ConnectAsync(new ConfigurationOptions { EndPoints = { redis }, AllowAdmin = true });
        try
        {
            await PublishAsync(broker, customersPerTopic);
            var config = Path.Combine(dir, "sync.yaml");
            await File.WriteAllTextAsync(config, Config(broker, elasticsearch, postgres, redis, schema));
            var components = new SyncComponents(SourceCatalog.All, SinkCatalog.All, MessageFormats.Names, MessageFormats.Create);
            var loaded = ConfigLoader.Load(config, components.Types, _ => null);
            var rows = Topics * customersPerTopic;
            var server = cache.GetServer(cache.GetEndPoints()[0]);
            await MaterializeAsync(loaded, components, async () =>
            {
                var postgresRows = await CountAsync(postgres, $"SELECT count(*) FROM {schema}.customers");
                var redisRows = server.Keys(pattern: $"{schema}:tenant_*:customer:*", pageSize: 5000).LongCount();
                var documents = elasticsearch.IndexNames.Where(i => i.StartsWith("customers-", StringComparison.Ordinal)).Sum(i => elasticsearch.Documents(i).Count);
                return (postgresRows == rows && redisRows == rows && documents == rows, $"postgres {postgresRows}, redis {redisRows}, elasticsearch {documents}");
            });
            output($"materialized {rows:N0} rows into each of PostgreSQL, Redis and Elasticsearch");

            var one = await new ErasureService(loaded, components).EraseAsync(new ErasureCommand("customer", ["1"], "bench", DryRun: false), CancellationToken.None);
            Check(one, expectedRows: Topics);
            output($"one subject: {one.Timings}");
            var keys = Enumerable.Range(2, 1000).Select(i => i.ToString(CultureInfo.InvariantCulture)).ToList();
            var batch = await new ErasureService(loaded, components).EraseAsync(new ErasureCommand("customer", keys, "bench", DryRun: false), CancellationToken.None);
            Check(batch, expectedRows: Topics * 1000);
            output($"1,000 subjects: {batch.Timings}");
            return new Result(customersPerTopic, one, batch);
        }
        finally
        {
            await DropAsync(cache, postgres, schema);
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>The erase must have done its work for the timing to mean anything: every sink
    /// clean and every compaction successful (raw residue is expected: the fake keeps its ledger).</summary>
    private static void Check(ErasureReport report, int expectedRows)
    {
        if (report.Topics.Count != Topics || report.Topics.Any(t => t.Compaction != "SUCCESS" || t.CompactedViewMatches != 0)
            || report.Sinks.Count != 3 || report.Sinks.Any(s => s.Remaining != 0 || s.Deleted != expectedRows))
        {
            throw new InvalidOperationException($"the erase did not complete as expected: {System.Text.Json.JsonSerializer.Serialize(report)}");
        }
    }

    internal static string Tenant(int i) => string.Create(CultureInfo.InvariantCulture, $"tenant_{i:00}");

    private static string Topic(int i) => $"persistent://public/default/{Tenant(i)}.public.customers";

    /// <summary>Debezium events as Pulsar IO writes them: base64 JSON key bytes, envelope without schema.</summary>
    internal static async Task PublishAsync(FakePulsarBroker broker, int customersPerTopic)
    {
        await using var client = new PulsarClient(new PulsarClientOptions { ServiceUrl = broker.ServiceUrl });
        var lsn = 0L;
        for (var t = 0; t < Topics; t++)
        {
            await using var producer = await client.CreateProducerAsync(new ProducerOptions { Topic = Topic(t) });
            foreach (var chunk in Enumerable.Range(1, customersPerTopic).Chunk(500))
            {
                await Task.WhenAll(chunk.Select(id =>
                {
                    var value = string.Create(CultureInfo.InvariantCulture, $"{{\"before\":null,\"after\":{{\"id\":{id},\"name\":\"customer {id} of {Tenant(t)}\",\"email\":\"c{id}@{Tenant(t)}.example.org\",\"country\":\"NL\"}},\"source\":{{\"connector\":\"postgresql\",\"db\":\"{Tenant(t)}\",\"schema\":\"public\",\"table\":\"customers\",\"lsn\":{++lsn}}},\"op\":\"c\",\"ts_ms\":1700000000000}}");
                    return producer.SendAsync(new OutgoingMessage { KeyBytes = Encoding.UTF8.GetBytes($"{{\"id\":{id}}}"), Data = Encoding.UTF8.GetBytes(value) }).AsTask();
                }));
            }
        }
    }

    private static string Config(FakePulsarBroker broker, FakeElasticsearch elasticsearch, string postgres, string redis, string schema)
    {
        const string pattern = @"persistent://public/default/tenant_[0-9]+\.public\.customers";
        const string tenant = @"{ column: tenant, from: topic, pattern: 'persistent://public/default/(?<tenant>tenant_[0-9]+)\.public\.customers' }";
        return $$"""
            sources:
              broker: { type: pulsar, serviceUrl: '{{broker.ServiceUrl}}', adminUrl: '{{broker.AdminUrl}}', compactionPollInterval: 10ms, compactedReadIdle: 100ms }
            sinks:
              warehouse: { type: postgres, connectionString: '{{postgres}}', tls: disable, schema: {{schema}}, stateSchema: {{schema}}_sync }
              cache: { type: redis, endpoints: ['{{redis}}'], keyPrefix: '{{schema}}:sync:' }
              search: { type: elasticsearch, urls: ['{{elasticsearch.Url}}'] }
            materializers:
              customers: { source: broker, topicPattern: '{{pattern}}', sink: warehouse, table: customers, tenant: {{tenant}}, batchSize: 5000 }
              customers-cache: { source: broker, topicPattern: '{{pattern}}', sink: cache, table: customers, tenant: {{tenant}}, batchSize: 5000, target: { keyTemplate: '{{schema}}:{tenant}:customer:{id}', indexes: ['{{schema}}:by_email:{email}', '{{schema}}:by_id:{id}'] } }
              customers-search: { source: broker, topicPattern: '{{pattern}}', sink: search, table: customers-{{schema}}, tenant: {{tenant}}, batchSize: 5000 }
            subjects:
              customer:
                customers: { key: id }
                customers-cache: { key: id }
                customers-search: { key: id }
            erasure:
              secret: 'erase-bench-secret-0123456789'
              ledger: ledger.db
            """;
    }

    /// <summary>Runs the config's materializers until <paramref name="materialized"/> says every sink
    /// holds every row (and, when not, what each holds), then stops them.</summary>
    internal static async Task MaterializeAsync(SyncConfig config, SyncComponents components, Func<Task<(bool Done, string Held)>> materialized)
    {
        using var stop = new CancellationTokenSource();
        var run = new SyncRuntime(config, components, NullLoggerFactory.Instance).RunAsync([], RunMode.Resume, stop.Token);
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(10);
        while (true)
        {
            if (run.IsCompleted)
            {
                throw new InvalidOperationException($"the run ended before materializing: {string.Join("; ", (await run).Select(o => o.Failure?.Message))}");
            }

            var (done, held) = await materialized();
            if (done)
            {
                break;
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"materializing took over 10 minutes ({held})");
            }

            await Task.Delay(200);
        }

        await stop.CancelAsync();
        foreach (var outcome in await run)
        {
            if (outcome.Failure is not null)
            {
                throw outcome.Failure;
            }
        }
    }

    /// <summary>Removes the benchmark's Redis keys and PostgreSQL schemas.</summary>
    internal static async Task DropAsync(ConnectionMultiplexer cache, string postgres, string schema)
    {
        var server = cache.GetServer(cache.GetEndPoints()[0]);
        foreach (var key in server.Keys(pattern: $"{schema}:*", pageSize: 1000))
        {
            await cache.GetDatabase().KeyDeleteAsync(key);
        }

        await using (var connection = new NpgsqlConnection(postgres))
        {
            await connection.OpenAsync();
            await using var drop = new NpgsqlCommand($"DROP SCHEMA IF EXISTS {schema} CASCADE; DROP SCHEMA IF EXISTS {schema}_sync CASCADE", connection);
            await drop.ExecuteNonQueryAsync();
        }
    }

    internal static async Task<long> CountAsync(string postgres, string sql)
    {
        await using var connection = new NpgsqlConnection(postgres);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        try
        {
            return Convert.ToInt64(await command.ExecuteScalarAsync(), CultureInfo.InvariantCulture);
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UndefinedTable || e.SqlState == PostgresErrorCodes.InvalidSchemaName)
        {
            return 0;
        }
    }
}
