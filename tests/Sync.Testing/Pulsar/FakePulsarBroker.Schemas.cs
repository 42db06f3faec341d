using System.Buffers.Binary;
using Google.Protobuf;
using Sync.Pulsar;
using Sync.Pulsar.Protocol.Proto;

namespace Sync.Testing.Pulsar;

/// <summary>
/// The schema registry of the fake broker, modelled on apache/pulsar's
/// SchemaRegistryServiceImpl with the default BookKeeper storage:
/// <list type="bullet">
/// <item>schemas belong to the schema name, the topic without its partition suffix
/// (TopicName.getSchemaName), so every partition shares them;</item>
/// <item>versions are longs counted from 0 and travel as 8 big-endian bytes (LongSchemaVersion);</item>
/// <item>adding a schema equal to one the topic already holds (same type, data and properties)
/// returns that version; any other schema becomes the next version, once it passed the
/// compatibility check (<see cref="IncompatibilityLocked"/>).</item>
/// </list>
/// </summary>
public sealed partial class FakePulsarBroker
{
    private readonly Dictionary<string, List<(Schema Schema, long Timestamp)>> _schemas = new(StringComparer.Ordinal);

    internal static string SchemaName(string topic) => TopicName.BaseName(TopicName.Normalize(topic));

    internal static ByteString VersionBytes(long version)
    {
        var bytes = new byte[8];
        BinaryPrimitives.WriteInt64BigEndian(bytes, version);
        return ByteString.CopyFrom(bytes);
    }

    /// <summary>The namespace's schema compatibility strategy, for every topic (the broker's default
    /// is FULL). The fake checks only what every strategy but ALWAYS_COMPATIBLE checks first: that the
    /// new schema has the type of those the topic holds; the structural checks of Avro and JSON
    /// schemas (backward, forward, transitive) are not modelled.</summary>
    public string SchemaCompatibilityStrategy { get; set; } = "FULL";

    /// <summary>Why <paramref name="schema"/> may not be added to the topic, or null. Modelled on
    /// apache/pulsar pulsar-broker/src/main/java/org/apache/pulsar/broker/service/schema/
    /// SchemaRegistryServiceImpl.java (checkCompatibilityWithAll): unless the strategy is
    /// ALWAYS_COMPATIBLE, a schema of another type than a stored one is refused with
    /// IncompatibleSchema; a schema equal to a stored one is never refused (it is looked up first).</summary>
    internal string? IncompatibilityLocked(string topic, Schema schema)
    {
        if (SchemaCompatibilityStrategy == "ALWAYS_COMPATIBLE"
            || !_schemas.TryGetValue(SchemaName(topic), out var versions)
            || versions.Exists(v => SameSchema(v.Schema, schema)))
        {
            return null;
        }

        return versions.FirstOrDefault(v => v.Schema.Type != schema.Type) is { Schema: { } other }
            ? $"Incompatible schema: exists schema type {JavaTypeName(other.Type)}, new schema type {JavaTypeName(schema.Type)}"
            : null;
    }

    /// <summary>The Java SchemaType name of a protocol schema type (BOOLEAN, KEY_VALUE, …).</summary>
    private static string JavaTypeName(Schema.Types.Type type) => type switch
    {
        Schema.Types.Type.Bool => "BOOLEAN",
        _ => System.Text.RegularExpressions.Regex.Replace(type.ToString(), "(?<=[a-z0-9])(?=[A-Z])", "_").ToUpperInvariant(),
    };

    /// <summary>The version of <paramref name="schema"/> on the topic, added when new.</summary>
    internal long GetOrAddSchemaLocked(string topic, Schema schema)
    {
        var name = SchemaName(topic);
        if (!_schemas.TryGetValue(name, out var versions))
        {
            versions = [];
            _schemas[name] = versions;
        }

        var existing = versions.FindIndex(v => SameSchema(v.Schema, schema));
        if (existing >= 0)
        {
            return existing;
        }

        versions.Add((schema.Clone(), Clock.GetUtcNow().ToUnixTimeMilliseconds()));
        return versions.Count - 1;
    }

