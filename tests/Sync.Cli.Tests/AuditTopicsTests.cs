using Snapshooter;
using Snapshooter.Xunit;
using Sync.Pulsar;
using Sync.Pulsar.Admin;
using Sync.Testing.Pulsar;

namespace Sync.Cli.Tests;

/// <summary><c>sync audit topics</c> on a changelog file and on the fake broker.</summary>
public sealed class AuditTopicsTests : IAsyncLifetime
{
    private const string Topic = "persistent://public/default/db1.public.customers";
    private readonly Workspace _workspace = new();
    private FakePulsarBroker _broker = null!;

    public Task InitializeAsync()
    {
        _broker = FakePulsarBroker.Start();
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await _broker.DisposeAsync();
        _workspace.Dispose();
    }

    private static string Envelope(int id, string op, string? name, int lsn)
    {
        var row = $"{{\"id\":{id},\"name\":\"{name}\",\"email\":\"{name}@example.org\"}}";
        var (before, after) = op == "d" ? (row, "null") : ("null", row);
        return $"{{\"before\":{before},\"after\":{after},\"source\":{{\"db\":\"db1\",\"table\":\"customers\",\"lsn\":{lsn}}},\"op\":\"{op}\",\"ts_ms\":{1_700_000_000_000L + lsn}}}";
    }

    private static string Line(int? id, string op, string name, int lsn) =>
        $"{{\"topic\":\"{Topic}\",{(id is null ? string.Empty : $"\"key\":{{\"id\":{id}}},")}\"value\":{Envelope(id ?? 0, op, name, lsn)}}}\n";

    private string FileConfig(bool repair = false)
    {
        _workspace.Write("data/changelog.jsonl", Line(1, "c", "ada", 1) + Line(2, "c", "bob", 2) + Line(1, "d", "ada", 3) + Line(null, "c", "nokey", 4));
        return _workspace.WriteFileToSqliteConfig("data/changelog.jsonl", "audit.db", $$"""
            materializers:
              customers: { source: changelog, topics: ['{{Topic}}'], sink: local, table: customers, repairTombstones: {{(repair ? "true" : "false")}} }
            """);
    }

    private async Task<string> PulsarConfigAsync(int keyless)
    {
        await using (var client = new PulsarClient(new PulsarClientOptions { ServiceUrl = _broker.ServiceUrl }))
        await using (var producer = await client.CreateProducerAsync(new ProducerOptions { Topic = Topic }))
        {
            // As Pulsar IO's Debezium source writes: base64 key bytes, no tombstone after op=d.
            await producer.SendAsync(new OutgoingMessage { KeyBytes = "{\"id\":1}"u8.ToArray(), Data = Encoding.UTF8.GetBytes(Envelope(1, "c", "ada", 1)) });
            await producer.SendAsync(new OutgoingMessage { KeyBytes = "{\"id\":2}"u8.ToArray(), Data = Encoding.UTF8.GetBytes(Envelope(2, "c", "bob", 2)) });
            await producer.SendAsync(new OutgoingMessage { KeyBytes = "{\"id\":1}"u8.ToArray(), Data = Encoding.UTF8.GetBytes(Envelope(1, "d", "ada", 3)) });
            for (var i = 0; i < keyless; i++)
            {
                await producer.SendAsync(new OutgoingMessage { Data = Encoding.UTF8.GetBytes(Envelope(9, "c", "nokey", 4 + i)) });
            }
        }

        return _workspace.Write("sync.yaml", $$"""
            sources:
              broker: {{_broker.SourceYaml("compactedReadIdle: 300ms")}}
            sinks:
              local: { type: sqlite, path: audit.db }
            materializers:
              customers: { source: broker, topics: ['{{Topic}}'], sink: local, table: customers }
            """);
    }

    [Fact]
    public async Task A_changelog_file_with_a_delete_holding_its_before_image_and_a_keyless_message_has_two_findings()
    {
        var config = FileConfig();

        var result = await _workspace.Sync("audit", "topics", "--config", config);

        Assert.True(result.ExitCode == 3, result.ToString());
        Snapshot.Match(result.Output, SnapshotNameExtension.Create("file"));
        Assert.DoesNotContain("ada", result.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_fake_broker_topic_reports_findings_and_settings_with_advice_as_tables_and_as_json()
    {
        var config = await PulsarConfigAsync(keyless: 2);
        using (var admin = new PulsarAdminClient(new PulsarAdminOptions { ServiceUrl = _broker.AdminUrl }))
        {
            await admin.SetNamespaceRetentionAsync("public/default", new RetentionPolicy(-1, -1));
            await admin.SetNamespaceCompactionThresholdAsync("public/default", 0);
        }

        var result = await _workspace.Sync("audit", "topics", "--config", config);
        var json = await _workspace.Sync("audit", "topics", "--config", config, "--json");

        Assert.True(result.ExitCode == 3, result.ToString());
        Snapshot.Match(result.Output, SnapshotNameExtension.Create("pulsar"));
        Assert.Equal(3, json.ExitCode);
        var topic = JsonDocument.Parse(json.Output).RootElement.GetProperty("topics")[0];
        Assert.Equal(1, topic.GetProperty("deletesWithBeforeImage").GetInt64());
        Assert.Equal(2, topic.GetProperty("keylessMessages").GetInt64());
        Assert.Equal("unlimited time, unlimited size (namespace)", topic.GetProperty("retention").GetString());
        Assert.Equal("off (namespace)", topic.GetProperty("compaction").GetString());
    }

    [Fact]
    public async Task A_topic_whose_deletes_have_tombstones_and_whose_messages_have_keys_is_clean()
    {
        var config = await PulsarConfigAsync(keyless: 0);
        await using (var client = new PulsarClient(new PulsarClientOptions { ServiceUrl = _broker.ServiceUrl }))
        await using (var producer = await client.CreateProducerAsync(new ProducerOptions { Topic = Topic }))
        {
            await producer.SendAsync(OutgoingMessage.Tombstone("{\"id\":1}"u8.ToArray()));
        }

        using (var admin = new PulsarAdminClient(new PulsarAdminOptions { ServiceUrl = _broker.AdminUrl }))
        {
            await admin.SetTopicRetentionAsync(Topic, new RetentionPolicy(10080, 1024));
            await admin.SetTopicCompactionThresholdAsync(Topic, 100 * 1024 * 1024);
        }

        var result = await _workspace.Sync("audit", "topics", "--config", config);

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("clean: no delete keeps a before-image", result.Output, StringComparison.Ordinal);
        Assert.Contains("10080 min, 1024 MB (topic)", result.Output, StringComparison.Ordinal);
        Assert.Contains("at 104857600 bytes of backlog (topic)", result.Output, StringComparison.Ordinal);
    }
}
