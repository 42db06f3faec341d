using System.Text.Json.Nodes;
using Sync.Engine.Sources;
using Sync.Pulsar;
using Sync.Testing.Pulsar;

namespace Sync.Cli.Tests;

/// <summary>
/// Pulsar IO's two KeyValue layouts end to end (apache/pulsar
/// pulsar-io/kafka-connect-adaptor/.../KafkaConnectSource.java: json-with-envelope true gives
/// INLINE with BYTES schemas, false SEPARATED; pulsar-functions/instance/.../sink/PulsarSink.java
/// sets the base64 key text as the message key for INLINE; KeyValue.encode lays out the payload).
/// </summary>
public sealed class PulsarKeyValueTests : PulsarCliFixture
{
    private static byte[] Key(int id) => Encoding.UTF8.GetBytes($"{{\"id\":{id}}}");

    private static byte[] Value(int id, string op, string? name, long lsn) => Encoding.UTF8.GetBytes(string.Create(
        CultureInfo.InvariantCulture,
        $"{{\"before\":null,\"after\":{(name is null ? "null" : $"{{\"id\":{id},\"name\":\"{name}\"}}")},\"source\":{{\"connector\":\"postgresql\",\"db\":\"shop\",\"schema\":\"public\",\"table\":\"users\",\"lsn\":{lsn}}},\"op\":\"{op}\",\"ts_ms\":{1_700_000_000_000 + lsn}}}"));

    private static readonly (int Id, string Op, string? Name, long Lsn)[] Changes =
    [
        (1, "c", "ann", 10), (2, "c", "bob", 11), (1, "u", "anna", 12), (3, "c", "cy", 13), (2, "d", null, 14),
    ];

    /// <summary>What Pulsar IO with json-with-envelope true sends: the INLINE payload, the key's base64 as a plain message key.</summary>
    private static OutgoingMessage Inline(int id, string op, string? name, long lsn) => new()
    {
        Data = KeyValuePayload.EncodeInline(Key(id), false, Value(id, op, name, lsn), false),
        Key = Convert.ToBase64String(Key(id)),
    };

    /// <summary>What it sends with json-with-envelope false: payload = value, key base64-flagged.</summary>
    private static OutgoingMessage Separated(int id, string op, string? name, long lsn) => new()
    {
        Data = Value(id, op, name, lsn),
        KeyBytes = Key(id),
    };

    private async Task PublishAllAsync(string topic, PulsarSchema? schema, Func<int, string, string?, long, OutgoingMessage> shape, params (int, string, string?, long)[] changes)
    {
        await using var producer = await Client.CreateProducerAsync(new ProducerOptions { Topic = topic, Schema = schema });
        foreach (var (id, op, name, lsn) in changes)
        {
            await producer.SendAsync(shape(id, op, name, lsn));
        }
    }

    [Fact]
    public async Task Inline_and_separated_topics_with_their_schemas_materialize_to_the_same_rows()
    {
        var inline = NewTopic("kv-inline");
        var separated = NewTopic("kv-separated");
        await PublishAllAsync(inline, PulsarSchema.KeyValueOfBytes(KeyValueEncodingType.Inline), Inline, Changes);
        await PublishAllAsync(separated, PulsarSchema.KeyValueOfBytes(KeyValueEncodingType.Separated), Separated, Changes);
        var config = WriteConfig($"""
              a: {"{"} source: broker, topics: ['{inline}'], sink: local, table: users_inline, linger: 0ms, deadLetterTarget: file {"}"}
              b: {"{"} source: broker, topics: ['{separated}'], sink: local, table: users_separated, linger: 0ms, deadLetterTarget: file {"}"}
            """);

        var result = await RunUntilAsync(() => AllAcknowledged(inline, "sync-a") && AllAcknowledged(separated, "sync-b"), "run", "--config", config);

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal(["id=1|name=anna", "id=3|name=cy"], SqliteTables.Rows(Database, "users_inline"));
        Assert.Equal(SqliteTables.Rows(Database, "users_inline"), SqliteTables.Rows(Database, "users_separated"));
        Assert.False(File.Exists(Workspace.File("a.deadletter.jsonl")), result.ToString());
    }

