using System.Text.RegularExpressions;
using Snapshooter;
using Snapshooter.Xunit;
using StackExchange.Redis;
using Sync.Pulsar;

namespace Sync.Cli.Tests;

/// <summary><c>sync ledger verify</c> as an operator's scheduled job runs it: a subject erased from a
/// topic of the fake broker and three sinks (real PostgreSQL and Redis, a SQLite file), then brought
/// back behind sync's back — a row written straight into PostgreSQL and SQLite, a Redis backup
/// restored, a message published to the topic — is found per request and place, and
/// <c>--repair</c> removes it.</summary>
public sealed partial class LedgerVerifyTests : PulsarCliFixture
{
    private const string Topic = "persistent://public/default/shop.public.customers";
    private const string Subject = "2";

    private readonly string _schema = $"lv_{Guid.NewGuid():N}"[..16];
    private ConnectionMultiplexer _redis = null!;

    private static string Postgres => TestServers.Postgres;

    private static string Redis => TestServers.Redis;

    private IServer RedisServer => _redis.GetServer(_redis.GetEndPoints()[0]);

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        _redis = await ConnectionMultiplexer.ConnectAsync(Redis);
    }

    public override async Task DisposeAsync()
    {
        foreach (var key in RedisServer.Keys(pattern: $"{_schema}*"))
        {
            await _redis.GetDatabase().KeyDeleteAsync(key);
        }

        await _redis.DisposeAsync();
        await ExecuteAsync($"DROP SCHEMA IF EXISTS \"{_schema}\" CASCADE; DROP SCHEMA IF EXISTS \"{_schema}_sync\" CASCADE");
        await base.DisposeAsync();
    }

    private string WriteConfig() => Workspace.Write("sync.yaml", $$"""
        sources:
          broker: {{Broker.SourceYaml("compactionPollInterval: 20ms", "compactedReadIdle: 300ms")}}
        sinks:
          warehouse: { type: postgres, connectionString: '{{Postgres}}', tls: disable, schema: {{_schema}}, stateSchema: {{_schema}}_sync }
          cache: { type: redis, endpoints: ['{{Redis}}'], keyPrefix: '{{_schema}}:sync:' }
          local: { type: sqlite, path: local.db }
        materializers:
          customers: { source: broker, topics: ['{{Topic}}'], sink: warehouse, table: customers }
          customers-cache: { source: broker, topics: ['{{Topic}}'], sink: cache, table: customers, target: { keyTemplate: '{{_schema}}:customer:{id}' } }
          customers-local: { source: broker, topics: ['{{Topic}}'], sink: local, table: customers }
        subjects:
          customer:
            customers: { key: id }
            customers-cache: { key: id }
            customers-local: { key: id }
        erasure:
          secret: 'ledger-verify-test-secret-0123456789'
          compactionTimeout: 1m
        """);

    /// <summary>Customers 1 to 3 published and materialized into every sink; then customer 2 erased.</summary>
    private async Task<string> MaterializeAndEraseAsync()
    {
        await using (var producer = await Client.CreateProducerAsync(new ProducerOptions { Topic = Topic }))
        {
            for (var id = 1; id <= 3; id++)
            {
                await PublishAsync(producer, id.ToString(CultureInfo.InvariantCulture), "c", $"person-{id}", id);
            }
        }

        var config = WriteConfig();
        foreach (var materializer in new[] { "customers", "customers-cache", "customers-local" })
        {
            var backfill = await Workspace.Sync("backfill", "--config", config, "--materializer", materializer, "--no-progress");
            Assert.True(backfill.ExitCode == 0, backfill.ToString());
        }

        return config;
    }

    private async Task EraseAsync(string config)
    {
        var erase = await Workspace.Sync("erase", "--config", config, "--subject", "customer", "--key", Subject);
        // 3: the raw log keeps the subject's message until retention; every view and sink is clean.
        Assert.True(erase.ExitCode is 0 or 3, erase.ToString());
    }

    /// <summary>The subject comes back behind sync's back: a row written straight into PostgreSQL and
    /// SQLite (a copy of another customer's with the subject's id), every Redis key of the test as a
    /// backup taken before the erasure holds it, and a message of the subject published to the topic.</summary>
    private async Task BringBackAsync(Func<Task> erase, IReadOnlyList<(RedisKey Key, byte[] Dump)> backup)
    {
        await erase();
        await ExecuteAsync($"CREATE TEMP TABLE back AS SELECT * FROM \"{_schema}\".customers WHERE id = 1; UPDATE back SET id = {Subject}; INSERT INTO \"{_schema}\".customers SELECT * FROM back");
        await using (var sqlite = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={Workspace.File("local.db")};Pooling=false"))
        {
            await sqlite.OpenAsync();
            await using var insert = sqlite.CreateCommand();
            insert.CommandText = $"CREATE TEMP TABLE back AS SELECT * FROM customers WHERE id = 1; UPDATE back SET id = {Subject}; INSERT INTO customers SELECT * FROM back";
            await insert.ExecuteNonQueryAsync();
        }

        foreach (var (key, dump) in backup)
        {
            await _redis.GetDatabase().ExecuteAsync("RESTORE", key, 0, dump, "REPLACE");
        }

        await using var producer = await Client.CreateProducerAsync(new ProducerOptions { Topic = Topic });
        await PublishAsync(producer, Subject, "c", "person-2-again", 100);
    }

    private async Task<List<(RedisKey Key, byte[] Dump)>> BackupRedisAsync()
    {
        var backup = new List<(RedisKey, byte[])>();
        foreach (var key in RedisServer.Keys(pattern: $"{_schema}*"))
        {
            backup.Add((key, (byte[])(await _redis.GetDatabase().KeyDumpAsync(key))!));
        }

        return backup;
    }

    [Fact]
    public async Task LedgerVerify_finds_a_subject_brought_back_in_every_sink_and_topic_and_repair_removes_it()
    {
        var config = await MaterializeAndEraseAsync();
        var backup = await BackupRedisAsync();
        await BringBackAsync(() => EraseAsync(config), backup);

        var found = await Workspace.Sync("ledger", "verify", "--config", config, "--json");

        Assert.True(found.ExitCode == 3, found.ToString());
        var result = JsonDocument.Parse(found.Output).RootElement;
        Assert.Equal(1, result.GetProperty("activeRequests").GetInt64());
        var residue = Assert.Single(result.GetProperty("residue").EnumerateArray());
        Assert.Equal("customer", residue.GetProperty("subject").GetString());
        Assert.Matches("^[0-9a-f]{32}$", residue.GetProperty("requestId").GetString());
        var places = residue.GetProperty("places").EnumerateArray()
            .Select(p => $"{p.GetProperty("materializer").GetString()} {p.GetProperty("kind").GetString()} {p.GetProperty("where").GetString()} {p.GetProperty("count").GetInt64()}")
            .ToList();
        Assert.Equal(
            [
                "customers sink sink warehouse, table customers 1",
                $"customers topic topic {Topic} 1",
                "customers-cache sink sink cache, table customers 1",
                $"customers-cache topic topic {Topic} 1",
                "customers-local sink sink local, table customers 1",
                $"customers-local topic topic {Topic} 1",
            ],
            places);
        Assert.DoesNotContain("person-2", found.Output, StringComparison.Ordinal);

        var repaired = await Workspace.Sync("ledger", "verify", "--config", config, "--repair", "--json");

        Assert.True(repaired.ExitCode == 0, repaired.ToString());
        var repair = JsonDocument.Parse(repaired.Output).RootElement;
        var erasure = Assert.Single(repair.GetProperty("repairs").EnumerateArray());
        Assert.Equal(1, erasure.GetProperty("keys").GetInt32());
        Assert.Equal(residue.GetProperty("requestId").GetString(), Assert.Single(erasure.GetProperty("requestIds").EnumerateArray()).GetString());
        Assert.Empty(repair.GetProperty("afterRepair").GetProperty("residue").EnumerateArray());
        Assert.Equal(0, await CountAsync($"SELECT count(*) FROM \"{_schema}\".customers WHERE id = {Subject}"));
        Assert.Equal(2, await CountAsync($"SELECT count(*) FROM \"{_schema}\".customers"));

        var again = await Workspace.Sync("ledger", "verify", "--config", config);

        Assert.True(again.ExitCode == 0, again.ToString());
        Assert.Contains("verdict: clean", again.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task LedgerVerify_finds_a_dead_letter_of_the_subject_restored_after_its_erasure_and_repair_deletes_it()
    {
        const string Users = "shop.public.users";
        await ExecuteAsync($"CREATE SCHEMA \"{_schema}\"; CREATE TABLE \"{_schema}\".users (id bigint PRIMARY KEY, name text)");
        Workspace.Write("data/users.jsonl", string.Join('\n',
            $$$"""{"topic":"{{{Users}}}","key":{"id":1},"value":{"id":1,"name":"a"}}""",
            $$$"""{"topic":"{{{Users}}}","key":{"id":2},"value":{"id":2,"name":"b","email":"b@example.org"}}""") + "\n");
        var config = Workspace.Write("sync.yaml", $$"""
            sources:
              changelog: { type: file, path: data/users.jsonl }
            sinks:
              target: { type: postgres, connectionString: '{{Postgres}}', tls: disable, schema: {{_schema}}, stateSchema: {{_schema}}_sync }
            materializers:
              users: { source: changelog, topics: ['{{Users}}'], sink: target, table: users, format: json, deadLetterTarget: table, target: { schemaEvolution: none } }
            subjects:
              customer:
                users: { key: id }
            erasure:
              secret: 'ledger-verify-test-secret-0123456789'
            """);
        // The table has no email column and may not evolve: customer 2's change becomes a dead letter.
        var run = await Workspace.Sync("run", "--config", config);
        Assert.True(run.ExitCode == 3, run.ToString());
        await ExecuteAsync($"CREATE TABLE \"{_schema}\".letters_backup AS SELECT * FROM \"{_schema}_sync\".dead_letters");
        await EraseAsync(config);
        Assert.Equal(0, await CountAsync($"SELECT count(*) FROM \"{_schema}_sync\".dead_letters"));
        await ExecuteAsync($"INSERT INTO \"{_schema}_sync\".dead_letters OVERRIDING SYSTEM VALUE SELECT * FROM \"{_schema}\".letters_backup");

        var found = await Workspace.Sync("ledger", "verify", "--config", config, "--json");

        Assert.True(found.ExitCode == 3, found.ToString());
        var place = Assert.Single(Assert.Single(JsonDocument.Parse(found.Output).RootElement.GetProperty("residue").EnumerateArray()).GetProperty("places").EnumerateArray());
        Assert.Equal("dead-letters", place.GetProperty("kind").GetString());
        Assert.Contains("dead_letters", place.GetProperty("where").GetString(), StringComparison.Ordinal);
        Assert.Equal(1, place.GetProperty("count").GetInt64());
        Assert.DoesNotContain("b@example.org", found.Output, StringComparison.Ordinal);

        var repaired = await Workspace.Sync("ledger", "verify", "--config", config, "--repair");

        Assert.True(repaired.ExitCode == 0, repaired.ToString());
        Assert.Equal(0, await CountAsync($"SELECT count(*) FROM \"{_schema}_sync\".dead_letters"));
    }

    [Fact]
    public async Task LedgerVerify_of_a_clean_ledger_is_clean_and_names_every_place_swept()
    {
        var config = await MaterializeAndEraseAsync();
        await EraseAsync(config);

        var result = await Workspace.Sync("ledger", "verify", "--config", config, "--json");

        Assert.True(result.ExitCode == 0, result.ToString());
        var swept = JsonDocument.Parse(result.Output).RootElement.GetProperty("swept").EnumerateArray()
            .ToDictionary(p => $"{p.GetProperty("materializer").GetString()} {p.GetProperty("where").GetString()}", p => p.GetProperty("items").GetInt64());
        Assert.Equal(2, swept["customers sink warehouse, table customers"]);
        Assert.Equal(2, swept["customers-cache sink cache, table customers"]);
        Assert.Equal(2, swept["customers-local sink local, table customers"]);
        Assert.Equal(2, swept[$"customers topic {Topic}"]);
    }

    [Fact]
    public async Task LedgerVerify_text_output_lists_residue_per_request_and_place()
    {
        var config = await MaterializeAndEraseAsync();
        var backup = await BackupRedisAsync();
        await BringBackAsync(() => EraseAsync(config), backup);

        var result = await Workspace.Sync("ledger", "verify", "--config", config, "--materializer", "customers", "--materializer", "customers-local");

        Assert.True(result.ExitCode == 3, result.ToString());
        Snapshot.Match(Normalized(result.Output));
    }

    [Fact]
    public async Task LedgerVerify_of_an_unknown_materializer_is_a_usage_error()
    {
        var config = WriteConfig();
        var result = await Workspace.Sync("ledger", "verify", "--config", config, "--materializer", "nobody");

        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Contains("--materializer nobody is not configured", result.Error, StringComparison.Ordinal);
    }

    private string Normalized(string output) =>
        RequestId().Replace(output.Replace(Workspace.Directory, "<workspace>", StringComparison.Ordinal), "<request>");

    [GeneratedRegex("[0-9a-f]{32}")]
    private static partial Regex RequestId();

    private static Task ExecuteAsync(string sql) => PostgresQueries.ExecuteAsync(sql);

    private static Task<long> CountAsync(string sql) => PostgresQueries.ScalarAsync(sql);
}
