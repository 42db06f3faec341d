using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Npgsql;
using StackExchange.Redis;
using Sync.Pulsar.Protocol.Proto;
using Sync.Testing;
using Sync.Testing.Elasticsearch;
using Sync.Testing.Process;
using Sync.Testing.Pulsar;
using YamlDotNet.RepresentationModel;

namespace Sync.Deployment.Tests;

/// <summary>compose/sync.yaml rehearsed without Docker: the config as written, with only its
/// addresses and file paths pointed at what runs here — the fake Pulsar broker (in place of
/// Pulsar standalone), a real PostgreSQL and a real Redis (SYNC_TEST_POSTGRES, SYNC_TEST_REDIS from
/// ./scripts/test.sh), and the Elasticsearch fake with the compose file's basic authentication. The
/// messages are what the compose file's Debezium source writes for the seeded tables: with
/// json-with-envelope, KeyValue INLINE records (key and value with their schema inside the payload,
/// the key's base64 text as message key, the topic's KEY_VALUE schema version on each message),
/// deletes as op=d without tombstones. The walkthrough of compose/README.md runs as real CLI processes.</summary>
public sealed class ComposeRehearsalTests : IAsyncLifetime
{
    private const string EsPassword = "rehearsal-elastic";
    private const int RedisDatabase = 11;

    private readonly string _work = Directory.CreateTempSubdirectory("sync-compose-").FullName;
    private readonly string _database = $"compose_rehearsal_{Guid.NewGuid():N}"[..30];
    private readonly ConcurrentQueue<string> _runOutput = new();
    private FakePulsarBroker _broker = null!;
    private FakeElasticsearch _elasticsearch = null!;
    private ConnectionMultiplexer _redis = null!;
    private string _postgres = null!;
    private string _config = null!;
    private long _lsn = 1000;

    private static string AdminPostgres => TestServers.Postgres;

    private static string RedisEndpoint => TestServers.Redis;

    private IDatabase Redis => _redis.GetDatabase(RedisDatabase);

    private Dictionary<string, string> Environment_ => new()
    {
        ["SYNC_PG_PASSWORD"] = "unused-with-trust-auth",
        ["SYNC_ES_PASSWORD"] = EsPassword,
        ["SYNC_ERASURE_SECRET"] = "rehearsal-erasure-secret-0123456789",
    };

    public async Task InitializeAsync()
    {
        _broker = FakePulsarBroker.Start();
        _elasticsearch = FakeElasticsearch.Start(new FakeElasticsearchOptions { RequiredBasicAuth = ("elastic", EsPassword) });
        await using (var admin = new NpgsqlConnection(AdminPostgres))
        {
            await admin.OpenAsync();
            await using var create = new NpgsqlCommand($"CREATE DATABASE {_database}", admin);
            await create.ExecuteNonQueryAsync();
        }

        _postgres = new NpgsqlConnectionStringBuilder(AdminPostgres) { Database = _database }.ConnectionString;
        _redis = await ConnectionMultiplexer.ConnectAsync($"{RedisEndpoint},allowAdmin=true");
        await _redis.GetServers()[0].FlushDatabaseAsync(RedisDatabase);
        _config = WriteRehearsalConfig();
    }

    public async Task DisposeAsync()
    {
        await _redis.GetServers()[0].FlushDatabaseAsync(RedisDatabase);
        await _redis.DisposeAsync();
        NpgsqlConnection.ClearAllPools();
        await using (var admin = new NpgsqlConnection(AdminPostgres))
        {
            await admin.OpenAsync();
            await using var drop = new NpgsqlCommand($"DROP DATABASE IF EXISTS {_database} WITH (FORCE)", admin);
            await drop.ExecuteNonQueryAsync();
        }

        await _elasticsearch.DisposeAsync();
        await _broker.DisposeAsync();
        Directory.Delete(_work, recursive: true);
    }