    [Fact]
    public async Task Without_a_schema_the_inline_override_reads_the_payload_and_auto_reads_it_as_a_plain_value()
    {
        var topic = NewTopic("kv-noschema");
        await PublishAllAsync(topic, null, Inline, Changes[..2]);
        var config = Workspace.Write("sync.yaml", $"""
            sources:
              forced: {"{"} type: pulsar, serviceUrl: '{Broker.ServiceUrl}', keyValueEncoding: inline {"}"}
              auto: {"{"} type: pulsar, serviceUrl: '{Broker.ServiceUrl}' {"}"}
            sinks:
              local: {"{"} type: sqlite, path: users.db {"}"}
            materializers:
              forced: {"{"} source: forced, topics: ['{topic}'], sink: local, table: users_forced, linger: 0ms, deadLetterTarget: file {"}"}
              auto: {"{"} source: auto, topics: ['{topic}'], sink: local, table: users_auto, linger: 0ms, deadLetterTarget: file {"}"}
            """);

        var result = await RunUntilAsync(() => AllAcknowledged(topic, "sync-forced") && AllAcknowledged(topic, "sync-auto"), "run", "--config", config);

        Assert.True(result.ExitCode == 3, result.ToString());
        Assert.Equal(["id=1|name=ann", "id=2|name=bob"], SqliteTables.Rows(Database, "users_forced"));
        // Without a schema (and without the override) the binary payload is no JSON value: dead letters, not rows.
        Assert.Equal(2, File.ReadAllLines(Workspace.File("auto.deadletter.jsonl")).Length);
        Assert.False(File.Exists(Workspace.File("forced.deadletter.jsonl")));
    }

