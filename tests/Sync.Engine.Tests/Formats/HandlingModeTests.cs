using static Sync.Engine.Tests.Formats.Messages;

namespace Sync.Engine.Tests.Formats;

/// <summary>What each <c>decimal.handling.mode</c> and <c>binary.handling.mode</c> puts on the wire,
/// with schemas and without, and what sync stores: the Connect schema decides, because the connector
/// chose the type (docs/configuration.md, <c>connector.decimalHandlingMode</c>).</summary>
/// <remarks>Sources: debezium/debezium debezium-connector-common
/// io/debezium/config/CommonConnectorConfig.java (<c>BinaryHandlingMode</c>: BYTES →
/// <c>SchemaBuilder::bytes</c>, BASE64, BASE64_URL_SAFE and HEX → <c>SchemaBuilder::string</c>),
/// io/debezium/jdbc/JdbcValueConverters.java (<c>Base64.getEncoder()</c>, <c>Base64.getUrlEncoder()</c>,
/// <c>HexConverter.convertToHexString</c>, lower case in debezium-util HexConverter.HEX_CHARS),
/// io/debezium/relational/RelationalDatabaseConnectorConfig.java (<c>DecimalHandlingMode</c>
/// PRECISE/DOUBLE/STRING), debezium-connector-postgres PostgresValueConverter.java
/// (<c>BigDecimal.toPlainString()</c> in string mode); apache/kafka connect/json JsonConverter.java
/// (BYTES as a Jackson binary node, written as base64; FLOAT64 as a double node; Decimal as base64
/// bytes unless <c>decimal.format=NUMERIC</c>).</remarks>
public class HandlingModeTests
{
    [Fact]
    public void Precise_decimals_are_exact_decimals_with_and_without_a_scale_in_the_schema()
    {
        // 1230 unscaled, scale 2: base64 of 0x04CE.
        var (fixedScale, column) = Column("""{"type":"bytes","optional":true,"name":"org.apache.kafka.connect.data.Decimal","version":1,"parameters":{"scale":"2","connect.decimal.precision":"10"}}""", "\"BM4=\"");
        Assert.Equal(FieldValue.FromDecimalText("12.30"), fixedScale);
        Assert.Equal(LogicalType.Decimal, column.Type);

        // numeric without precision: VariableScaleDecimal {scale, value}; -99999 unscaled is 0xFE7961.
        var (variable, _) = Column("""{"type":"struct","fields":[{"type":"int32","optional":false,"field":"scale"},{"type":"bytes","optional":false,"field":"value"}],"optional":true,"name":"io.debezium.data.VariableScaleDecimal","version":1,"doc":"Variable scaled decimal"}""", """{"scale":2,"value":"/nlh"}""");
        Assert.Equal(FieldValue.FromDecimalText("-999.99"), variable);
    }

    [Fact]
    public void String_mode_decimals_are_the_connectors_text()
    {
        var (value, column) = Column("""{"type":"string","optional":true}""", "\"12.30\"");
        Assert.Equal(FieldValue.FromString("12.30"), value);
        Assert.Equal(LogicalType.String, column.Type);
    }

    [Fact]
    public void Double_mode_decimals_are_doubles()
    {
        var (value, column) = Column("""{"type":"double","optional":true}""", "12.3");
        Assert.Equal(FieldValue.FromDouble(12.3), value);
        Assert.Equal(LogicalType.Float64, column.Type);
    }

    [Fact]
    public void Bytes_mode_binary_is_bytes_from_the_base64_JsonConverter_writes()
    {
        var (value, column) = Column("""{"type":"bytes","optional":true}""", "\"3q2+7wD/\"");
        Assert.Equal(new byte[] { 0xDE, 0xAD, 0xBE, 0xEF, 0x00, 0xFF }, value.AsBytes);
        Assert.Equal(LogicalType.Bytes, column.Type);
    }

    [Theory]
    [InlineData("3q2+7wD/")] // base64
    [InlineData("3q2-7wD_")] // base64-url-safe
    [InlineData("deadbeef00ff")] // hex
    public void Text_mode_binary_is_the_connectors_text_because_its_schema_says_string(string text)
    {
        var (value, column) = Column("""{"type":"string","optional":true}""", $"\"{text}\"");
        Assert.Equal(FieldValue.FromString(text), value);
        Assert.Equal(LogicalType.String, column.Type);
    }

    [Fact]
    public void Without_schemas_values_stay_as_sent()
    {
        // Schemaless JsonConverter: a precise decimal is base64 of its unscaled bytes without the
        // scale, which nothing can turn back into a number; string and double modes arrive as text
        // and as a number.
        var e = Debezium(Bare("c", null, """{"id":1,"precise":"BM4=","text":"12.30","number":12.3,"bin":"3q2+7wD/"}"""), PlainKey("""{"id":1}"""));
        Assert.Equal(FieldValue.FromString("BM4="), e.After!["precise"]);
        Assert.Equal(FieldValue.FromString("12.30"), e.After["text"]);
        Assert.Equal(FieldValue.FromDecimalText("12.3"), e.After["number"]);
        Assert.Equal(FieldValue.FromString("3q2+7wD/"), e.After["bin"]);
    }

