using static Sync.Engine.Tests.Formats.Messages;

namespace Sync.Engine.Tests.Formats;

public class JsonRowDecoderTests
{
    private static ChangeEvent Decode(string json, MessageKey key = default, DecoderOptions? options = null) =>
        new JsonRowDecoder(options ?? NoOptions).Decode(Value(json, key));

    [Fact]
    public void A_row_is_an_upsert_of_its_key()
    {
        var e = Decode("""{"id":7,"name":"Ann","score":12.50}""", PlainKey("""{"id":7}"""));

        Assert.Equal(ChangeOp.Update, e.Op);
        Assert.False(e.IsDelete);
        Assert.Equal("""{"id":7}""", e.KeyText);
        Assert.Equal(["id", "name", "score"], e.After!.Names);
        Assert.Equal("12.50", e.After["score"].ToText());
        Assert.Null(e.Before);
        Assert.Null(e.Source);
        Assert.Same(e.After, e.Image);
    }

    [Fact]
    public void A_null_value_deletes_its_key()
    {
        var e = new JsonRowDecoder(NoOptions).Decode(Tombstone(PlainKey("""{"id":7}""")));

        Assert.Equal(ChangeOp.Tombstone, e.Op);
        Assert.True(e.IsDelete);
        Assert.Equal("""{"id":7}""", e.KeyText);
        Assert.Null(e.After);
    }

    [Fact]
    public void An_empty_value_and_a_JSON_null_delete_their_key()
    {
        var decoder = new JsonRowDecoder(NoOptions);

        Assert.Equal(ChangeOp.Tombstone, decoder.Decode(Bytes([], PlainKey("7"))).Op);
        Assert.Equal(ChangeOp.Tombstone, decoder.Decode(Value("null", PlainKey("7"))).Op);
    }

    [Theory]
    [InlineData("42", false, 42L)]
    [InlineData("NDI=", true, 42L)]
    public void A_numeric_scalar_key_is_one_int64_column(string text, bool isBase64, long expected)
    {
        var e = Decode("""{"name":"Ann"}""", new MessageKey(text, isBase64));

        Assert.Equal(["key"], e.Key.Names);
        Assert.Equal([FieldValue.FromInt64(expected)], e.Key.Values);
    }

    [Theory]
    [InlineData("user-42", "user-42")]
    [InlineData("\"user-42\"", "user-42")]
    [InlineData("12.5", "12.5")]
    [InlineData("true", "true")]
    public void A_text_key_or_other_scalar_is_one_string_column(string text, string expected)
    {
        var e = Decode("""{"name":"Ann"}""", PlainKey(text), new DecoderOptions { ScalarKeyColumn = "user_id" });

        Assert.Equal(["user_id"], e.Key.Names);
        Assert.Equal([FieldValue.FromString(expected)], e.Key.Values);
    }

    [Fact]
    public void An_object_key_in_any_encoding_gives_its_fields()
    {
        var plain = Decode("""{"a":1}""", PlainKey("""{"tenant":"t1","id":7}"""));
        var base64 = Decode("""{"a":1}""", Base64Key("""{"tenant":"t1","id":7}"""));

        Assert.Equal(["tenant", "id"], plain.Key.Names);
        Assert.Equal(plain.Key.Values, base64.Key.Values);
        Assert.Equal(plain.KeyText, base64.KeyText);
    }

    [Fact]
    public void A_schema_wrapped_row_is_typed_by_its_schema()
    {
        var json = """{"schema":{"type":"struct","fields":[{"type":"int64","optional":false,"field":"id"},{"type":"int64","optional":true,"name":"org.apache.kafka.connect.data.Timestamp","version":1,"field":"seen"},{"type":"bytes","optional":true,"name":"org.apache.kafka.connect.data.Decimal","version":1,"parameters":{"scale":"2"},"field":"amount"}],"optional":false,"name":"events"},"payload":{"id":7,"seen":-1,"amount":"z8c="}}""";
        var e = Decode(json, PlainKey("""{"id":7}"""));

        Assert.Equal("1969-12-31T23:59:59.999", e.After!["seen"].ToText());
        Assert.Equal("-123.45", e.After["amount"].ToText());
        Assert.Equal(LogicalType.Timestamp, e.After.Schema!.Find("seen")!.Type);
    }

    [Fact]
    public void Without_a_key_the_key_columns_come_from_the_row()
    {
        var e = Decode("""{"id":7,"name":"Ann"}""", options: new DecoderOptions { KeyColumns = ["id"] });

        Assert.Equal("""{"id":7}""", e.KeyText);
    }

    [Fact]
    public void Without_a_key_or_key_columns_the_row_is_rejected()
    {
        var error = Assert.Throws<DecodeException>(() => Decode("""{"id":7}"""));

        Assert.Equal("message has no key; set keyColumns for tables without a primary key", error.Message);
    }

    [Fact]
    public void A_value_that_is_not_an_object_is_rejected()
    {
        var error = Assert.Throws<DecodeException>(() => Decode("[1,2]", PlainKey("1")));

        Assert.Equal("value: expected a JSON object (a row), found Array", error.Message);
    }
}
