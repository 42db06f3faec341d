using static Sync.Engine.Tests.Formats.Messages;

namespace Sync.Engine.Tests.Formats;

public class SchemalessValueTests
{
    private static Row After(string row) => Debezium(Bare("c", null, row), PlainKey("""{"id":1}""")).After!;

    [Fact]
    public void A_decimal_number_keeps_its_digits_as_written()
    {
        var value = After("""{"price":12.50}""")["price"];

        Assert.Equal(ValueKind.Decimal, value.Kind);
        Assert.Equal("12.50", value.ToText());
    }

    [Theory]
    [InlineData("0", 0L)]
    [InlineData("-42", -42L)]
    [InlineData("9223372036854775807", long.MaxValue)]
    [InlineData("-9223372036854775808", long.MinValue)]
    public void An_integer_that_fits_int64_is_an_int64(string json, long expected)
    {
        Assert.Equal(FieldValue.FromInt64(expected), After($$"""{"n":{{json}}}""")["n"]);
    }

    [Theory]
    [InlineData("9223372036854775808", "9223372036854775808")]
    [InlineData("123456789012345678901234567890", "123456789012345678901234567890")]
    [InlineData("1.0", "1.0")]
    [InlineData("-0.000001", "-0.000001")]
    [InlineData("1e3", "1000")]
    [InlineData("2.5E-3", "0.0025")]
    public void Any_other_number_is_an_exact_decimal(string json, string expected)
    {
        Assert.Equal(FieldValue.FromDecimalText(expected), After($$"""{"n":{{json}}}""")["n"]);
    }

    [Fact]
    public void Strings_stay_strings_even_when_they_look_like_dates_or_numbers()
    {
        var row = After("""{"born":"2020-01-01","ts":"2020-01-01T10:00:00Z","code":"007"}""");

        Assert.Equal(FieldValue.FromString("2020-01-01"), row["born"]);
        Assert.Equal(FieldValue.FromString("2020-01-01T10:00:00Z"), row["ts"]);
        Assert.Equal(FieldValue.FromString("007"), row["code"]);
    }

    [Fact]
    public void Booleans_nulls_objects_and_arrays_are_kept()
    {
        var row = After("""{"ok":true,"no":false,"gone":null,"tags":["a", 1],"address":{"city":"Oslo"}}""");

        Assert.Equal(FieldValue.FromBoolean(true), row["ok"]);
        Assert.Equal(FieldValue.FromBoolean(false), row["no"]);
        Assert.True(row["gone"].IsNull);
        Assert.Equal(FieldValue.FromJson("""["a", 1]"""), row["tags"]);
        Assert.Equal(FieldValue.FromJson("""{"city":"Oslo"}"""), row["address"]);
        Assert.Null(row.Schema);
    }

    [Fact]
    public void A_schemaless_row_written_back_as_JSON_is_unchanged()
    {
        var json = """{"id":1,"price":12.50,"big":123456789012345678901234567890,"name":"Ann","tags":["a"],"x":null}""";

        Assert.Equal(json, After(json).ToJson());
    }
}
