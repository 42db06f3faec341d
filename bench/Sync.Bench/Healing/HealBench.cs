using System.Diagnostics;
using System.Globalization;
using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using StackExchange.Redis;
using Sync.Engine.Config;
using Sync.Engine.Formats;
using Sync.Engine.Runtime;
using Sync.Sources.Pulsar;
using Sync.Pulsar;
using Sync.Sinks;
using Sync.Testing.Pulsar;

namespace Sync.Bench.Healing;

/// <summary>
/// Time to heal: a sink comes back rolled back by N changes (its rows and checkpoint put back from a
/// copy taken N changes earlier) while <c>sync run</c> keeps running, idle; measured from the moment
/// the copy is back until the run reports the heal caught up (and the sink is checked to hold the
/// model). The limit beside it: the same run applying the same N changes the ordinary way (a run
/// started on the N changes waiting in its subscription, until the last one is in the sink), so the
/// ratio says what healing costs over a plain catch-up, whatever the machine.
/// </summary>
public static class HealBench
{
    private const int Keys = 5_000;

    public sealed record Result(string Sink, int Lost, double LiveMs, double HealMs, long Replayed, TimeSpan CheckInterval);

    public static async Task<Result> RunAsync(string sinkType, string connection, int lost, Action<string> log)
    {
        var run = $"heal{Guid.NewGuid():N}"[..14];
        await using var broker = FakePulsarBroker.Start();
        var topic = $"persistent://public/default/{run}";
        var model = new Dictionary<int, string>();
        ISinkCopy sink = sinkType switch
        {
            "postgres" => new PostgresCopy(connection, run),
            "redis" => await RedisCopy.ConnectAsync(connection, run),
            "sqlite" => new SqliteCopy(connection),
            _ => new ElasticsearchCopy(),
        };
        await using var _ = sink;
        connection = sink is ElasticsearchCopy elasticsearch ? elasticsearch.Url : connection;
        var checkInterval = TimeSpan.FromMilliseconds(100);
        var config = ConfigLoader.Parse(Config(broker, sinkType, connection, run, topic, checkInterval), Path.Combine(Path.GetTempPath(), $"{run}.yaml"), Components.Types, _ => null);
        await using var client = new PulsarClient(new PulsarClientOptions { ServiceUrl = broker.ServiceUrl });
        await using var producer = await client.CreateProducerAsync(new ProducerOptions { Topic = topic });
        var lsn = 0L;

        // Every key created, applied, and copied: the point the sink will go back to.
        lsn = await PublishAsync(producer, model, Keys, lsn);
        await using (var first = Running.Start(config))
        {
            await UntilAsync(() => sink.HoldsAsync(model, lastOnly: true), first);
        }

        await sink.SnapshotAsync();
        log($"{sinkType}: {Keys:N0} keys applied and copied; publishing {lost:N0} more changes");

        // The N changes, applied by a run started on them: the limit.
        lsn = await PublishAsync(producer, model, lost, lsn);
        await using var second = Running.Start(config);
        var clock = Stopwatch.StartNew();
        await UntilAsync(() => sink.HoldsAsync(model, lastOnly: true), second);
        var live = clock.Elapsed.TotalMilliseconds;
        log($"{sinkType}: {lost:N0} changes applied in {live:N0} ms; putting the copy back");

        // The sink goes back by those N changes while the run is idle; clock from the copy being back.
        var rollbacks = second.Counters.Rollbacks;
        await sink.RestoreAsync();
        clock.Restart();
        await UntilAsync(() => Task.FromResult(second.Counters.Rollbacks > rollbacks && !second.Counters.Healing), second);
        var heal = clock.Elapsed.TotalMilliseconds;
        if (!await sink.HoldsAsync(model, lastOnly: false))
        {
            throw new InvalidOperationException($"{sinkType}: the heal reported caught up, but the sink does not hold the model");
        }

        log($"{sinkType}: healed in {heal:N0} ms, {second.Counters.Replayed:N0} messages replayed");
        return new Result(sinkType, lost, live, heal, second.Counters.Replayed, checkInterval);
    }

    private static readonly SyncComponents Components = new([new PulsarSourceFactory()], SinkCatalog.All, MessageFormats.Names, MessageFormats.Create);

