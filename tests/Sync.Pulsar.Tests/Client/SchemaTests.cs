using System.Buffers.Binary;
using System.Net;
using System.Text.Json;

namespace Sync.Pulsar.Tests.Client;

/// <summary>
/// Topic schemas over the binary protocol and the admin API, against the fake broker, which models
/// apache/pulsar's schema registry (ServerCnx.handleProducer / handleGetSchema /
/// handleGetOrCreateSchema, SchemaRegistryServiceImpl, LongSchemaVersion, v2 SchemasResource).
/// </summary>
public class SchemaTests : ClientTestBase
{
    private static long Version(ReadOnlyMemory<byte> bytes)
    {
        // The default schema storage names versions as 8-byte big-endian longs (LongSchemaVersion).
        Assert.Equal(8, bytes.Length);
        return BinaryPrimitives.ReadInt64BigEndian(bytes.Span);
    }

    [Fact]
    public async Task A_producer_schema_gets_a_version_that_every_message_names_and_get_schema_returns_it()
    {
        await using var consumer = await ConsumerAsync();
        await using var producer = await ProducerAsync(new ProducerOptions { Topic = Topic, Schema = PulsarSchema.KeyValueOfBytes(KeyValueEncodingType.Inline) });

        await producer.SendAsync(new OutgoingMessage { Data = "a"u8.ToArray(), Key = "k" });
        var message = Assert.Single(await ReceiveAsync(consumer, 1));

        Assert.Equal(0, Version(producer.SchemaVersion));
        Assert.Equal(producer.SchemaVersion.ToArray(), message.SchemaVersion.ToArray());
        var found = await Client.GetSchemaAsync(Topic, message.SchemaVersion);
        Assert.NotNull(found);
        Assert.Equal(PulsarSchemaType.KeyValue, found.Schema.Type);
        Assert.Equal("INLINE", found.Schema.Properties["kv.encoding.type"]);
        Assert.Equal(KeyValueEncodingType.Inline, found.Schema.KeyValueEncoding);
        Assert.Equal(0, Version(found.Version));
    }

    [Fact]
    public async Task A_new_schema_becomes_the_next_version_an_equal_one_keeps_its_version_and_each_stays_readable()
    {
        var inline = PulsarSchema.KeyValueOfBytes(KeyValueEncodingType.Inline);
        var separated = PulsarSchema.KeyValueOfBytes(KeyValueEncodingType.Separated);

        var first = await Client.GetOrCreateSchemaAsync(Topic, inline);
        var second = await Client.GetOrCreateSchemaAsync(Topic, separated);
        var again = await Client.GetOrCreateSchemaAsync(Topic, inline);
        await using var producer = await ProducerAsync(new ProducerOptions { Topic = Topic, Schema = separated });

        Assert.Equal(0, Version(first));
        Assert.Equal(1, Version(second));
        Assert.Equal(0, Version(again));
        Assert.Equal(1, Version(producer.SchemaVersion));
        Assert.Equal(2, Broker.SchemaVersionCount(Topic));
        Assert.Equal(KeyValueEncodingType.Inline, (await Client.GetSchemaAsync(Topic, first))!.Schema.KeyValueEncoding);
        Assert.Equal(KeyValueEncodingType.Separated, (await Client.GetSchemaAsync(Topic, second))!.Schema.KeyValueEncoding);
        // Without a version: the latest.
        var latest = await Client.GetSchemaAsync(Topic);
        Assert.Equal(1, Version(latest!.Version));
    }

    [Fact]
    public async Task A_topic_without_a_schema_or_an_unknown_version_has_no_schema_and_messages_name_none()
    {
        await using var consumer = await ConsumerAsync();
        await using var producer = await ProducerAsync();
        await producer.SendAsync(new OutgoingMessage { Data = "a"u8.ToArray() });
        var message = Assert.Single(await ReceiveAsync(consumer, 1));

        Assert.True(producer.SchemaVersion.IsEmpty);
        Assert.True(message.SchemaVersion.IsEmpty);
        Assert.Null(await Client.GetSchemaAsync(Topic));
        await Client.GetOrCreateSchemaAsync(Topic, PulsarSchema.KeyValueOfBytes(KeyValueEncodingType.Inline));
        var unknown = new byte[8];
        BinaryPrimitives.WriteInt64BigEndian(unknown, 7);
        Assert.Null(await Client.GetSchemaAsync(Topic, unknown));
    }

    [Fact]
    public async Task Partitions_share_the_schema_of_their_topic()
    {
        Broker.CreatePartitionedTopic(Topic, 2);
        await using var producer = await Client.CreateProducerAsync(new ProducerOptions { Topic = Topic, Schema = PulsarSchema.KeyValueOfBytes(KeyValueEncodingType.Inline) });

        var viaPartition = await Client.GetSchemaAsync(Topic + "-partition-1");

        Assert.Equal(1, Broker.SchemaVersionCount(Topic));
        Assert.Equal(KeyValueEncodingType.Inline, viaPartition!.Schema.KeyValueEncoding);
    }

    [Fact]
    public async Task The_admin_api_serves_the_latest_schema_and_each_version_and_404_without_one()
    {
        using var http = new HttpClient { BaseAddress = Broker.AdminUrl };
        var path = "/admin/v2/schemas/public/default/" + Topic["persistent://public/default/".Length..] + "/schema";
        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync(path)).StatusCode);
        await Client.GetOrCreateSchemaAsync(Topic, PulsarSchema.KeyValueOfBytes(KeyValueEncodingType.Inline));
        await Client.GetOrCreateSchemaAsync(Topic, PulsarSchema.KeyValueOfBytes(KeyValueEncodingType.Separated));

        using var latest = JsonDocument.Parse(await http.GetStringAsync(path));
        using var first = JsonDocument.Parse(await http.GetStringAsync(path + "/0"));

        Assert.Equal(1, latest.RootElement.GetProperty("version").GetInt64());
        Assert.Equal("KEY_VALUE", latest.RootElement.GetProperty("type").GetString());
        Assert.Equal("SEPARATED", latest.RootElement.GetProperty("properties").GetProperty("kv.encoding.type").GetString());
        Assert.Equal(0, first.RootElement.GetProperty("version").GetInt64());
        Assert.Equal("INLINE", first.RootElement.GetProperty("properties").GetProperty("kv.encoding.type").GetString());
        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync(path + "/5")).StatusCode);
    }

    [Fact]
    public void A_key_value_schema_without_an_encoding_property_is_inline()
    {
        // KeyValueSchemaInfo.decodeKeyValueEncodingType: an absent or empty kv.encoding.type means INLINE.
        var bare = PulsarSchema.KeyValueOfBytes(KeyValueEncodingType.Separated) with { Properties = new Dictionary<string, string>() };
        var json = new PulsarSchema { Type = PulsarSchemaType.Json };

        Assert.Equal(KeyValueEncodingType.Inline, bare.KeyValueEncoding);
        Assert.Null(json.KeyValueEncoding);
    }
}
