using static Sync.Engine.Tests.Formats.Messages;

namespace Sync.Engine.Tests.Formats;

/// <summary>Schemas spelled exactly as Kafka's JsonConverter writes them (apache/kafka
/// connect/json JsonSchema and JsonConverter.asJsonSchema): FLOAT32 and FLOAT64 are "float" and
/// "double", every field carries "optional", and "name", "version", "doc", "parameters" (string
/// values) and "default" (the default converted like a value of the field) appear when set.</summary>
public class JsonConverterSchemaTests
{
    [Theory]
    [InlineData("float", "0.75", 0.75, LogicalType.Float32)]
    [InlineData("double", "8.625", 8.625, LogicalType.Float64)]
    [InlineData("double", "-1.0E-7", -1.0E-7, LogicalType.Float64)]
    [InlineData("float32", "0.75", 0.75, LogicalType.Float32)]
    [InlineData("float64", "8.625", 8.625, LogicalType.Float64)]
    public void Float_and_double_decode_like_float32_and_float64(string type, string json, double expected, LogicalType logical)
    {
        var (value, column) = Column($$"""{"type":"{{type}}","optional":true}""", json);

        Assert.Equal(ValueKind.Double, value.Kind);
        Assert.Equal(expected, value.AsDouble);
        Assert.Equal(new ColumnSchema("v", logical, true), column);
    }

    // JsonConverter's serializer is a plain Jackson ObjectMapper (apache/kafka JsonSerializer), and
    // Jackson's JsonGenerator.Feature.QUOTE_NON_NUMERIC_NUMBERS is on by default: NaN and the
    // infinities go out as the strings Double.toString / Float.toString give.
    [Theory]
    [InlineData("float", "\"NaN\"", double.NaN)]
    [InlineData("double", "\"Infinity\"", double.PositiveInfinity)]
    [InlineData("double", "\"-Infinity\"", double.NegativeInfinity)]
    public void Non_finite_floats_arrive_as_the_strings_Jackson_writes(string type, string json, double expected)
    {
        var (value, _) = Column($$"""{"type":"{{type}}","optional":true}""", json);

        Assert.Equal(expected, value.AsDouble);
    }

    /// <summary>The after image of a MySQL products row (Debezium's tutorial table: weight FLOAT,
    /// which the MySQL connector maps to FLOAT32 — "FLOAT[(P)]" in Debezium's MySQL data type table)
    /// with a DOUBLE price, a Decimal with both parameters, Connect-mode temporals
    /// (time.precision.mode=connect: org.apache.kafka.connect.data.Date days, Time and Timestamp ms),
    /// and defaults, versions and a doc, as asJsonSchema writes them.</summary>
    private const string ProductFields =
        """{"type":"int32","optional":false,"default":0,"field":"id"},"""
        + """{"type":"string","optional":false,"default":"","doc":"product name","field":"name"},"""
        + """{"type":"float","optional":true,"field":"weight"},"""
        + """{"type":"double","optional":true,"default":0.0,"field":"price"},"""
        + """{"type":"bytes","optional":true,"name":"org.apache.kafka.connect.data.Decimal","version":1,"parameters":{"scale":"2","connect.decimal.precision":"8"},"default":"AA==","field":"cost"},"""
        + """{"type":"int32","optional":true,"name":"org.apache.kafka.connect.data.Date","version":1,"field":"released"},"""
        + """{"type":"int32","optional":true,"name":"org.apache.kafka.connect.data.Time","version":1,"field":"cutoff"},"""
        + """{"type":"int64","optional":true,"name":"org.apache.kafka.connect.data.Timestamp","version":1,"default":0,"field":"updated"}""";

    [Fact]
    public void A_row_with_every_schema_attribute_JsonConverter_writes_decodes_exactly()
    {
        var e = Debezium(
            Wrapped(ProductFields, "c", null, """{"id":101,"name":"scooter","weight":3.14,"price":19.99,"cost":"MDk=","released":19000,"cutoff":3723004,"updated":-86400001}"""),
            PlainKey("""{"id":101}"""));

        var after = e.After!;
        Assert.Equal(FieldValue.FromInt64(101), after["id"]);
        Assert.Equal(FieldValue.FromString("scooter"), after["name"]);
        Assert.Equal(3.14, after["weight"].AsDouble);
        Assert.Equal(19.99, after["price"].AsDouble);
        // 0x3039 = 12345 at scale 2.
        Assert.Equal("123.45", after["cost"].ToText());
        Assert.Equal("2022-01-08", after["released"].ToText());
        Assert.Equal("01:02:03.004", after["cutoff"].ToText());
        Assert.Equal("1969-12-30T23:59:59.999", after["updated"].ToText());

        var schema = after.Schema!;
        Assert.Equal(
            [LogicalType.Int32, LogicalType.String, LogicalType.Float32, LogicalType.Float64, LogicalType.Decimal, LogicalType.Date, LogicalType.Time, LogicalType.Timestamp],
            schema.Columns.Select(c => c.Type));
        Assert.Equal((8, 2), (schema.Find("cost")!.Precision, schema.Find("cost")!.Scale));
        Assert.Equal(3, schema.Find("updated")!.Precision);
    }

    // Debezium's SchemaFactory.datatypeXmlSchema and PostgresSchemaFactory.datatypeLtreeSchema are
    // SchemaBuilder.string() with a name and version 1; io.debezium.time.Interval (PostgreSQL's
    // interval.handling.mode=string) is a string too, built by Interval.toIsoString as PnYnMnDTnHnMnS.
    [Theory]
    [InlineData("io.debezium.data.Xml", "<order id=\"7\"><line sku=\"A-1\"/></order>")]
    [InlineData("io.debezium.data.Ltree", "Top.Science.Astronomy")]
    [InlineData("io.debezium.time.Interval", "P1Y2M3DT4H5M6.78S")]
    [InlineData("io.debezium.time.Interval", "P0Y0M-3DT-1H0M0S")]
    public void Xml_ltree_and_string_intervals_are_kept_as_the_text_the_connector_wrote(string name, string text)
    {
        var json = System.Text.Json.JsonSerializer.Serialize(text);

        var (value, column) = Column($$"""{"type":"string","optional":true,"name":"{{name}}","version":1}""", json);

        Assert.Equal(FieldValue.FromString(text), value);
        Assert.Equal(new ColumnSchema("v", LogicalType.String, true, name), column);
    }

    [Fact]
    public void An_unknown_type_name_is_an_error_that_names_the_field_and_its_path()
    {
        var error = Assert.Throws<DecodeException>(() => Column("""{"type":"float128","optional":true}""", "1.5"));

        Assert.Equal(
            "schema.fields[1].fields[1].type: unknown Kafka Connect type 'float128' of field 'v' (expected int8, int16, int32, int64, float, double, boolean, string, bytes, struct, array or map)",
            error.Message);
    }

    [Fact]
    public void A_known_name_on_an_unknown_type_is_still_an_unknown_type()
    {
        var error = Assert.Throws<DecodeException>(() => Column("""{"type":"text","optional":true,"name":"io.debezium.data.Xml","version":1}""", "\"<a/>\""));

        Assert.StartsWith("schema.fields[1].fields[1].type: unknown Kafka Connect type 'text' of field 'v'", error.Message, StringComparison.Ordinal);
    }
}
