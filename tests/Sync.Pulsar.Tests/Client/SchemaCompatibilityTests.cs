namespace Sync.Pulsar.Tests.Client;

/// <summary>
/// A topic's schemas admit a new one only under the namespace's compatibility strategy: apache/pulsar
/// SchemaRegistryServiceImpl.checkCompatibilityWithAll refuses a schema whose type differs from a
/// stored one with IncompatibleSchema ("Incompatible schema: exists schema type JSON, new schema type
/// AVRO"), unless the strategy is ALWAYS_COMPATIBLE — both for a producer's schema and for
/// GET_OR_CREATE_SCHEMA.
/// </summary>
public sealed class SchemaCompatibilityTests : ClientTestBase
{
    private static readonly PulsarSchema Json = new() { Name = "users", Type = PulsarSchemaType.Json, Data = "{\"type\":\"record\",\"name\":\"User\",\"fields\":[]}"u8.ToArray() };

    private static readonly PulsarSchema Text = new() { Name = "users", Type = PulsarSchemaType.String };

    [Fact]
    public async Task A_schema_of_another_type_is_refused_as_incompatible_unless_the_namespace_allows_every_schema()
    {
        await using (await ProducerAsync(new ProducerOptions { Topic = Topic, Schema = Json }))
        {
        }

        var byProducer = await Assert.ThrowsAsync<IncompatibleSchemaException>(async () => await Client.CreateProducerAsync(new ProducerOptions { Topic = Topic, Schema = Text }));
        var byRequest = await Assert.ThrowsAsync<IncompatibleSchemaException>(() => Client.GetOrCreateSchemaAsync(Topic, Text));
        Broker.SchemaCompatibilityStrategy = "ALWAYS_COMPATIBLE";
        var accepted = await Client.GetOrCreateSchemaAsync(Topic, Text);

        Assert.Equal("Incompatible schema: exists schema type JSON, new schema type STRING", byProducer.ServerMessage);
        Assert.Equal(byProducer.ServerMessage, byRequest.ServerMessage);
        Assert.Equal(2, Broker.SchemaVersionCount(Topic));
        Assert.Equal(8, accepted.Length);
    }
}