    /// <summary>The schema at <paramref name="version"/> (the latest when null), or null when the
    /// topic has none there.</summary>
    internal (Schema Schema, long Version, long Timestamp)? FindSchemaLocked(string topic, long? version)
    {
        if (!_schemas.TryGetValue(SchemaName(topic), out var versions) || versions.Count == 0)
        {
            return null;
        }

        var index = version ?? versions.Count - 1;
        return index < 0 || index >= versions.Count ? null : (versions[(int)index].Schema, index, versions[(int)index].Timestamp);
    }

    /// <summary>Registers a schema on a topic as a producer with that schema would; returns its version.</summary>
    public long AddSchema(string topic, PulsarSchema schema)
    {
        ArgumentNullException.ThrowIfNull(schema);
        var proto = new Schema { Name = schema.Name, Type = (Schema.Types.Type)schema.Type, SchemaData = ByteString.CopyFrom(schema.Data.Span) };
        foreach (var (key, value) in schema.Properties.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            proto.Properties.Add(new KeyValue { Key = key, Value = value });
        }

        lock (Sync)
        {
            return GetOrAddSchemaLocked(topic, proto);
        }
    }

    /// <summary>How many schema versions the topic holds.</summary>
    public int SchemaVersionCount(string topic)
    {
        lock (Sync)
        {
            return _schemas.TryGetValue(SchemaName(topic), out var versions) ? versions.Count : 0;
        }
    }

    // The registry compares schemas by a hash of type, data and properties (SchemaHash).
    private static bool SameSchema(Schema a, Schema b) =>
        a.Type == b.Type
        && a.SchemaData.Equals(b.SchemaData)
        && a.Properties.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => (p.Key, p.Value))
            .SequenceEqual(b.Properties.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => (p.Key, p.Value)));

    /// <summary>GET /admin/v2/schemas/{tenant}/{namespace}/{topic}/schema[/{version}]: the
    /// GetSchemaResponse JSON (version, type, timestamp, data, properties), 404 without a schema
    /// (apache/pulsar SchemasResourceBase / v2 SchemasResource). For KEY_VALUE the real broker
    /// renders the two sub-schemas' data as JSON; with BYTES sub-schemas both are empty.</summary>
    internal (System.Net.HttpStatusCode, object?) AdminGetSchema(string topic, long? version)
    {
        lock (Sync)
        {
            if (FindSchemaLocked(topic, version) is not { } found)
            {
                return (System.Net.HttpStatusCode.NotFound, new { reason = "Schema not found" });
            }

            var type = SchemaTypeName(found.Schema.Type);
            var data = found.Schema.Type == Schema.Types.Type.KeyValue
                ? "{\"key\":\"\",\"value\":\"\"}"
                : found.Schema.SchemaData.ToStringUtf8();
            var properties = found.Schema.Properties.GroupBy(p => p.Key, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Last().Value, StringComparer.Ordinal);
            return (System.Net.HttpStatusCode.OK, new { version = found.Version, type, timestamp = found.Timestamp, data, properties });
        }
    }

    // SchemaType names as the REST API spells them (org.apache.pulsar.common.schema.SchemaType).
    private static string SchemaTypeName(Schema.Types.Type type) => type switch
    {
        Schema.Types.Type.None => "BYTES",
        Schema.Types.Type.KeyValue => "KEY_VALUE",
        Schema.Types.Type.ProtobufNative => "PROTOBUF_NATIVE",
        Schema.Types.Type.LocalDate => "LOCAL_DATE",
        Schema.Types.Type.LocalTime => "LOCAL_TIME",
        Schema.Types.Type.LocalDateTime => "LOCAL_DATE_TIME",
        _ => type.ToString().ToUpperInvariant(),
    };
}
