namespace Sync.Engine.Tests.Formats;

/// <summary>Builds source messages and Debezium envelopes for decoder tests.</summary>
internal static class Messages
{
    public const string Topic = "persistent://public/default/db1.public.users";

    public static readonly DecoderOptions NoOptions = new();

    public static SourceMessage Value(string json, MessageKey key = default) => Bytes(Encoding.UTF8.GetBytes(json), key);

    public static SourceMessage Bytes(byte[] value, MessageKey key = default) => new()
    {
        Topic = Topic,
        Position = new StreamPosition(7, 3),
        Key = key,
        Value = value,
        PublishTime = new DateTimeOffset(2026, 1, 2, 3, 4, 5, TimeSpan.Zero),
    };

    public static SourceMessage Tombstone(MessageKey key) => new()
    {
        Topic = Topic,
        Position = new StreamPosition(7, 4),
        Key = key,
        HasValue = false,
    };

    /// <summary>Debezium Server: the key is the JSON text itself.</summary>
    public static MessageKey PlainKey(string json) => new(json, false);

    /// <summary>Pulsar IO's Debezium source: base64 of the key bytes, flagged partition_key_b64_encoded.</summary>
    public static MessageKey Base64Key(string json) => MessageKey.FromBytesAsBase64(Encoding.UTF8.GetBytes(json));

    public static ChangeEvent Debezium(string json, MessageKey key = default, DecoderOptions? options = null) =>
        new DebeziumJsonDecoder(options ?? NoOptions).Decode(Value(json, key));

    /// <summary>The <c>source</c> block of a Debezium 2.x PostgreSQL event.</summary>
    public const string Source =
        """{"version":"2.7.3.Final","connector":"postgresql","name":"db1","ts_ms":1700000000000,"snapshot":"false","db":"shop","sequence":"[null,\"24023128\"]","schema":"public","table":"users","txId":748,"lsn":24023128,"xmin":null}""";

    public const string SourceSchema =
        """{"type":"struct","fields":[{"type":"string","optional":false,"field":"version"},{"type":"string","optional":false,"field":"connector"},{"type":"string","optional":false,"field":"name"},{"type":"int64","optional":false,"field":"ts_ms"},{"type":"string","optional":true,"name":"io.debezium.data.Enum","version":1,"parameters":{"allowed":"true,last,false,incremental"},"default":"false","field":"snapshot"},{"type":"string","optional":false,"field":"db"},{"type":"string","optional":true,"field":"sequence"},{"type":"string","optional":false,"field":"schema"},{"type":"string","optional":false,"field":"table"},{"type":"int64","optional":true,"field":"txId"},{"type":"int64","optional":true,"field":"lsn"},{"type":"int64","optional":true,"field":"xmin"}],"optional":false,"name":"io.debezium.connector.postgresql.Source","field":"source"}""";

    /// <summary>Columns of the users table: id int32 key, name string, price Decimal(10,2), born Date.</summary>
    public const string UserFields =
        """{"type":"int32","optional":false,"default":0,"field":"id"},{"type":"string","optional":true,"field":"name"},{"type":"bytes","optional":true,"name":"org.apache.kafka.connect.data.Decimal","version":1,"parameters":{"scale":"2","connect.decimal.precision":"10"},"field":"price"},{"type":"int32","optional":true,"name":"io.debezium.time.Date","version":1,"field":"born"}""";

    /// <summary>A bare Debezium payload (JsonConverter with schemas disabled; Pulsar IO's default).</summary>
    public static string Bare(string op, string? before, string? after, string source = Source) =>
        $$"""{"before":{{before ?? "null"}},"after":{{after ?? "null"}},"source":{{source}},"op":"{{op}}","ts_ms":1700000000123,"transaction":null}""";

    /// <summary>The same payload wrapped with its schema (JsonConverter with schemas enabled).</summary>
    public static string Wrapped(string rowFields, string op, string? before, string? after) =>
        $$"""{"schema":{{EnvelopeSchema(rowFields)}},"payload":{{Bare(op, before, after)}}}""";

    public static string EnvelopeSchema(string rowFields) =>
        $$"""{"type":"struct","fields":[{"type":"struct","fields":[{{rowFields}}],"optional":true,"name":"db1.public.users.Value","field":"before"},{"type":"struct","fields":[{{rowFields}}],"optional":true,"name":"db1.public.users.Value","field":"after"},{{SourceSchema}},{"type":"string","optional":false,"field":"op"},{"type":"int64","optional":true,"field":"ts_ms"},{"type":"struct","fields":[{"type":"string","optional":false,"field":"id"},{"type":"int64","optional":false,"field":"total_order"},{"type":"int64","optional":false,"field":"data_collection_order"}],"optional":true,"name":"event.block","version":1,"field":"transaction"}],"optional":false,"name":"db1.public.users.Envelope","version":2}""";

    /// <summary>The key schema JsonConverter writes for the users table's primary key.</summary>
    public const string UserKeySchema = """{"type":"struct","fields":[{"type":"int32","optional":false,"default":0,"field":"id"}],"optional":false,"name":"db1.public.users.Key"}""";

    public static string WrappedKey(string schema, string payload) => $$"""{"schema":{{schema}},"payload":{{payload}}}""";

    /// <summary>Decodes a users event whose after image has one extra column <c>v</c> with the given
    /// field schema (without its <c>field</c> name) and JSON value.</summary>
    public static (FieldValue Value, ColumnSchema Column) Column(string fieldSchema, string json)
    {
        var trimmed = fieldSchema.TrimEnd();
        var field = trimmed[..^1] + ""","field":"v"}""";
        var e = Debezium(Wrapped($$"""{"type":"int32","optional":false,"field":"id"},{{field}}""", "c", null, $$"""{"id":1,"v":{{json}}}"""), PlainKey("""{"id":1}"""));
        return (e.After!["v"], e.After.Schema!.Find("v")!);
    }

    /// <summary>Like <see cref="Column"/> with a schema given by its name and Connect type.</summary>
    public static FieldValue Semantic(string name, string type, string json) =>
        Column($$"""{"type":"{{type}}","optional":true,"name":"{{name}}","version":1}""", json).Value;
}