    private static string Config(FakePulsarBroker broker, string sinkType, string connection, string run, string topic, TimeSpan checkInterval)
    {
        var sink = sinkType switch
        {
            "postgres" => $"target: {{ type: postgres, connectionString: '{connection}', tls: disable, schema: {run}, stateSchema: {run}_state }}",
            "redis" => $"target: {{ type: redis, endpoints: ['{connection}'], keyPrefix: '{run}:sync:' }}",
            "sqlite" => $"target: {{ type: sqlite, path: '{connection}' }}",
            _ => $"target: {{ type: elasticsearch, urls: ['{connection}'] }}",
        };
        var target = sinkType == "redis" ? $", target: {{ keyTemplate: '{run}:items:{{id}}' }}" : "";
        return $"""
            sources:
              broker: {"{"} type: pulsar, serviceUrl: '{broker.ServiceUrl}', adminUrl: '{broker.AdminUrl}', subscription: bench, initialPosition: earliest {"}"}
            sinks:
              {sink}
            materializers:
              items: {"{"} source: broker, topics: ['{topic}'], sink: target, table: items, batchSize: 1000, rollbackCheckInterval: {(int)checkInterval.TotalMilliseconds}ms{target} {"}"}
            """;
    }

    /// <summary>Changes as Pulsar IO's Debezium source writes them (JSON key, envelope without schema):
    /// the first round creates every key, later ones update them in turn.</summary>
    private static async Task<long> PublishAsync(IPulsarProducer producer, Dictionary<int, string> model, int count, long lsn)
    {
        var sends = new List<Task>(count);
        for (var i = 0; i < count; i++)
        {
            var id = (int)(lsn % Keys) + 1;
            var name = $"v{++lsn}";
            var op = model.ContainsKey(id) ? "u" : "c";
            var value = string.Create(CultureInfo.InvariantCulture, $"{{\"before\":null,\"after\":{{\"id\":{id},\"name\":\"{name}\"}},\"source\":{{\"connector\":\"postgresql\",\"db\":\"shop\",\"schema\":\"public\",\"table\":\"items\",\"lsn\":{lsn}}},\"op\":\"{op}\",\"ts_ms\":1700000000000}}");
            sends.Add(producer.SendAsync(new OutgoingMessage { KeyBytes = Encoding.UTF8.GetBytes($"{{\"id\":{id}}}"), Data = Encoding.UTF8.GetBytes(value) }).AsTask());
            model[id] = name;
        }

        await Task.WhenAll(sends);
        return lsn;
    }

    private static async Task UntilAsync(Func<Task<bool>> condition, Running running)
    {
        var clock = Stopwatch.StartNew();
        while (!await condition())
        {
            if (running.Outcome.IsCompleted)
            {
                throw new InvalidOperationException($"the run ended: {(await running.Outcome).Single().Failure}");
            }

            if (clock.Elapsed > TimeSpan.FromMinutes(5))
            {
                throw new TimeoutException("the sink did not catch up within 5 minutes");
            }

            await Task.Delay(5);
        }
    }

    /// <summary>An in-process <c>sync run</c> on the real clock.</summary>
    private sealed class Running : IAsyncDisposable
    {
        private readonly CancellationTokenSource _stop = new();
        private MaterializerCounters? _counters;

        private Running(SyncConfig config) =>
            Outcome = new SyncRuntime(config, Components, NullLoggerFactory.Instance) { Started = (_, c) => Volatile.Write(ref _counters, c) }
                .RunAsync([], RunMode.Resume, _stop.Token);

        public Task<IReadOnlyList<MaterializerOutcome>> Outcome { get; }

        public MaterializerCounters Counters => Volatile.Read(ref _counters) ?? new MaterializerCounters();

        public static Running Start(SyncConfig config) => new(config);

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            try
            {
                await Outcome;
            }
            catch (OperationCanceledException)
            {
            }

