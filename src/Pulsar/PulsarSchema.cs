using Google.Protobuf;

namespace Sync.Pulsar;

/// <summary>A topic schema: name, type, schema data and properties, as the broker stores it.</summary>
public sealed record PulsarSchema
{
    /// <summary>The schema property that names a KEY_VALUE schema's encoding
    /// (apache/pulsar pulsar-client/.../impl/schema/KeyValueSchemaInfo.java, KV_ENCODING_TYPE).</summary>
    public const string KeyValueEncodingProperty = "kv.encoding.type";

    public string Name { get; init; } = string.Empty;

    public PulsarSchemaType Type { get; init; }

    public ReadOnlyMemory<byte> Data { get; init; }

    public IReadOnlyDictionary<string, string> Properties { get; init; } = new Dictionary<string, string>();

    /// <summary>
    /// For a KEY_VALUE schema, the encoding its <c>kv.encoding.type</c> property names; INLINE when
    /// the property is absent or empty (KeyValueSchemaInfo.decodeKeyValueEncodingType). Null for
    /// every other type, and for a value other than INLINE or SEPARATED.
    /// </summary>
    public KeyValueEncodingType? KeyValueEncoding
    {
        get
        {
            if (Type != PulsarSchemaType.KeyValue)
            {
                return null;
            }

            return Properties.TryGetValue(KeyValueEncodingProperty, out var value) && value.Length > 0
                ? value switch
                {
                    "INLINE" => KeyValueEncodingType.Inline,
                    "SEPARATED" => KeyValueEncodingType.Separated,
                    _ => null,
                }
                : KeyValueEncodingType.Inline;
        }
    }

    /// <summary>
    /// The KEY_VALUE schema with BYTES key and value that Pulsar IO's KafkaConnectSource records
    /// carry (getKeySchema/getValueSchema = Schema.BYTES with json-with-envelope, turned into
    /// KeyValueSchemaImpl.of(...) by the function runtime's SinkRecord.getSchema), laid out as
    /// KeyValueSchemaInfo.encodeKeyValueSchemaInfo does: schema data = KeyValue.encode of the two
    /// (empty) BYTES schema datas, the sub-schemas' name/type/properties as properties, and
    /// <c>kv.encoding.type</c>.
    /// </summary>
    public static PulsarSchema KeyValueOfBytes(KeyValueEncodingType encoding)
    {
        var data = new byte[8];
        BinaryPrimitives.WriteInt32BigEndian(data, 0);
        BinaryPrimitives.WriteInt32BigEndian(data.AsSpan(4), 0);
        return new PulsarSchema
        {
            Name = "KeyValue",
            Type = PulsarSchemaType.KeyValue,
            Data = data,
            Properties = new Dictionary<string, string>(StringComparer.Ordinal)
            {
                ["key.schema.name"] = "Bytes",
                ["key.schema.type"] = "BYTES",
                ["key.schema.properties"] = "{}",
                ["value.schema.name"] = "Bytes",
                ["value.schema.type"] = "BYTES",
                ["value.schema.properties"] = "{}",
                [KeyValueEncodingProperty] = encoding == KeyValueEncodingType.Inline ? "INLINE" : "SEPARATED",
            },
        };
    }

    internal Schema ToProto()
    {
        var proto = new Schema { Name = Name, Type = (Schema.Types.Type)Type, SchemaData = ByteString.CopyFrom(Data.Span) };
        foreach (var (key, value) in Properties.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            proto.Properties.Add(new KeyValue { Key = key, Value = value });
        }

        return proto;
    }

    internal static PulsarSchema FromProto(Schema proto) => new()
    {
        Name = proto.Name,
        Type = (PulsarSchemaType)proto.Type,
        Data = proto.SchemaData.ToByteArray(),
        Properties = proto.Properties.GroupBy(p => p.Key, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Last().Value, StringComparer.Ordinal),
    };
}
