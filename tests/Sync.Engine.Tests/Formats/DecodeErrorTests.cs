using Snapshooter.Xunit;
using static Sync.Engine.Tests.Formats.Messages;

namespace Sync.Engine.Tests.Formats;

public class DecodeErrorTests
{
    private static readonly MessageKey Key1 = PlainKey("""{"id":1}""");

    /// <summary>Bad inputs, each with a value that stands for personal data and must not appear in the message.</summary>
    private static readonly (string Case, string Secret, Action Decode)[] Cases =
    [
        ("malformed JSON", "alice", () => Debezium("{\"op\":\"c\",\n\"after\":{\"name\":alice}}", Key1)),
        ("truncated JSON", "Alice", () => Debezium("""{"op":"c","after":{"name":"Alice""", Key1)),
        ("duplicate property", "Alice", () => Debezium("""{"op":"c","after":{"name":"Alice","name":"Alice"}}""", Key1)),
        ("value not valid UTF-8", "Zoe", () => new DebeziumJsonDecoder(NoOptions).Decode(Bytes([.. "{\"op\":\"c\",\"after\":{\"name\":\"Zoe"u8, 0xC3, 0x28, .. "\"}}"u8], Key1))),
        ("unpaired surrogate escape", "Alice", () => Debezium("""{"op":"c","after":{"name":"Alice\ud800"}}""", Key1)),
        ("unpaired surrogate in a property name", "Alice", () => Debezium("""{"op":"c","after":{"Alice\ud800":1,"Alice\ud800":2}}""", Key1)),
        ("value is an array", "Alice", () => Debezium("""["Alice"]""", Key1)),
        ("payload is a string", "Alice", () => Debezium("""{"schema":null,"payload":"Alice"}""", Key1)),
        ("op missing", "Alice", () => Debezium("""{"after":{"name":"Alice"}}""", Key1)),
        ("op unknown", "Alice", () => Debezium("""{"op":"Alice","after":{"name":"Alice"}}""", Key1)),
        ("op a number", "4711", () => Debezium("""{"op":4711}""", Key1)),
        ("create without after", "Alice", () => Debezium(Bare("c", """{"name":"Alice"}""", null), Key1)),
        ("after a string", "Alice", () => Debezium("""{"op":"u","after":"Alice"}""", Key1)),
        ("source not an object", "Alice", () => Debezium("""{"op":"c","after":{"id":1},"source":"Alice"}""", Key1)),
        ("source db a number", "4711", () => Debezium("""{"op":"c","after":{"id":1},"source":{"db":4711}}""", Key1)),
        ("ts_ms a string", "Alice", () => Debezium("""{"op":"c","after":{"id":1},"ts_ms":"Alice"}""", Key1)),
        ("Decimal as boolean", "true", () => Column(DecimalSchema, "true")),
        ("Decimal bad base64", "Alice", () => Column(DecimalSchema, "\"Alice!!\"")),
        ("Date as string", "1980-05-17", () => Semantic("io.debezium.time.Date", "int32", "\"1980-05-17\"")),
        ("Date out of range", "2147483647", () => Semantic("io.debezium.time.Date", "int32", "2147483647")),
        ("MicroTimestamp as string", "1980-05-17", () => Semantic("io.debezium.time.MicroTimestamp", "int64", "\"1980-05-17\"")),
        ("MicroTimestamp out of range", "9223372036825200000", () => Semantic("io.debezium.time.MicroTimestamp", "int64", "9223372036825200000")),
        ("MicroTime negative", "-5000", () => Semantic("io.debezium.time.MicroTime", "int64", "-5000")),
        ("ZonedTimestamp impossible date", "1980-02-30", () => Semantic("io.debezium.time.ZonedTimestamp", "string", "\"1980-02-30T10:00:00Z\"")),
        ("ZonedTimestamp as number", "1980", () => Semantic("io.debezium.time.ZonedTimestamp", "string", "1980")),
        ("ZonedTime without offset", "10:15:30", () => Semantic("io.debezium.time.ZonedTime", "string", "\"10:15:30\"")),
        ("Uuid malformed", "alice@example.com", () => Semantic("io.debezium.data.Uuid", "string", "\"alice@example.com\"")),
        ("Json not JSON", "alice", () => Semantic("io.debezium.data.Json", "string", "\"{alice\"")),
        ("VariableScaleDecimal as string", "1234.5", () => Column(VariableScaleDecimalSchema, "\"1234.5\"")),
        ("VariableScaleDecimal without scale", "MDk=", () => Column(VariableScaleDecimalSchema, """{"value":"MDk="}""")),
        ("VariableScaleDecimal bad value", "Alice", () => Column(VariableScaleDecimalSchema, """{"scale":2,"value":"Alice!!"}""")),
        ("MicroDuration as string", "P1D", () => Semantic("io.debezium.time.MicroDuration", "int64", "\"P1D\"")),
        ("int32 out of range", "3000000000", () => Column("""{"type":"int32","optional":true}""", "3000000000")),
        ("int64 with a fraction", "1.5", () => Column("""{"type":"int64","optional":true}""", "1.5")),
        ("float64 word", "Alice", () => Column("""{"type":"float64","optional":true}""", "\"Alice\"")),
        ("float64 overflow", "1e999", () => Column("""{"type":"float64","optional":true}""", "1e999")),
        ("boolean as string", "yes", () => Column("""{"type":"boolean","optional":true}""", "\"yes\"")),
        ("string as number", "4711", () => Column("""{"type":"string","optional":true}""", "4711")),
        ("bytes as number", "4711", () => Column("""{"type":"bytes","optional":true}""", "4711")),
        ("struct as array", "Alice", () => Column("""{"type":"struct","fields":[],"optional":true}""", """["Alice"]""")),
        ("field not in schema", "Alice", () => Debezium(Wrapped(UserFields, "c", null, """{"id":1,"email":"Alice"}"""), Key1)),
        ("schema type unknown", "Alice", () => Column("""{"type":"int128","optional":true}""", "\"Alice\"")),
        ("Decimal schema without scale", "Alice", () => Column("""{"type":"bytes","optional":true,"name":"org.apache.kafka.connect.data.Decimal"}""", "\"Alice\"")),
        ("envelope schema not a struct", "Alice", () => Debezium("""{"schema":{"type":"string"},"payload":{"op":"c","after":{"name":"Alice"}}}""", Key1)),
        ("row schema without fields", "Alice", () => Debezium("""{"schema":{"type":"struct","fields":[{"type":"struct","field":"after"}]},"payload":{"op":"c","after":{"name":"Alice"}}}""", Key1)),
        ("no key", "Alice", () => Debezium(Bare("c", null, """{"name":"Alice"}"""))),
        ("key column not in the row", "Alice", () => Debezium(Bare("c", null, """{"name":"Alice"}"""), options: new DecoderOptions { KeyColumns = ["id"] })),
        ("delete without key or before image", "Alice", () => Debezium(Bare("d", null, null), options: new DecoderOptions { KeyColumns = ["id"] })),
        ("tombstone without key", "Alice", () => new DebeziumJsonDecoder(NoOptions).Decode(Tombstone(default))),
        ("key not base64", "Alice", () => Debezium(Bare("c", null, """{"id":1}"""), new MessageKey("Alice!!", true))),
        ("key malformed JSON", "Alice", () => Debezium(Bare("c", null, """{"id":1}"""), PlainKey("""{"id":Alice}"""))),
        ("key not an object", "Alice", () => Debezium(Bare("c", null, """{"id":1}"""), PlainKey("\"Alice\""))),
        ("key value against key schema", "Alice", () => Debezium(Bare("c", null, """{"id":1}"""), PlainKey(WrappedKey(UserKeySchema, """{"id":"Alice"}""")))),
        ("key value against value schema", "Alice", () => Debezium(Wrapped(UserFields, "c", null, """{"id":1}"""), PlainKey("""{"id":"Alice"}"""))),
        ("json row not an object", "Alice", () => new JsonRowDecoder(NoOptions).Decode(Value("\"Alice\"", PlainKey("1")))),
        ("json row against its schema", "Alice", () => new JsonRowDecoder(NoOptions).Decode(Value("""{"schema":{"type":"struct","fields":[{"type":"int32","optional":false,"field":"id"}]},"payload":{"id":"Alice"}}""", PlainKey("1")))),
    ];

