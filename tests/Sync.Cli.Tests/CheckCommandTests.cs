using Npgsql;
using Snapshooter.Xunit;
using Sync.Pulsar;
using Sync.Sinks.Tests.Redis;
using Sync.Testing.Elasticsearch;
using Sync.Testing.Pulsar;

namespace Sync.Cli.Tests;

/// <summary><c>sync check</c> through the real CLI against a changelog file, real PostgreSQL and
/// Redis servers (SYNC_TEST_POSTGRES, SYNC_TEST_REDIS, and a Redis of the test's own), the fake
/// Pulsar broker and the Elasticsearch fake: each with a setting that a run would trip over.</summary>
public sealed class CheckCommandTests : IAsyncLifetime
{
    private const string Topic = "persistent://public/default/db1.public.customers";
    private readonly Workspace _workspace = new();
    private readonly string _suffix = Guid.NewGuid().ToString("N")[..8];

    private static string Postgres => TestServers.Postgres;

    private static string Redis => TestServers.Redis;

    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync()
    {
        _workspace.Dispose();
        return Task.CompletedTask;
    }

    private string Config(string source, string sink, string materializer = "table: customers") =>
        _workspace.Write($"sync-{Guid.NewGuid():N}.yaml", $$"""
            sources:
              {{source}}
            sinks:
              {{sink}}
            materializers:
              customers: { source: src, topics: ['{{Topic}}'], sink: dst, {{materializer}} }
            """);

    private string FileSource()
    {
        _workspace.Write("data/changelog.jsonl", "{\"topic\":\"" + Topic + "\",\"key\":{\"id\":1},\"value\":{\"id\":1}}\n");
        return "src: { type: file, path: data/changelog.jsonl }";
    }

    private string Normalized(string output) => output.Replace(_workspace.Directory, "<workspace>", StringComparison.Ordinal);