    [Fact]
    public async Task The_walkthrough_materializes_both_tenants_follows_changes_and_erases_a_customer_everywhere()
    {
        // Debezium's snapshot of the seed (source-postgres/seed.psql).
        PublishUser("tenant_acme", "r", 1001, "ada@acme.example", "Ada Lovelace", "GB");
        PublishUser("tenant_acme", "r", 1002, "grace@acme.example", "Grace Hopper", "US");
        PublishUser("tenant_globex", "r", 2001, "linus@globex.example", "Linus Torvalds", "FI");
        PublishUser("tenant_globex", "r", 2002, "barbara@globex.example", "Barbara Liskov", "US");
        PublishOrder("tenant_acme", "r", 5001, 1001, 12050);
        PublishOrder("tenant_acme", "r", 5002, 1001, 999);
        PublishOrder("tenant_acme", "r", 5003, 1002, 4500);
        PublishOrder("tenant_globex", "r", 6001, 2001, 30000);
        PublishOrder("tenant_globex", "r", 6002, 2002, 1234);

        using var run = StartRun();
        try
        {
            await Eventually(() => Count("users") == 4 && Count("orders") == 5
                && _elasticsearch.Documents("orders-tenant_acme").Count == 3 && _elasticsearch.Documents("orders-tenant_globex").Count == 2
                && Redis.KeyExists("tenant_acme:user:1001") && Redis.KeyExists("tenant_acme:user:1002")
                && Redis.KeyExists("tenant_globex:user:2001") && Redis.KeyExists("tenant_globex:user:2002"));

            // Step 1: the snapshot in every sink, the tenants apart, numeric(10,2) exact.
            Assert.Equal("Ada Lovelace", Scalar("SELECT name FROM users WHERE tenant = 'tenant_acme' AND id = 1001"));
            Assert.Equal("120.50", Scalar("SELECT total::text FROM orders WHERE tenant = 'tenant_acme' AND id = 5001"));
            Assert.Equal("ada@acme.example", (string?)Redis.HashGet("tenant_acme:user:1001", "email"));
            Assert.Contains((RedisValue)"tenant_acme:user:1001", Redis.SetMembers("users:by_email:ada@acme.example"));
            Assert.Equal(["orders"], _elasticsearch.Aliases("orders-tenant_acme"));

            // Steps 2-4: insert, update, delete in the source.
            PublishUser("tenant_acme", "c", 1003, "alan@acme.example", "Alan Turing", "GB");
            PublishUser("tenant_acme", "u", 1003, "alan.turing@acme.example", "Alan Turing", "US");
            PublishOrder("tenant_acme", "c", 5004, 1003, 4200);
            PublishOrder("tenant_acme", "d", 5004, 1003, 4200);
            await Eventually(() => Scalar("SELECT country FROM users WHERE tenant = 'tenant_acme' AND id = 1003") as string == "US"
                && Redis.SetMembers("users:by_email:alan.turing@acme.example").Length == 1
                && (long)Scalar("SELECT count(*) FROM sync.delete_markers")! >= 1);
            Assert.Empty(Redis.SetMembers("users:by_email:alan@acme.example"));
            Assert.Equal(0L, Scalar("SELECT count(*) FROM orders WHERE id = 5004"));

            // Step 5: Ada is deleted in the source (her orders by the cascade), then erased.
            PublishOrder("tenant_acme", "d", 5001, 1001, 12050);
            PublishOrder("tenant_acme", "d", 5002, 1001, 999);
            PublishUser("tenant_acme", "d", 1001, "ada@acme.example", "Ada Lovelace", "GB");
            await Eventually(() => Count("users") == 4 && Count("orders") == 3 && !Redis.KeyExists("tenant_acme:user:1001")
                && _elasticsearch.Documents("orders-tenant_acme").Count == 1);
            // Order 5004 came and went before Ada's orders were deleted: only Grace's order is left.
            Assert.Contains("\"id\":5003", Assert.Single(_elasticsearch.Documents("orders-tenant_acme").Values), StringComparison.Ordinal);

            var report = Path.Combine(_work, "erasure-1001.json");
            var erase = await SyncProcess.RunWithEnvironmentAsync(_work, Environment_,
                "erase", "--config", _config, "--subject", "customer", "--key", "1001", "--requested-by", "dpo@example.com", "--report", report);
            var json = JsonNode.Parse(await File.ReadAllTextAsync(report))!;
            var topics = json["topics"]!.AsArray();
            var residue = topics.Sum(t => (long)t!["rawResidue"]!);

            Assert.True(erase.ExitCode == (residue > 0 ? 3 : 0), erase.ToString());
            Assert.Equal(
                ["persistent://public/default/db1.tenant_acme.orders", "persistent://public/default/db1.tenant_acme.users"],
                topics.Select(t => (string)t!["topic"]!).Order(StringComparer.Ordinal));
            Assert.All(topics, t => Assert.Equal("SUCCESS", (string)t!["compaction"]!));
            Assert.All(topics, t => Assert.Equal(0L, (long)t!["compactedViewMatches"]!));
            Assert.Equal(4, json["sinks"]!.AsArray().Count);
            Assert.All(json["sinks"]!.AsArray(), s => Assert.Equal(0L, (long)s!["remaining"]!));
            var reportText = await File.ReadAllTextAsync(report) + erase.Output;
            Assert.DoesNotContain("ada@acme.example", reportText, StringComparison.Ordinal);
            Assert.DoesNotContain("Lovelace", reportText, StringComparison.Ordinal);

            // Her id comes back in the source: it stays out of every sink (the erasure left a marker
            // newer than any change of the key). Changes published after it on the same topics
            // (Grace's update, a new order) show that the run has read past it and past the
            // erasure's tombstones.
            PublishUser("tenant_acme", "c", 1001, "ada.again@acme.example", "Ada Again", "GB");
            PublishUser("tenant_acme", "u", 1002, "grace@acme.example", "Grace Brewster Hopper", "US");
            PublishOrder("tenant_acme", "c", 5006, 1002, 700);
            await Eventually(() => Scalar("SELECT name FROM users WHERE tenant = 'tenant_acme' AND id = 1002") as string == "Grace Brewster Hopper"
                && (string?)Redis.HashGet("tenant_acme:user:1002", "name") == "Grace Brewster Hopper"
                && (long)Scalar("SELECT count(*) FROM orders WHERE id = 5006")! == 1
                && _elasticsearch.Documents("orders-tenant_acme").Values.Any(d => d.Contains("\"id\":5006", StringComparison.Ordinal)));
            Assert.Equal(0L, Scalar("SELECT count(*) FROM users WHERE tenant = 'tenant_acme' AND id = 1001"));
            Assert.Equal(0L, Scalar("SELECT count(*) FROM orders WHERE user_id = 1001"));
            Assert.False(Redis.KeyExists("tenant_acme:user:1001"));
            Assert.DoesNotContain(_elasticsearch.Documents("orders-tenant_acme").Values, d => d.Contains("\"user_id\":1001", StringComparison.Ordinal));
        }
        catch (Exception e)
        {
            await StopAsync(run);
            throw new Xunit.Sdk.XunitException($"{e.Message}\nsync run printed, up to its summary:\n{string.Join('\n', _runOutput)}", e);
        }

        await StopAsync(run);

        // sync status after a clean stop: every materializer has caught up with every topic it reads.
        var status = await SyncProcess.RunWithEnvironmentAsync(_work, Environment_, "status", "--config", _config, "--json");
        Assert.True(status.ExitCode == 0, status.ToString());
        var rows = JsonNode.Parse(status.Output)!.AsArray();
        Assert.Equal(8, rows.Count);
        Assert.All(rows, r => Assert.Equal((string?)r!["last"], (string?)r!["checkpoint"]));
        Assert.All(rows, r => Assert.Equal(0L, (long)r!["deadLetters"]!));

        // Step 6: a backfill replays the raw log, which still holds Ada's messages: the ledger
        // suppresses them (by key in users, by user_id in orders), and nothing of hers comes back.
        foreach (var materializer in new[] { "users", "orders" })
        {
            var backfill = await SyncProcess.RunWithEnvironmentAsync(_work, Environment_, "backfill", "--config", _config, "--materializer", materializer);
            Assert.True(backfill.ExitCode == 0, backfill.ToString());
            var counters = SummaryRow(backfill.Output, materializer);
            Assert.True(counters["suppressed"] > 0, backfill.Output);
            Assert.Equal(0L, counters["dead-lettered"]);
        }

        Assert.Equal(0L, Scalar("SELECT count(*) FROM users WHERE id = 1001"));
        Assert.Equal(0L, Scalar("SELECT count(*) FROM orders WHERE user_id = 1001"));
        Assert.Equal(4L, Count("users"));
    }

