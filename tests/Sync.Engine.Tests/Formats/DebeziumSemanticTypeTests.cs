using static Sync.Engine.Tests.Formats.Messages;

namespace Sync.Engine.Tests.Formats;

/// <summary>Golden inputs as Debezium writes them, with the expected values written out by hand.</summary>
public class DebeziumSemanticTypeTests
{
    [Theory]
    [InlineData("io.debezium.time.Date", "0", "1970-01-01")]
    [InlineData("io.debezium.time.Date", "-1", "1969-12-31")]
    [InlineData("io.debezium.time.Date", "18262", "2020-01-01")]
    [InlineData("io.debezium.time.Date", "-719162", "0001-01-01")]
    [InlineData("io.debezium.time.Date", "2932896", "9999-12-31")]
    [InlineData("org.apache.kafka.connect.data.Date", "19000", "2022-01-08")]
    public void Dates_are_days_since_1970(string name, string json, string expected)
    {
        var value = Semantic(name, "int32", json);

        Assert.Equal(ValueKind.Date, value.Kind);
        Assert.Equal(expected, value.ToText());
    }

    [Theory]
    [InlineData("io.debezium.time.Time", "int32", "0", "00:00:00", 0L)]
    [InlineData("io.debezium.time.Time", "int32", "3723004", "01:02:03.004", 3_723_004_000_000L)]
    [InlineData("org.apache.kafka.connect.data.Time", "int32", "3723004", "01:02:03.004", 3_723_004_000_000L)]
    [InlineData("io.debezium.time.MicroTime", "int64", "45296789012", "12:34:56.789012", 45_296_789_012_000L)]
    [InlineData("io.debezium.time.NanoTime", "int64", "45296123456789", "12:34:56.123456789", 45_296_123_456_789L)]
    [InlineData("io.debezium.time.MicroTime", "int64", "86400000000", "24:00:00", 86_400_000_000_000L)]
    public void Times_become_nanoseconds_of_the_day(string name, string type, string json, string expected, long nanos)
    {
        var value = Semantic(name, type, json);

        Assert.Equal(ValueKind.Time, value.Kind);
        Assert.Equal(nanos, value.AsInt64);
        Assert.Equal(expected, value.ToText());
    }

    [Theory]
    [InlineData("io.debezium.time.Timestamp", "1577836800123", TimeUnit.Milliseconds, "2020-01-01T00:00:00.123")]
    [InlineData("org.apache.kafka.connect.data.Timestamp", "-86400001", TimeUnit.Milliseconds, "1969-12-30T23:59:59.999")]
    [InlineData("io.debezium.time.MicroTimestamp", "-1", TimeUnit.Microseconds, "1969-12-31T23:59:59.999999")]
    [InlineData("io.debezium.time.MicroTimestamp", "0", TimeUnit.Microseconds, "1970-01-01T00:00:00")]
    [InlineData("io.debezium.time.MicroTimestamp", "-1000000", TimeUnit.Microseconds, "1969-12-31T23:59:59")]
    [InlineData("io.debezium.time.MicroTimestamp", "-62135596800000000", TimeUnit.Microseconds, "0001-01-01T00:00:00")]
    [InlineData("io.debezium.time.MicroTimestamp", "1577836800000001", TimeUnit.Microseconds, "2020-01-01T00:00:00.000001")]
    [InlineData("io.debezium.time.NanoTimestamp", "1577836800123456789", TimeUnit.Nanoseconds, "2020-01-01T00:00:00.123456789")]
    [InlineData("io.debezium.time.NanoTimestamp", "-1", TimeUnit.Nanoseconds, "1969-12-31T23:59:59.999999999")]
    public void Timestamps_keep_their_count_and_unit_exactly_before_and_after_1970(string name, string json, TimeUnit unit, string expected)
    {
        var value = Semantic(name, "int64", json);

        Assert.Equal(ValueKind.Timestamp, value.Kind);
        Assert.Equal(unit, value.Unit);
        Assert.Equal(long.Parse(json, System.Globalization.CultureInfo.InvariantCulture), value.AsInt64);
        Assert.Equal(expected, value.ToText());
    }

    [Theory]
    [InlineData("\"2020-01-01T10:15:30Z\"")]
    [InlineData("\"2020-01-01T10:15:30.123456789Z\"")]
    [InlineData("\"1969-07-20T20:17:40+01:00\"")]
    [InlineData("\"2024-02-29T23:59:59.5-05:30\"")]
    [InlineData("\"infinity\"")]
    public void Zoned_timestamps_are_kept_as_the_ISO_text_Debezium_wrote(string json)
    {
        var value = Semantic("io.debezium.time.ZonedTimestamp", "string", json);

        Assert.Equal(ValueKind.TimestampTz, value.Kind);
        Assert.Equal(json.Trim('"'), value.ToText());
    }

    [Theory]
    [InlineData("\"10:15:30Z\"")]
    [InlineData("\"10:15:30.123456+02:00\"")]
    public void Zoned_times_are_kept_as_ISO_text(string json)
    {
        var value = Semantic("io.debezium.time.ZonedTime", "string", json);

        Assert.Equal(ValueKind.TimeTz, value.Kind);
        Assert.Equal(json.Trim('"'), value.ToText());
    }