    private const string DecimalSchema = """{"type":"bytes","optional":true,"name":"org.apache.kafka.connect.data.Decimal","version":1,"parameters":{"scale":"2"}}""";

    private const string VariableScaleDecimalSchema = """{"type":"struct","fields":[{"type":"int32","optional":false,"field":"scale"},{"type":"bytes","optional":false,"field":"value"}],"optional":true,"name":"io.debezium.data.VariableScaleDecimal","version":1}""";

    private static string MessageOf(Action decode)
    {
        try
        {
            decode();
        }
        catch (DecodeException e)
        {
            return e.Message;
        }

        throw new Xunit.Sdk.XunitException("expected a DecodeException");
    }

    [Fact]
    public void Bad_inputs_give_messages_that_name_the_path_of_the_problem()
    {
        var messages = Cases.Select(c => new { c.Case, Message = MessageOf(c.Decode) }).ToList();

        Snapshot.Match(messages);
    }

    [Fact]
    public void No_message_contains_the_value_it_rejects()
    {
        foreach (var (name, secret, decode) in Cases)
        {
            var message = MessageOf(decode);
            Assert.False(message.Contains(secret, StringComparison.OrdinalIgnoreCase), $"{name}: '{message}' contains the value");
        }
    }

    [Fact]
    public void The_example_from_the_design_names_the_decimal_column()
    {
        var message = MessageOf(() => Column(DecimalSchema, "[1]"));

        Assert.Equal("payload.after.v: expected base64 bytes or a number for org.apache.kafka.connect.data.Decimal, found Array", message);
    }

    [Fact]
    public void Malformed_JSON_names_the_byte_offset_across_lines()
    {
        var json = "{\"op\":\"c\",\n\"after\":{\"name\":x}}";
        var message = MessageOf(() => Debezium(json, Key1));

        Assert.Equal($"value: malformed JSON at byte offset {json.IndexOf('x', StringComparison.Ordinal)}", message);
        Assert.Equal(json.IndexOf('x', StringComparison.Ordinal), Encoding.UTF8.GetByteCount(json[..json.IndexOf('x', StringComparison.Ordinal)]));
    }
}