    /// <summary>compose/sync.yaml with only the addresses and the written file paths replaced.</summary>
    private string WriteRehearsalConfig()
    {
        var stream = new YamlStream();
        using (var reader = new StreamReader(new ComposeStack().SyncConfigPath))
        {
            stream.Load(reader);
        }

        var root = (YamlMappingNode)stream.Documents[0].RootNode;
        var pulsar = root.Map("sources").Map("pulsar");
        pulsar.Children[new YamlScalarNode("serviceUrl")] = new YamlScalarNode(_broker.ServiceUrl.ToString().TrimEnd('/'));
        pulsar.Children[new YamlScalarNode("adminUrl")] = new YamlScalarNode(_broker.AdminUrl.ToString().TrimEnd('/'));
        // The fake compacts at once: short polls keep the erase quick.
        pulsar.Children[new YamlScalarNode("compactionPollInterval")] = new YamlScalarNode("20ms");
        pulsar.Children[new YamlScalarNode("compactedReadIdle")] = new YamlScalarNode("300ms");
        pulsar.Children[new YamlScalarNode("patternDiscoveryInterval")] = new YamlScalarNode("200ms");

        var sinks = root.Map("sinks");
        var warehouse = sinks.Map("warehouse");
        var original = ComposeStack.ConnectionString(warehouse.Text("connectionString"));
        var local = new NpgsqlConnectionStringBuilder(_postgres);
        warehouse.Children[new YamlScalarNode("connectionString")] = new YamlScalarNode(
            $"Host={local.Host};Port={local.Port};Database={_database};Username={local.Username}");
        Assert.Equal("sync", original["username"]);

        var cache = sinks.Map("cache");
        cache.Children[new YamlScalarNode("endpoints")] = new YamlSequenceNode(new YamlScalarNode(RedisEndpoint));
        cache.Children.Remove(new YamlScalarNode("password"));   // the test server has none
        cache.Children[new YamlScalarNode("database")] = new YamlScalarNode(RedisDatabase.ToString(CultureInfo.InvariantCulture));

        sinks.Map("search").Children[new YamlScalarNode("urls")] = new YamlSequenceNode(new YamlScalarNode(_elasticsearch.Url.ToString().TrimEnd('/')));

        foreach (var (name, materializer) in root.Map("materializers").Children)
        {
            ((YamlMappingNode)materializer).Children[new YamlScalarNode("deadLetter")] =
                new YamlScalarNode(Path.Combine(_work, "dead-letters", ((YamlScalarNode)name).Value + ".jsonl"));
        }

        root.Map("erasure").Children[new YamlScalarNode("ledger")] = new YamlScalarNode(Path.Combine(_work, "ledger.db"));

        var path = Path.Combine(_work, "sync.yaml");
        using (var writer = new StreamWriter(path))
        {
            stream.Save(writer, assignAnchors: false);
        }

        return path;
    }