    [Theory]
    [InlineData("z8c=", "2", "-123.45")]
    [InlineData("MDk=", "2", "123.45")]
    [InlineData("AA==", "0", "0")]
    [InlineData("AA==", "2", "0.00")]
    [InlineData("AQ==", "5", "0.00001")]
    [InlineData("/w==", "0", "-1")]
    [InlineData("AIA=", "1", "12.8")]
    [InlineData("A6DJIHXA2/O4rLxfls4/CtI=", "10", "123456789012345678901234567890.1234567890")]
    public void Decimals_are_the_exact_unscaled_value_at_the_schema_scale(string base64, string scale, string expected)
    {
        var (value, column) = Column(
            $$$"""{"type":"bytes","optional":true,"name":"org.apache.kafka.connect.data.Decimal","version":1,"parameters":{"scale":"{{{scale}}}","connect.decimal.precision":"40"}}""",
            $"\"{base64}\"");

        Assert.Equal(ValueKind.Decimal, value.Kind);
        Assert.Equal(expected, value.ToText());
        Assert.Equal(LogicalType.Decimal, column.Type);
        Assert.Equal(40, column.Precision);
        Assert.Equal(int.Parse(scale, System.Globalization.CultureInfo.InvariantCulture), column.Scale);
    }

    [Theory]
    [InlineData("12.50", "12.50")]
    [InlineData("-0.001", "-0.001")]
    [InlineData("123456789012345678901234567890.123456789", "123456789012345678901234567890.123456789")]
    [InlineData("1.50E+3", "1500")]
    public void A_decimal_written_as_a_JSON_number_keeps_its_digits(string json, string expected)
    {
        var (value, _) = Column("""{"type":"bytes","optional":true,"name":"org.apache.kafka.connect.data.Decimal","version":1,"parameters":{"scale":"2"}}""", json);

        Assert.Equal(ValueKind.Decimal, value.Kind);
        Assert.Equal(expected, value.ToText());
    }

    [Theory]
    [InlineData("""{"scale":10,"value":"A6DJIHXA2/O4rLxfls4/CtI="}""", "123456789012345678901234567890.1234567890")]
    [InlineData("""{"scale":0,"value":"/F8234o/JAxHU0OgaTHA9S4="}""", "-1234567890123456789012345678901234567890")]
    [InlineData("""{"scale":40,"value":"A6DJIHXA2/O4rLxfls4/CtI="}""", "0.1234567890123456789012345678901234567890")]
    [InlineData("""{"scale":3,"value":"z8c="}""", "-12.345")]
    [InlineData("""{"scale":0,"value":"AA=="}""", "0")]
    public void Variable_scale_decimals_are_exact_and_never_go_through_double(string json, string expected)
    {
        var (value, column) = Column(
            """{"type":"struct","fields":[{"type":"int32","optional":false,"field":"scale"},{"type":"bytes","optional":false,"field":"value"}],"optional":true,"name":"io.debezium.data.VariableScaleDecimal","version":1,"doc":"Variable scaled decimal"}""",
            json);

        Assert.Equal(ValueKind.Decimal, value.Kind);
        Assert.Equal(expected, value.ToText());
        Assert.Equal(LogicalType.VariableDecimal, column.Type);
    }

    [Fact]
    public void Uuids_are_lower_case_text()
    {
        var value = Semantic("io.debezium.data.Uuid", "string", "\"A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11\"");

        Assert.Equal(ValueKind.Uuid, value.Kind);
        Assert.Equal("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", value.ToText());
    }

    [Fact]
    public void Json_columns_keep_the_text_as_given()
    {
        var value = Semantic("io.debezium.data.Json", "string", """ "{\"tags\": [\"a\", \"b\"], \"n\": 1.50}" """);

        Assert.Equal(ValueKind.Json, value.Kind);
        Assert.Equal("""{"tags": ["a", "b"], "n": 1.50}""", value.ToText());
    }

    [Fact]
    public void Bits_are_bytes_with_their_length_in_the_column()
    {
        var (value, column) = Column("""{"type":"bytes","optional":true,"name":"io.debezium.data.Bits","version":1,"parameters":{"length":"3"}}""", "\"BQ==\"");

        Assert.Equal(ValueKind.Bytes, value.Kind);
        Assert.Equal([(byte)5], value.AsBytes);
        Assert.Equal(LogicalType.Bits, column.Type);
        Assert.Equal(3, column.Length);
    }

    [Theory]
    [InlineData("io.debezium.data.Enum", "\"green\"", "green", LogicalType.Enum)]
    [InlineData("io.debezium.data.EnumSet", "\"red,blue\"", "red,blue", LogicalType.EnumSet)]
    public void Enums_are_strings_with_the_allowed_values_in_the_column(string name, string json, string expected, LogicalType type)
    {
        var (value, column) = Column($$$"""{"type":"string","optional":true,"name":"{{{name}}}","version":1,"parameters":{"allowed":"red,green,blue"}}""", json);

        Assert.Equal(FieldValue.FromString(expected), value);
        Assert.Equal(type, column.Type);
        Assert.Equal("red,green,blue", column.Allowed);
    }