    [Fact]
    public void Geometry_is_kept_as_its_wkb_and_srid_in_json()
    {
        // io/debezium/data/geometry/Geometry.java: wkb BYTES, srid OPTIONAL_INT32 (and, in newer
        // versions, an optional extensions map). POINT(1 2) in WKB, little endian.
        var schema = """{"type":"struct","fields":[{"type":"bytes","optional":false,"field":"wkb"},{"type":"int32","optional":true,"field":"srid"}],"optional":true,"name":"io.debezium.data.geometry.Geometry","version":1,"doc":"Geometry"}""";
        var (value, column) = Column(schema, """{"wkb":"AQEAAAAAAAAAAADwPwAAAAAAAABA","srid":4326}""");

        Assert.Equal(FieldValue.FromJson("""{"wkb":"AQEAAAAAAAAAAADwPwAAAAAAAABA","srid":4326}"""), value);
        Assert.Equal(LogicalType.Nested, column.Type);
        Assert.Equal("io.debezium.data.geometry.Geometry", column.SemanticName);
    }

    [Fact]
    public void A_point_keeps_x_y_wkb_and_srid()
    {
        // io/debezium/data/geometry/Point.java: x, y FLOAT64, wkb OPTIONAL_BYTES, srid.
        var schema = """{"type":"struct","fields":[{"type":"double","optional":false,"field":"x"},{"type":"double","optional":false,"field":"y"},{"type":"bytes","optional":true,"field":"wkb"},{"type":"int32","optional":true,"field":"srid"}],"optional":true,"name":"io.debezium.data.geometry.Point","version":1,"doc":"Geometry (POINT)"}""";
        var (value, _) = Column(schema, """{"x":1.0,"y":2.0,"wkb":null,"srid":null}""");
        Assert.Equal(FieldValue.FromJson("""{"x":1.0,"y":2.0,"wkb":null,"srid":null}"""), value);
    }

    [Fact]
    public void A_year_is_an_int32()
    {
        var (value, column) = Column("""{"type":"int32","optional":true,"name":"io.debezium.time.Year","version":1}""", "2024");
        Assert.Equal(FieldValue.FromInt64(2024), value);
        Assert.Equal(LogicalType.Int32, column.Type);
    }

    /// <summary>A string field with Debezium's propagated source type (column.propagate.source.type).</summary>
    private static (FieldValue Value, ColumnSchema Column) Propagated(string sourceType, string json, string binaryMode, string scale = "")
    {
        var parameters = $$"""{"__debezium.source.column.type":"{{sourceType}}"{{(scale.Length > 0 ? $",\"__debezium.source.column.length\":\"10\",\"__debezium.source.column.scale\":\"{scale}\"" : string.Empty)}}}""";
        var json2 = Wrapped($$"""{"type":"int32","optional":false,"field":"id"},{"type":"string","optional":true,"parameters":{{parameters}},"field":"v"}""", "c", null, $$"""{"id":1,"v":{{json}}}""");
        var e = new Sync.Engine.Formats.DebeziumJsonDecoder(new Sync.Engine.Formats.DecoderOptions { BinaryHandlingMode = binaryMode }).Decode(Value(json2, PlainKey("""{"id":1}""")));
        return (e.After!["v"], e.After.Schema!.Find("v")!);
    }

    [Theory]
    [InlineData("base64", "\"3q2+7wD/\"")]
    [InlineData("base64-url-safe", "\"3q2-7wD_\"")]
    [InlineData("hex", "\"deadbeef00ff\"")]
    public void With_the_source_type_in_the_schema_the_binary_mode_turns_text_back_into_bytes(string mode, string json)
    {
        var (value, column) = Propagated("BYTEA", json, mode);
        Assert.Equal(new byte[] { 0xDE, 0xAD, 0xBE, 0xEF, 0x00, 0xFF }, value.AsBytes);
        Assert.Equal(LogicalType.Bytes, column.Type);
    }

    [Fact]
    public void Hex_text_is_not_read_as_base64_nor_the_other_way_round()
    {
        // "deadbeef" is valid base64 too: only the configured mode tells which it is.
        Assert.Equal(new byte[] { 0xDE, 0xAD, 0xBE, 0xEF }, Propagated("VARBINARY", "\"deadbeef\"", "hex").Value.AsBytes);
        Assert.Equal(Convert.FromBase64String("deadbeef"), Propagated("VARBINARY", "\"deadbeef\"", "base64").Value.AsBytes);
        Assert.Throws<Sync.Engine.Formats.DecodeException>(() => Propagated("BYTEA", "\"3q2+7w==\"", "hex"));
    }

    [Fact]
    public void Without_a_text_binary_mode_a_binary_source_type_stays_text()
    {
        var (value, column) = Propagated("BYTEA", "\"deadbeef\"", "bytes");
        Assert.Equal(FieldValue.FromString("deadbeef"), value);
        Assert.Equal(LogicalType.String, column.Type);
    }

    [Fact]
    public void With_the_source_type_in_the_schema_a_string_mode_decimal_is_an_exact_decimal()
    {
        var (value, column) = Propagated("NUMERIC", "\"-999.99\"", "bytes", scale: "2");
        Assert.Equal(FieldValue.FromDecimalText("-999.99"), value);
        Assert.Equal(LogicalType.Decimal, column.Type);
        Assert.Equal(2, column.Scale);
        Assert.Throws<Sync.Engine.Formats.DecodeException>(() => Propagated("NUMERIC", "\"NaN\"", "bytes"));
    }
}