    [Fact]
    public async Task A_malformed_inline_payload_and_a_disagreeing_message_key_are_dead_letters_naming_topic_and_message()
    {
        var topic = NewTopic("kv-bad");
        await using (var producer = await Client.CreateProducerAsync(new ProducerOptions { Topic = topic, Schema = PulsarSchema.KeyValueOfBytes(KeyValueEncodingType.Inline) }))
        {
            await producer.SendAsync(Inline(1, "c", "ann", 10));
            // A key length far beyond the payload.
            await producer.SendAsync(new OutgoingMessage { Data = new byte[] { 0x00, 0x00, 0x10, 0x00, 0x7B, 0x7D }, Key = "eyJpZCI6Mn0=" });
            await producer.SendAsync(Inline(3, "c", "cy", 13) with { Key = Convert.ToBase64String(Key(4)) });
            await producer.SendAsync(Inline(5, "c", "eve", 15));
        }

        var ids = (await ReadAllAsync(topic)).Select(m => m.Id).ToList();
        var config = WriteConfig($"""
              users: {"{"} source: broker, topics: ['{topic}'], sink: local, table: users, linger: 0ms, deadLetterTarget: file {"}"}
            """);

        var result = await RunUntilAsync(() => AllAcknowledged(topic, "sync-users"), "run", "--config", config);

        Assert.True(result.ExitCode == 3, result.ToString());
        Assert.Equal(["id=1|name=ann", "id=5|name=eve"], SqliteTables.Rows(Database, "users"));
        var letters = File.ReadAllText(Workspace.File("users.deadletter.jsonl"));
        Assert.Contains($"message {ids[1]} on {topic}: INLINE KeyValue payload of 6 bytes names a key length of 4096", letters, StringComparison.Ordinal);
        Assert.Contains($"message {ids[2]} on {topic}: the message key eyJpZCI6NH0= does not match the key in the INLINE KeyValue payload (base64 eyJpZCI6M30=)", letters, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Dump_writes_both_encodings_and_publishing_the_dump_reproduces_payloads_keys_and_schemas()
    {
        var inline = NewTopic("kv-dump-inline");
        var separated = NewTopic("kv-dump-separated");
        await PublishAllAsync(inline, PulsarSchema.KeyValueOfBytes(KeyValueEncodingType.Inline), Inline, Changes[..2]);
        await PublishAllAsync(separated, PulsarSchema.KeyValueOfBytes(KeyValueEncodingType.Separated), Separated, Changes[..2]);
        var config = WriteConfig($"""
              a: {"{"} source: broker, topics: ['{inline}'], sink: local, table: a {"}"}
              b: {"{"} source: broker, topics: ['{separated}'], sink: local, table: b {"}"}
            """);

        var dumpInline = await Workspace.Sync("dump", "--config", config, "--topic", inline);
        var dumpSeparated = await Workspace.Sync("dump", "--config", config, "--topic", separated);

        Assert.True(dumpInline.ExitCode == 0, dumpInline.ToString());
        Assert.True(dumpSeparated.ExitCode == 0, dumpSeparated.ToString());
        var inlineLine = JsonNode.Parse(dumpInline.Output.Split('\n')[0])!;
        Assert.Equal("inline", inlineLine["keyValue"]!.GetValue<string>());
        Assert.Equal(Convert.ToBase64String(Key(1)), inlineLine["key"]!.GetValue<string>());
        Assert.Null(inlineLine["keyBase64"]);
        Assert.Equal(Inline(1, "c", "ann", 10).Data.ToArray(), Convert.FromBase64String(inlineLine["payload"]!.GetValue<string>()));
        Assert.Equal("separated", JsonNode.Parse(dumpSeparated.Output.Split('\n')[0])!["keyValue"]!.GetValue<string>());

        // Publish both dumps to a second broker: the same bytes, keys and schemas arrive there.
        await using var other = FakePulsarBroker.Start();
        var file = Workspace.Write("both.jsonl", dumpInline.Output + dumpSeparated.Output);
        var otherConfig = Workspace.Write("other.yaml", $"""
            sources:
              other: {"{"} type: pulsar, serviceUrl: '{other.ServiceUrl}' {"}"}
            sinks:
              local: {"{"} type: sqlite, path: other.db {"}"}
            materializers:
              a: {"{"} source: other, topics: ['{inline}'], sink: local, table: a {"}"}
            """);
        var published = await Workspace.Sync("publish", "--config", otherConfig, "--file", file);
        Assert.True(published.ExitCode == 0, published.ToString());

        await using var otherClient = new PulsarClient(new PulsarClientOptions { ServiceUrl = other.ServiceUrl });
        foreach (var (topic, encoding) in new[] { (inline, KeyValueEncodingType.Inline), (separated, KeyValueEncodingType.Separated) })
        {
            var before = await ReadAllAsync(topic);
            var after = await ReadAllAsync(otherClient, topic);
            Assert.Equal(before.Select(m => (Convert.ToBase64String(m.Data.Span), m.Key, m.KeyIsBase64)), after.Select(m => (Convert.ToBase64String(m.Data.Span), m.Key, m.KeyIsBase64)));
            Assert.All(after, m => Assert.False(m.SchemaVersion.IsEmpty));
            Assert.Equal(encoding, (await otherClient.GetSchemaAsync(topic, after[0].SchemaVersion))!.Schema.KeyValueEncoding);
        }
    }

    [Fact]
    public async Task Publish_with_key_value_inline_sends_a_plain_changelog_as_pulsar_io_would_and_it_materializes()
    {
        var topic = NewTopic("kv-publish");
        var file = Workspace.Write("plain.jsonl", string.Join('\n', Changes[..2].Select(c =>
            $$"""{"topic":"{{topic}}","key":"{{Convert.ToBase64String(Key(c.Id))}}","keyBase64":true,"value":{{Encoding.UTF8.GetString(Value(c.Id, c.Op, c.Name, c.Lsn))}}}""")) + "\n");
        var config = WriteConfig($"""
              users: {"{"} source: broker, topics: ['{topic}'], sink: local, table: users, linger: 0ms, deadLetterTarget: file {"}"}
            """);

        var published = await Workspace.Sync("publish", "--config", config, "--file", file, "--key-value", "inline");
        Assert.True(published.ExitCode == 0, published.ToString());
        var messages = await ReadAllAsync(topic);
        var result = await RunUntilAsync(() => AllAcknowledged(topic, "sync-users"), "run", "--config", config);

        Assert.Equal(KeyValuePayload.EncodeInline(Key(1), false, Value(1, "c", "ann", 10), false), messages[0].Data.ToArray());
        Assert.Equal(Convert.ToBase64String(Key(1)), messages[0].Key);
        Assert.False(messages[0].KeyIsBase64);
        Assert.Equal(KeyValueEncodingType.Inline, (await Client.GetSchemaAsync(topic, messages[0].SchemaVersion))!.Schema.KeyValueEncoding);
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal(["id=1|name=ann", "id=2|name=bob"], SqliteTables.Rows(Database, "users"));
    }
}