    /// <summary>Waits for the running CLI to get the sinks into a state; a sink table that does not
    /// exist yet counts as not there. On timeout, fails with what the run printed.</summary>
    private async Task Eventually(Func<bool> condition)
    {
        try
        {
            await Poll.UntilAsync(() =>
            {
                try
                {
                    return condition();
                }
                catch (PostgresException e) when (e.SqlState is PostgresErrorCodes.UndefinedTable or PostgresErrorCodes.InvalidSchemaName)
                {
                    return false;
                }
            }, TimeSpan.FromSeconds(60));
        }
        catch (TimeoutException e)
        {
            throw new Xunit.Sdk.XunitException($"{e.Message}; sinks: {Describe()}");
        }
    }

    private string Describe()
    {
        string Safe(Func<object?> read)
        {
            try
            {
                return read()?.ToString() ?? "null";
            }
            catch (Exception e) when (e is NpgsqlException or RedisException)
            {
                return e.Message;
            }
        }

        return $"users {Safe(() => Count("users"))}, orders {Safe(() => Count("orders"))} ({Safe(() => Scalar("SELECT string_agg(tenant || '/' || id || '/' || user_id || '/' || _sync_version::text, ' ') FROM orders"))}), "
            + $"es {string.Join(",", _elasticsearch.IndexNames.Select(i => $"{i}={_elasticsearch.Documents(i).Count}"))}, "
            + $"redis {Safe(() => _redis.GetServers()[0].DatabaseSize(RedisDatabase))} keys, topics {string.Join(",", _broker.TopicNames)}"
            + string.Concat(Directory.Exists(Path.Combine(_work, "dead-letters"))
                ? Directory.GetFiles(Path.Combine(_work, "dead-letters")).Select(f => $"; {Path.GetFileName(f)}: {File.ReadAllText(f)}")
                : []);
    }