            _stop.Dispose();
        }
    }

    private interface ISinkCopy : IAsyncDisposable
    {
        Task SnapshotAsync();

        Task RestoreAsync();

        /// <summary>The sink holds the model (lastOnly: the key changed last holds its last name).</summary>
        Task<bool> HoldsAsync(Dictionary<int, string> model, bool lastOnly);
    }

    /// <summary>The target and state schemas copied aside and put back in one transaction.</summary>
    private sealed class PostgresCopy(string connectionString, string run) : ISinkCopy
    {
        private readonly string[] _tables = [$"\"{run}\".items", $"\"{run}_state\".checkpoints", $"\"{run}_state\".delete_markers", $"\"{run}_state\".targets"];

        public Task SnapshotAsync() => ExecuteAsync(
            $"CREATE SCHEMA \"{run}_copy\"; " + string.Concat(_tables.Select((t, i) => $"CREATE TABLE \"{run}_copy\".t{i} AS SELECT * FROM {t}; ")));

        public Task RestoreAsync() => ExecuteAsync(
            $"BEGIN; LOCK TABLE {string.Join(", ", _tables)} IN ACCESS EXCLUSIVE MODE; "
            + string.Concat(_tables.Select((t, i) => $"DELETE FROM {t}; INSERT INTO {t} SELECT * FROM \"{run}_copy\".t{i}; ")) + "COMMIT;");

        public async Task<bool> HoldsAsync(Dictionary<int, string> model, bool lastOnly)
        {
            await using var connection = new NpgsqlConnection(connectionString);
            await connection.OpenAsync();
            var held = new Dictionary<int, string>();
            try
            {
                await using var command = new NpgsqlCommand($"SELECT id, name FROM \"{run}\".items", connection);
                await using var reader = await command.ExecuteReaderAsync();
                while (await reader.ReadAsync())
                {
                    held[Convert.ToInt32(reader.GetValue(0), CultureInfo.InvariantCulture)] = reader.GetString(1);
                }
            }
            catch (PostgresException e) when (e.SqlState is PostgresErrorCodes.UndefinedTable or PostgresErrorCodes.InvalidSchemaName)
            {
                return false;
            }

            return lastOnly ? LastHeld(model, held) : held.Count == model.Count && model.All(m => held.GetValueOrDefault(m.Key) == m.Value);
        }

        private async Task ExecuteAsync(string sql)
        {
            await using var connection = new NpgsqlConnection(connectionString);
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand(sql, connection);
            await command.ExecuteNonQueryAsync();
        }

        public async ValueTask DisposeAsync() =>
            await ExecuteAsync($"DROP SCHEMA IF EXISTS \"{run}\" CASCADE; DROP SCHEMA IF EXISTS \"{run}_state\" CASCADE; DROP SCHEMA IF EXISTS \"{run}_copy\" CASCADE");
    }

    /// <summary>The run's keys (rows and sync's checkpoint) DUMPed, and put back in place of what is
    /// there with DEL and RESTORE in one transaction.</summary>
    private sealed class RedisCopy(ConnectionMultiplexer redis, string endpoint, string run) : ISinkCopy
    {
        private List<(RedisKey Key, byte[] Value)> _copy = [];

        public static async Task<RedisCopy> ConnectAsync(string endpoint, string run) =>
            new(await ConnectionMultiplexer.ConnectAsync(endpoint), endpoint, run);

        private IDatabase Db => redis.GetDatabase();

        private async Task<List<RedisKey>> KeysAsync()
        {
            var keys = new List<RedisKey>();
            await foreach (var key in redis.GetServer(endpoint).KeysAsync(pattern: $"{run}:*", pageSize: 1000))
            {
                keys.Add(key);
            }

            return keys;
        }

        public async Task SnapshotAsync()
        {
            var keys = await KeysAsync();
            var values = await Task.WhenAll(keys.Select(k => Db.KeyDumpAsync(k)));
            _copy = [.. keys.Zip(values).Where(p => p.Second is not null).Select(p => (p.First, p.Second!))];
        }

        public async Task RestoreAsync()
        {
            // One MULTI/EXEC: the run's idle check sees the sink either before or after it went back
            // (https://redis.io/docs/latest/develop/interact/transactions/).
            var keys = await KeysAsync();
            var transaction = Db.CreateTransaction();
            var queued = new List<Task> { transaction.KeyDeleteAsync([.. keys]) };
            queued.AddRange(_copy.Select(c => transaction.KeyRestoreAsync(c.Key, c.Value)));
            if (!await transaction.ExecuteAsync())
            {
                throw new InvalidOperationException("the Redis restore transaction did not run");
            }

            await Task.WhenAll(queued);
        }

        public async Task<bool> HoldsAsync(Dictionary<int, string> model, bool lastOnly)
        {
            var ids = lastOnly ? [LastChanged(model)] : model.Keys.ToArray();
            var names = await Task.WhenAll(ids.Select(id => Db.HashGetAsync($"{run}:items:{id}", "name")));
            var held = ids.Zip(names).Where(p => !p.Second.IsNull).ToDictionary(p => p.First, p => p.Second.ToString());
            return lastOnly ? LastHeld(model, held) : held.Count == model.Count && model.All(m => held.GetValueOrDefault(m.Key) == m.Value);
        }

        public async ValueTask DisposeAsync()
        {
            await Db.KeyDeleteAsync([.. await KeysAsync()]);
            await redis.DisposeAsync();
        }
    }

    /// <summary>The database file copied and put back with SQLite's online backup API, which writes the
    /// live file under a write transaction, so the run's open connection reads the older content from
    /// then on (https://www.sqlite.org/backup.html).</summary>
    private sealed class SqliteCopy(string path) : ISinkCopy
    {
        private string CopyPath => path + ".earlier";

        private static Microsoft.Data.Sqlite.SqliteConnection Open(string file)
        {
            var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={file};Pooling=False;Default Timeout=30");
            connection.Open();
            using var command = connection.CreateCommand();
            command.CommandText = "PRAGMA busy_timeout = 30000;";
            command.ExecuteNonQuery();
            return connection;
        }

        public Task SnapshotAsync()
        {
            using var live = Open(path);
            using var copy = Open(CopyPath);
            live.BackupDatabase(copy);
            return Task.CompletedTask;
        }

        public Task RestoreAsync()
        {
            using var copy = Open(CopyPath);
            using var live = Open(path);
            copy.BackupDatabase(live);
            return Task.CompletedTask;
        }

        public Task<bool> HoldsAsync(Dictionary<int, string> model, bool lastOnly)
        {
            var held = new Dictionary<int, string>();
            using var connection = Open(path);
            using var command = connection.CreateCommand();
            command.CommandText = "SELECT id, name FROM items";
            try
            {
                using var reader = command.ExecuteReader();
                while (reader.Read())
                {
                    held[Convert.ToInt32(reader.GetValue(0), CultureInfo.InvariantCulture)] = reader.GetString(1);
                }
            }
            catch (Microsoft.Data.Sqlite.SqliteException e) when (e.Message.Contains("no such table", StringComparison.Ordinal))
            {
                return Task.FromResult(false);
            }

            return Task.FromResult(lastOnly ? LastHeld(model, held) : held.Count == model.Count && model.All(m => held.GetValueOrDefault(m.Key) == m.Value));
        }

        public ValueTask DisposeAsync()
        {
            foreach (var file in new[] { path, CopyPath })
            {
                foreach (var suffix in new[] { string.Empty, "-wal", "-shm" })
                {
                    File.Delete(file + suffix);
                }
            }

            return ValueTask.CompletedTask;
        }
    }

    /// <summary>The fake cluster of tests/Sync.Testing in the benchmark process, its indices (the
    /// checkpoint index included) copied and put back, as a snapshot restore leaves them: the figure
    /// is sync's side of a heal, not a real cluster's indexing rate.</summary>
    private sealed class ElasticsearchCopy : ISinkCopy
    {
        private readonly Sync.Testing.Elasticsearch.FakeElasticsearch _fake = Sync.Testing.Elasticsearch.FakeElasticsearch.Start();
        private object? _copy;

        public string Url => _fake.Url.ToString();

        public Task SnapshotAsync()
        {
            _copy = _fake.TakeSnapshot();
            return Task.CompletedTask;
        }

        public Task RestoreAsync()
        {
            _fake.RestoreSnapshot(_copy!);
            return Task.CompletedTask;
        }

        public Task<bool> HoldsAsync(Dictionary<int, string> model, bool lastOnly)
        {
            var held = new Dictionary<int, string>();
            foreach (var source in _fake.Documents("items").Values)
            {
                var document = System.Text.Json.Nodes.JsonNode.Parse(source)!.AsObject();
                held[document["id"]!.GetValue<int>()] = document["name"]!.GetValue<string>();
            }

            return Task.FromResult(lastOnly ? LastHeld(model, held) : held.Count == model.Count && model.All(m => held.GetValueOrDefault(m.Key) == m.Value));
        }

        public ValueTask DisposeAsync() => _fake.DisposeAsync();
    }

    // The key changed last is the one whose name carries the highest lsn.
    private static int LastChanged(Dictionary<int, string> model) => model.MaxBy(m => long.Parse(m.Value.AsSpan(1), CultureInfo.InvariantCulture)).Key;

    private static bool LastHeld(Dictionary<int, string> model, Dictionary<int, string> held)
    {
        var last = LastChanged(model);
        return held.GetValueOrDefault(last) == model[last];
    }
}
