using static Sync.Engine.Tests.Formats.Messages;

namespace Sync.Engine.Tests.Formats;

public class DebeziumKeyTests
{
    private const string Alice = """{"id":42,"name":"Alice","price":"MDk=","born":-1}""";

    public static TheoryData<string, bool> KeyEncodings => new()
    {
        // Debezium Server: the JSON key text.
        { """{"id":42}""", false },
        // Pulsar IO's Debezium source: base64 of the key bytes (eyJpZCI6NDJ9 = {"id":42}).
        { "eyJpZCI6NDJ9", true },
        // Kafka JsonConverter with schemas enabled: {schema, payload}.
        { WrappedKey(UserKeySchema, """{"id":42}"""), false },
        // The same, base64 of the wrapped key bytes as Pulsar IO sends it with json-with-envelope=true.
        { Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes(WrappedKey(UserKeySchema, """{"id":42}"""))), true },
    };

    [Theory]
    [MemberData(nameof(KeyEncodings))]
    public void Every_key_encoding_gives_the_same_key(string text, bool isBase64)
    {
        foreach (var value in new[] { Wrapped(UserFields, "c", null, Alice), Bare("c", null, Alice) })
        {
            var e = Debezium(value, new MessageKey(text, isBase64));

            Assert.Equal(["id"], e.Key.Names);
            Assert.Equal([FieldValue.FromInt64(42)], e.Key.Values);
            Assert.Equal("""{"id":42}""", e.KeyText);
        }
    }

    [Theory]
    [MemberData(nameof(KeyEncodings))]
    public void Every_key_encoding_gives_the_same_tombstone_key(string text, bool isBase64)
    {
        var e = new DebeziumJsonDecoder(NoOptions).Decode(Tombstone(new MessageKey(text, isBase64)));

        Assert.Equal(["id"], e.Key.Names);
        Assert.Equal([FieldValue.FromInt64(42)], e.Key.Values);
        Assert.Equal("""{"id":42}""", e.KeyText);
    }

    [Fact]
    public void The_message_key_is_kept_exactly_as_received_in_the_origin()
    {
        var key = new MessageKey("eyJpZCI6NDJ9", true);
        var e = Debezium(Bare("c", null, Alice), key);

        Assert.Equal(key, e.Origin.Key);
    }

    [Fact]
    public void A_composite_key_keeps_its_columns_in_order()
    {
        var e = Debezium(Bare("c", null, """{"region":"eu","id":42}"""), Base64Key("""{"region":"eu","id":42}"""));

        Assert.Equal(["region", "id"], e.Key.Names);
        Assert.Equal("""{"region":"eu","id":42}""", e.KeyText);
    }

    [Fact]
    public void A_key_with_its_own_schema_carries_that_schema()
    {
        var e = Debezium(Bare("c", null, Alice), PlainKey(WrappedKey(UserKeySchema, """{"id":42}""")));

        Assert.Equal([new ColumnSchema("id", LogicalType.Int32, false)], e.Key.Schema!.Columns);
    }

    [Fact]
    public void A_key_without_a_schema_is_typed_by_the_value_schema()
    {
        var fields = """{"type":"string","optional":false,"name":"io.debezium.data.Uuid","version":1,"field":"id"},{"type":"int32","optional":false,"name":"io.debezium.time.Date","version":1,"field":"day"}""";
        var e = Debezium(
            Wrapped(fields, "c", null, """{"id":"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11","day":18262}"""),
            Base64Key("""{"id":"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11","day":18262}"""));

        Assert.Equal(ValueKind.Uuid, e.Key["id"].Kind);
        Assert.Equal(e.After!["day"], e.Key["day"]);
        Assert.Equal("""{"id":"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11","day":"2020-01-01"}""", e.KeyText);
        Assert.Equal(LogicalType.Uuid, e.Key.Schema!.Columns[0].Type);
    }

    [Fact]
    public void Key_schemas_of_one_shape_share_one_instance()
    {
        var decoder = new DebeziumJsonDecoder(NoOptions);
        var first = decoder.Decode(Value(Wrapped(UserFields, "c", null, Alice), PlainKey("""{"id":42}""")));
        var second = decoder.Decode(Value(Wrapped(UserFields, "c", null, """{"id":43}"""), PlainKey("""{"id":43}""")));

        Assert.NotNull(first.Key.Schema);
        Assert.Same(first.Key.Schema, second.Key.Schema);
    }

    [Fact]
    public void A_message_without_a_key_takes_the_key_columns_from_the_after_image()
    {
        var options = new DecoderOptions { KeyColumns = ["name", "id"] };
        var e = Debezium(Wrapped(UserFields, "c", null, Alice), options: options);

        Assert.Equal(["name", "id"], e.Key.Names);
        Assert.Equal("""{"name":"Alice","id":42}""", e.KeyText);
        Assert.Equal(LogicalType.String, e.Key.Schema!.Columns[0].Type);
    }

    [Fact]
    public void A_delete_without_a_key_takes_the_key_columns_from_the_before_image()
    {
        var options = new DecoderOptions { KeyColumns = ["id"] };
        var e = Debezium(Bare("d", Alice, null), options: options);

        Assert.Equal("""{"id":42}""", e.KeyText);
    }

    [Fact]
    public void A_message_without_a_key_and_without_key_columns_is_rejected()
    {
        var error = Assert.Throws<DecodeException>(() => Debezium(Bare("c", null, Alice)));

        Assert.Equal("message has no key; set keyColumns for tables without a primary key", error.Message);
    }

    [Fact]
    public void A_message_key_wins_over_key_columns()
    {
        var options = new DecoderOptions { KeyColumns = ["name"] };
        var e = Debezium(Bare("c", null, Alice), PlainKey("""{"id":42}"""), options);

        Assert.Equal("""{"id":42}""", e.KeyText);
    }

    [Fact]
    public void An_empty_key_text_is_no_key()
    {
        var options = new DecoderOptions { KeyColumns = ["id"] };
        var e = Debezium(Bare("c", null, Alice), PlainKey(string.Empty), options);

        Assert.Equal("""{"id":42}""", e.KeyText);
    }
}
