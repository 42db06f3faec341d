using System.Text.Json;

namespace Sync.Pulsar.Tests.Client;

/// <summary>
/// The fake broker's schema commands (GET_OR_CREATE_SCHEMA, PRODUCER with a schema, GET_SCHEMA)
/// spoken with protobuf classes other people generated from apache/pulsar's PulsarApi.proto: those
/// of pulsar-flex (Interop/flex-schema.js; pulsar-flex itself has no schema API). A field number
/// our .proto and our fake agreed on wrongly would not survive this.
/// </summary>
public class SchemaCrossCheckTests(PulsarFlexInstall flex) : ClientTestBase, IClassFixture<PulsarFlexInstall>
{
    [Fact]
    public async Task Schemas_registered_through_independently_generated_commands_are_versioned_and_read_back()
    {
        var server = $"{Broker.ServiceUrl.Host}:{Broker.ServiceUrl.Port}";

        var (exit, output) = await Task.Run(() => PulsarFlexInstall.Run("node", ["flex-schema.js", server, Topic], flex.Directory, TimeSpan.FromSeconds(60)));

        Assert.True(exit == 0, output);
        using var answer = JsonDocument.Parse(output);
        var root = answer.RootElement;
        // LongSchemaVersion: versions 0 and 1 as 8 big-endian bytes.
        Assert.Equal("0000000000000000", root.GetProperty("created").GetString());
        Assert.Equal("0000000000000001", root.GetProperty("producer").GetString());
        Assert.Equal("0000000000000001", root.GetProperty("latest").GetProperty("version").GetString());
        Assert.Equal(15, root.GetProperty("latest").GetProperty("type").GetInt32());
        Assert.Equal("SEPARATED", root.GetProperty("latest").GetProperty("properties").GetProperty("kv.encoding.type").GetString());
        Assert.Equal("INLINE", root.GetProperty("first").GetProperty("properties").GetProperty("kv.encoding.type").GetString());
        Assert.Equal(11, root.GetProperty("missing").GetProperty("error").GetInt32());
        Assert.Equal("Topic not found or no-schema", root.GetProperty("missing").GetProperty("message").GetString());
        // And our client reads what pulsar-flex's classes registered.
        Assert.Equal(KeyValueEncodingType.Inline, (await Client.GetSchemaAsync(Topic, new byte[8]))!.Schema.KeyValueEncoding);
    }
}