    [Fact]
    public async Task A_missing_changelog_file_is_an_error_that_names_the_key_to_fix()
    {
        var config = Config("src: { type: file, path: data/missing.jsonl }", "dst: { type: sqlite, path: out.db }");

        var result = await _workspace.Sync("check", "--config", config);

        Assert.True(result.ExitCode == 3, result.ToString());
        Assert.Contains("ERROR    file:", result.Output, StringComparison.Ordinal);
        Assert.Contains("missing.jsonl does not exist", result.Output, StringComparison.Ordinal);
        Assert.Contains("do: fix sources.src.path", result.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_text_report_lists_each_component_with_its_findings_and_what_to_do()
    {
        // Security on, and the role may write but not create or manage the target index.
        await using var search = FakeElasticsearch.Start(new FakeElasticsearchOptions
        {
            RequiredApiKey = "c2VjcmV0",
            GrantedIndexPrivileges = new Dictionary<string, string[]>
            {
                ["sync-checkpoints"] = ["all"],
                ["customers"] = ["read", "write"],
            },
        });
        var config = Config(FileSource(), $"dst: {{ type: elasticsearch, urls: ['{search.Url}'], apiKey: c2VjcmV0 }}");

        var result = await _workspace.Sync("check", "--config", config);

        Assert.True(result.ExitCode == 3, result.ToString());
        Snapshot.Match(Normalized(result.Output));
    }

    [Fact]
    public async Task Elasticsearch_without_security_is_a_warning_and_an_unreachable_one_an_error()
    {
        await using var search = FakeElasticsearch.Start();
        var open = await _workspace.Sync("check", "--config", Config(FileSource(), $"dst: {{ type: elasticsearch, urls: ['{search.Url}'] }}"), "--json");
        var gone = await _workspace.Sync("check", "--config", Config(FileSource(), $"dst: {{ type: elasticsearch, urls: ['http://127.0.0.1:{LoopbackPort.Unused()}'] }}"));
        await using var secured = FakeElasticsearch.Start(new FakeElasticsearchOptions { RequiredApiKey = "c2VjcmV0" });
        var refused = await _workspace.Sync("check", "--config", Config(FileSource(), $"dst: {{ type: elasticsearch, urls: ['{secured.Url}'], apiKey: d3Jvbmc= }}"));

        Assert.True(open.ExitCode == 0, open.ToString());
        var sink = JsonDocument.Parse(open.Output).RootElement.GetProperty("components")[1];
        Assert.Equal("elasticsearch", sink.GetProperty("type").GetString());
        var findings = sink.GetProperty("findings").EnumerateArray().ToList();
        Assert.Contains(findings, f => f.GetProperty("check").GetString() == "reachable" && f.GetProperty("message").GetString()!.Contains("version 9.1.5", StringComparison.Ordinal));
        Assert.Contains(findings, f => f.GetProperty("check").GetString() == "privileges" && f.GetProperty("severity").GetString() == "warning");
        Assert.True(gone.ExitCode == 3, gone.ToString());
        Assert.Contains("no answer from", gone.Output, StringComparison.Ordinal);
        Assert.True(refused.ExitCode == 3, refused.ToString());
        Assert.Contains("the cluster refused the credentials", refused.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_postgres_user_without_create_on_the_schema_or_ownership_of_the_table_gets_errors_with_the_grants_to_run()
    {
        var role = $"check_limited_{_suffix}";
        var schema = $"check_{_suffix}";
        await using (var admin = new NpgsqlConnection(Postgres))
        {
            await admin.OpenAsync();
            await using var setup = new NpgsqlCommand(
                $"CREATE ROLE {role} LOGIN; CREATE SCHEMA {schema}; GRANT USAGE ON SCHEMA {schema} TO {role}; " +
                $"CREATE TABLE {schema}.customers (id int primary key); GRANT SELECT, INSERT, UPDATE, DELETE ON {schema}.customers TO {role};", admin);
            await setup.ExecuteNonQueryAsync();
        }

        var limited = new NpgsqlConnectionStringBuilder(Postgres) { Username = role }.ConnectionString;
        var config = Config(FileSource(), $"dst: {{ type: postgres, connectionString: '{limited}', schema: {schema}, stateSchema: {schema}_state, tls: disable }}");
        var owner = Config(FileSource(), $"dst: {{ type: postgres, connectionString: '{Postgres}', schema: {schema}, stateSchema: {schema}_state, tls: disable }}");

        var refused = await _workspace.Sync("check", "--config", config);
        var allowed = await _workspace.Sync("check", "--config", owner);

        Assert.True(refused.ExitCode == 3, refused.ToString());
        Assert.Contains($"schema {schema}: {role} lacks CREATE on it", refused.Output, StringComparison.Ordinal);
        Assert.Contains($"do: GRANT USAGE, CREATE ON SCHEMA \"{schema}\" TO \"{role}\"", refused.Output, StringComparison.Ordinal);
        Assert.Contains($"schema {schema}_state: does not exist, and {role} may not create schemas", refused.Output, StringComparison.Ordinal);
        Assert.Contains($"table {schema}.customers: owned by postgres, so {role} cannot alter it", refused.Output, StringComparison.Ordinal);
        Assert.Contains("tls: disable, the connection is not encrypted", refused.Output, StringComparison.Ordinal);
        Assert.True(allowed.ExitCode == 0, allowed.ToString());
        Assert.Contains($"table {schema}.customers: postgres may read, write and alter it", allowed.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_unreachable_postgres_is_an_error()
    {
        var config = Config(FileSource(), $"dst: {{ type: postgres, connectionString: 'Host=127.0.0.1;Port={LoopbackPort.Unused()};Username=sync;Database=app', tls: disable, connectTimeout: 2s }}");

        var result = await _workspace.Sync("check", "--config", config);

        Assert.True(result.ExitCode == 3, result.ToString());
        Assert.Contains("ERROR    reachable: cannot connect", result.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_redis_that_evicts_keys_is_an_error_unless_the_sink_allows_eviction()
    {
        // allkeys-lru may evict any key once maxmemory is reached (https://redis.io/docs/latest/develop/reference/eviction/).
        await using var evicting = await RedisServerProcess.StartAsync("--maxmemory-policy", "allkeys-lru");

        var strict = await _workspace.Sync("check", "--config", Config(FileSource(), $"dst: {{ type: redis, endpoints: ['{evicting.Endpoint}'] }}"));
        var allowed = await _workspace.Sync("check", "--config", Config(FileSource(), $"dst: {{ type: redis, endpoints: ['{evicting.Endpoint}'], allowEviction: true }}"));
        var shared = await _workspace.Sync("check", "--config", Config(FileSource(), $"dst: {{ type: redis, endpoints: ['{Redis}'] }}"));

        Assert.True(strict.ExitCode == 3, strict.ToString());
        Assert.Contains("ERROR    maxmemory-policy: allkeys-lru may evict keys", strict.Output, StringComparison.Ordinal);
        Assert.Contains("do: CONFIG SET maxmemory-policy noeviction", strict.Output, StringComparison.Ordinal);
        Assert.True(allowed.ExitCode == 0, allowed.ToString());
        Assert.Contains("warning  maxmemory-policy: allkeys-lru may evict keys", allowed.Output, StringComparison.Ordinal);
        Assert.True(shared.ExitCode == 0, shared.ToString());
        Assert.Contains("ok       maxmemory-policy: noeviction", shared.Output, StringComparison.Ordinal);
        Assert.Contains("ok       acl user: logged in as the default user", shared.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_redis_user_whose_credentials_are_refused_is_an_error()
    {
        // The server's default user needs no password, so a refused AUTH leaves the connection as default.
        var config = Config(FileSource(), $"dst: {{ type: redis, endpoints: ['{Redis}'], user: ghost_{_suffix}, password: wrong-password }}");

        var result = await _workspace.Sync("check", "--config", config);

        Assert.True(result.ExitCode == 3, result.ToString());
        Assert.Contains($"ERROR    acl user: the connection is logged in as default, not as ghost_{_suffix}", result.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("wrong-password", result.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task On_the_fake_broker_a_missing_topic_a_schema_mismatch_and_a_refused_token_are_errors()
    {
        await using var broker = FakePulsarBroker.Start(new FakePulsarBrokerOptions { RequiredToken = "good-token" });
        await using (var client = new PulsarClient(new PulsarClientOptions { ServiceUrl = broker.ServiceUrl, AuthenticationToken = "good-token" }))
        await using (var producer = await client.CreateProducerAsync(new ProducerOptions { Topic = Topic, Schema = PulsarSchema.KeyValueOfBytes(KeyValueEncodingType.Inline) }))
        {
            await producer.SendAsync(new OutgoingMessage { KeyBytes = "{\"id\":1}"u8.ToArray(), Data = Encoding.UTF8.GetBytes("{}") });
        }

        string PulsarConfig(string token, string encoding, string topics) => _workspace.Write("sync.yaml", $$"""
            sources:
              src: { type: pulsar, serviceUrl: '{{broker.ServiceUrl}}', adminUrl: '{{broker.AdminUrl}}', token: {{token}}, keyValueEncoding: {{encoding}} }
            sinks:
              dst: { type: sqlite, path: out.db }
            materializers:
              customers: { source: src, {{topics}}, sink: dst, table: customers }
            """);

        var mismatch = await _workspace.Sync("check", "--config", PulsarConfig("good-token", "none", $"topics: ['{Topic}', 'persistent://public/default/db1.public.orders']"));
        await using (var client = new PulsarClient(new PulsarClientOptions { ServiceUrl = broker.ServiceUrl, AuthenticationToken = "good-token" }))
        await using (await client.SubscribeAsync(new ConsumerOptions { Topic = Topic, SubscriptionName = "sync-customers" }))
        {
            // The subscription a run would resume from now exists; subscribed at the latest message, its
            // mark-delete position is the topic's one message (ledger 1, entry 0).
        }

        var pattern = await _workspace.Sync("check", "--config", PulsarConfig("good-token", "auto", "topicPattern: 'persistent://public/default/db1\\.public\\..*'"), "--json");
        var refused = await _workspace.Sync("check", "--config", PulsarConfig("bad-token", "auto", $"topics: ['{Topic}']"));

        Assert.True(mismatch.ExitCode == 3, mismatch.ToString());
        Assert.Contains("ERROR    topic persistent://public/default/db1.public.orders: materializer customers reads persistent://public/default/db1.public.orders, which does not exist", mismatch.Output, StringComparison.Ordinal);
        Assert.Contains($"ERROR    schema of {Topic}: KEY_VALUE, INLINE encoding, but keyValueEncoding is none", mismatch.Output, StringComparison.Ordinal);
        Assert.Contains("subscription sync-customers: does not exist on", mismatch.Output, StringComparison.Ordinal);
        Assert.Contains("automatic compaction comes from the broker default", mismatch.Output, StringComparison.Ordinal);

        Assert.True(pattern.ExitCode == 0, pattern.ToString());
        var findings = JsonDocument.Parse(pattern.Output).RootElement.GetProperty("components")[0].GetProperty("findings").EnumerateArray().ToList();
        Assert.Contains(findings, f => f.GetProperty("check").GetString() == "topic pattern" && f.GetProperty("message").GetString()!.Contains("matches 1 topic", StringComparison.Ordinal));
        Assert.Contains(findings, f => f.GetProperty("check").GetString() == $"schema of {Topic}" && f.GetProperty("severity").GetString() == "ok");
        Assert.Contains(findings, f => f.GetProperty("check").GetString() == "subscription sync-customers" && f.GetProperty("message").GetString() == $"exists on {Topic}; acknowledged up to 1:0");

        Assert.True(refused.ExitCode == 3, refused.ToString());
        Assert.Contains("refused the credentials", refused.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("bad-token", refused.Output, StringComparison.Ordinal);
    }
}