    [Theory]
    [InlineData("93784500000", "PT26H3M4.5S")]
    [InlineData("0", "PT0S")]
    [InlineData("-1000000", "-PT1S")]
    [InlineData("2592000000000", "PT720H")]
    public void Micro_durations_are_intervals_in_microseconds(string json, string expected)
    {
        var value = Semantic("io.debezium.time.MicroDuration", "int64", json);

        Assert.Equal(ValueKind.Interval, value.Kind);
        Assert.Equal(expected, value.ToText());
    }

    [Theory]
    [InlineData("int8", "-128", LogicalType.Int8)]
    [InlineData("int16", "32767", LogicalType.Int16)]
    [InlineData("int32", "-2147483648", LogicalType.Int32)]
    [InlineData("int64", "9223372036854775807", LogicalType.Int64)]
    public void Connect_integers_become_int64(string type, string json, LogicalType logical)
    {
        var (value, column) = Column($$"""{"type":"{{type}}","optional":true}""", json);

        Assert.Equal(FieldValue.FromInt64(long.Parse(json, System.Globalization.CultureInfo.InvariantCulture)), value);
        Assert.Equal(logical, column.Type);
        Assert.Null(column.SemanticName);
    }

    [Theory]
    [InlineData("float64", "1.5", 1.5)]
    [InlineData("float32", "-0.25", -0.25)]
    [InlineData("float64", "\"NaN\"", double.NaN)]
    [InlineData("float64", "\"Infinity\"", double.PositiveInfinity)]
    [InlineData("float32", "\"-Infinity\"", double.NegativeInfinity)]
    public void Floats_become_doubles_including_NaN_and_infinities(string type, string json, double expected)
    {
        var (value, _) = Column($$"""{"type":"{{type}}","optional":true}""", json);

        Assert.Equal(ValueKind.Double, value.Kind);
        Assert.Equal(expected, value.AsDouble);
    }

    [Fact]
    public void Booleans_strings_and_bytes_are_plain_values()
    {
        Assert.Equal(FieldValue.FromBoolean(true), Column("""{"type":"boolean","optional":true}""", "true").Value);
        Assert.Equal(FieldValue.FromString("2020-01-01"), Column("""{"type":"string","optional":true}""", "\"2020-01-01\"").Value);
        Assert.Equal([(byte)0xDE, (byte)0xAD], Column("""{"type":"bytes","optional":true}""", "\"3q0=\"").Value.AsBytes);
    }

    [Theory]
    [InlineData("""{"type":"array","items":{"type":"int32","optional":true},"optional":true}""", "[1, 2,null]")]
    [InlineData("""{"type":"map","keys":{"type":"string","optional":false},"values":{"type":"int32","optional":true},"optional":true}""", """{"a":1}""")]
    [InlineData("""{"type":"struct","fields":[{"type":"bytes","optional":false,"field":"wkb"},{"type":"int32","optional":true,"field":"srid"}],"optional":true,"name":"io.debezium.data.geometry.Point","version":1}""", """{"wkb":"AQEAAAAAAAAAAADwPwAAAAAAAABA","srid":4326}""")]
    public void Structs_arrays_maps_and_unknown_named_structs_are_kept_as_raw_JSON(string schema, string json)
    {
        var (value, column) = Column(schema, json);

        Assert.Equal(FieldValue.FromJson(json), value);
        Assert.Equal(LogicalType.Nested, column.Type);
    }

    [Fact]
    public void An_unknown_schema_name_on_a_primitive_type_decodes_by_the_type_and_keeps_the_name()
    {
        var (value, column) = Column("""{"type":"string","optional":true,"name":"io.debezium.data.Ltree","version":1}""", "\"a.b.c\"");

        Assert.Equal(FieldValue.FromString("a.b.c"), value);
        Assert.Equal(new ColumnSchema("v", LogicalType.String, true, "io.debezium.data.Ltree"), column);
    }

    [Theory]
    [InlineData("io.debezium.time.MicroTimestamp", "int64")]
    [InlineData("io.debezium.data.Uuid", "string")]
    public void Null_is_null_for_every_type(string name, string type)
    {
        Assert.True(Semantic(name, type, "null").IsNull);
    }

    [Theory]
    [InlineData("io.debezium.time.Time", 3)]
    [InlineData("io.debezium.time.MicroTimestamp", 6)]
    [InlineData("io.debezium.time.NanoTime", 9)]
    public void Time_columns_carry_their_fractional_digits_as_precision(string name, int precision)
    {
        var type = name == "io.debezium.time.Time" ? "int32" : "int64";
        var (_, column) = Column($$"""{"type":"{{type}}","optional":true,"name":"{{name}}","version":1}""", "0");

        Assert.Equal(precision, column.Precision);
    }
}