    /// <summary>Stops the run as `docker stop` would (SIGTERM): the batch in hand is applied and checkpointed.</summary>
    private static async Task StopAsync(System.Diagnostics.Process run)
    {
        if (!run.HasExited)
        {
            using var kill = System.Diagnostics.Process.Start("kill", ["-TERM", run.Id.ToString(CultureInfo.InvariantCulture)]);
            await kill.WaitForExitAsync();
        }

        using var patience = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        try
        {
            await run.WaitForExitAsync(patience.Token);
        }
        catch (OperationCanceledException)
        {
            run.Kill(entireProcessTree: true);
            throw new Xunit.Sdk.XunitException("sync run did not stop on SIGTERM");
        }
    }

    private System.Diagnostics.Process StartRun()
    {
        var process = SyncProcess.Start(_work, Environment_, "run", "--config", _config, "--log-level", "Information");
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) { _runOutput.Enqueue(e.Data); } };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) { _runOutput.Enqueue(e.Data); } };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    private void PublishUser(string tenant, string op, long id, string email, string name, string country)
    {
        var row = new JsonObject { ["id"] = id, ["email"] = email, ["name"] = name, ["country"] = country, ["created_at"] = "2025-06-02T09:00:00.000000Z" };
        var columns = new JsonArray(
            Column("int64", "id", optional: false),
            Column("string", "email", optional: false),
            Column("string", "name", optional: false),
            Column("string", "country", optional: true),
            Column("string", "created_at", optional: false, name: "io.debezium.time.ZonedTimestamp"));
        Publish(tenant, "users", op, id, row, columns);
    }

    private void PublishOrder(string tenant, string op, long id, long userId, long cents)
    {
        var unscaled = System.Numerics.BigInteger.Parse(cents.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture).ToByteArray(isUnsigned: false, isBigEndian: true);
        var row = new JsonObject { ["id"] = id, ["user_id"] = userId, ["total"] = Convert.ToBase64String(unscaled), ["status"] = "placed", ["placed_at"] = "2025-06-02T09:00:00.000000Z" };
        var total = Column("bytes", "total", optional: false, name: "org.apache.kafka.connect.data.Decimal");
        total["version"] = 1;
        total["parameters"] = new JsonObject { ["scale"] = "2", ["connect.decimal.precision"] = "10" };
        var columns = new JsonArray(
            Column("int64", "id", optional: false),
            Column("int64", "user_id", optional: false),
            total,
            Column("string", "status", optional: false),
            Column("string", "placed_at", optional: false, name: "io.debezium.time.ZonedTimestamp"));
        Publish(tenant, "orders", op, id, row, columns);
    }

    /// <summary>One change as Pulsar IO's Debezium source publishes it with json-with-envelope: true.</summary>
    private void Publish(string schema, string table, string op, long id, JsonObject row, JsonArray columns)
    {
        var lsn = Interlocked.Add(ref _lsn, 8);
        var name = $"db1.{schema}.{table}";
        var envelope = new JsonObject
        {
            ["schema"] = new JsonObject
            {
                ["type"] = "struct",
                ["name"] = name + ".Envelope",
                ["optional"] = false,
                ["fields"] = new JsonArray(
                    new JsonObject { ["type"] = "struct", ["fields"] = columns.DeepClone(), ["optional"] = true, ["name"] = name + ".Value", ["field"] = "before" },
                    new JsonObject { ["type"] = "struct", ["fields"] = columns.DeepClone(), ["optional"] = true, ["name"] = name + ".Value", ["field"] = "after" },
                    new JsonObject
                    {
                        ["type"] = "struct", ["optional"] = false, ["name"] = "io.debezium.connector.postgresql.Source", ["field"] = "source",
                        ["fields"] = new JsonArray(
                            Column("string", "connector", optional: false), Column("string", "name", optional: false),
                            Column("string", "db", optional: false), Column("string", "schema", optional: false),
                            Column("string", "table", optional: false), Column("int64", "lsn", optional: true), Column("int64", "ts_ms", optional: false)),
                    },
                    Column("string", "op", optional: false),
                    Column("int64", "ts_ms", optional: true)),
            },
            ["payload"] = new JsonObject
            {
                ["before"] = op is "d" ? row.DeepClone() : null,
                ["after"] = op is "d" ? null : row.DeepClone(),
                ["source"] = new JsonObject { ["connector"] = "postgresql", ["name"] = "db1", ["db"] = "shop", ["schema"] = schema, ["table"] = table, ["lsn"] = lsn, ["ts_ms"] = 1748854800000 },
                ["op"] = op,
                ["ts_ms"] = 1748854800000,
            },
        };
        // json-with-envelope: true wraps the key too (KafkaConnectSource.open sets schemas.enable for
        // both converters), and the record goes out as KeyValue INLINE under the topic's KEY_VALUE
        // schema: payload [key length][key][value length][value] (KeyValue.encode), message key =
        // base64 text of the key, not flagged (PulsarSink, TypedMessageBuilderImpl.key).
        var key = new JsonObject
        {
            ["schema"] = new JsonObject
            {
                ["type"] = "struct",
                ["fields"] = new JsonArray(Column("int64", "id", optional: false)),
                ["optional"] = false,
                ["name"] = name + ".Key",
            },
            ["payload"] = new JsonObject { ["id"] = id },
        };
        var keyBytes = Encoding.UTF8.GetBytes(key.ToJsonString());
        var topic = $"persistent://public/default/{name}";
        var schemaVersion = _broker.AddSchema(topic, Sync.Pulsar.PulsarSchema.KeyValueOfBytes(Sync.Pulsar.KeyValueEncodingType.Inline));
        var metadata = new MessageMetadata
        {
            ProducerName = "debezium-postgres-source",
            SequenceId = (ulong)lsn,
            PublishTime = 1748854800000,
            PartitionKey = Convert.ToBase64String(keyBytes),
            SchemaVersion = Google.Protobuf.ByteString.CopyFrom(VersionBytes(schemaVersion)),
        };
        _broker.Publish(topic, metadata, Sync.Engine.Sources.KeyValuePayload.EncodeInline(keyBytes, false, Encoding.UTF8.GetBytes(envelope.ToJsonString()), false));
    }

    /// <summary>A schema version as the broker's default storage names it: 8 big-endian bytes (LongSchemaVersion).</summary>
    private static byte[] VersionBytes(long version)
    {
        var bytes = new byte[8];
        System.Buffers.Binary.BinaryPrimitives.WriteInt64BigEndian(bytes, version);
        return bytes;
    }

    private static JsonObject Column(string type, string field, bool optional, string? name = null)
    {
        var column = new JsonObject { ["type"] = type, ["optional"] = optional, ["field"] = field };
        if (name is not null)
        {
            column["name"] = name;
            column["version"] = 1;
        }

        return column;
    }

    private long Count(string table) => (long)(Scalar($"SELECT count(*) FROM {table}") ?? 0L);

    private object? Scalar(string sql)
    {
        using var connection = new NpgsqlConnection(_postgres);
        connection.Open();
        using var command = new NpgsqlCommand(sql, connection);
        return command.ExecuteScalar() is { } value and not DBNull ? value : null;
    }

    /// <summary>The counters of one materializer's line of the summary table.</summary>
    private static Dictionary<string, long> SummaryRow(string output, string materializer)
    {
        var lines = output.Split('\n', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        var header = lines.First(l => l.StartsWith("materializer", StringComparison.Ordinal)).Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var row = lines.First(l => l.StartsWith(materializer + " ", StringComparison.Ordinal)).Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var counters = new Dictionary<string, long>(StringComparer.Ordinal);
        for (var i = 0; i < header.Length && i < row.Length; i++)
        {
            if (long.TryParse(row[i], NumberStyles.None, CultureInfo.InvariantCulture, out var value))
            {
                counters[header[i]] = value;
            }
        }

        return counters;
    }
}
