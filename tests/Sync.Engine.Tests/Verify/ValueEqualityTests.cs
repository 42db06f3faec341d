using System.Numerics;
using FsCheck.Xunit;
using Sync.Engine.Verify;

namespace Sync.Engine.Tests.Verify;

public sealed class ValueEqualityTests
{
    [Theory]
    [InlineData("12.30", "12.3")]
    [InlineData("0012.300", "12.3")]
    [InlineData("-0.000", "0")]
    [InlineData("1E+3", "1000")]
    [InlineData("1.5e-2", "0.015")]
    [InlineData("123456789012345678901234567890.000000000000000000001", "123456789012345678901234567890.000000000000000000001")]
    public void Decimals_compare_exactly_by_value(string log, string stored) =>
        Assert.True(ValueEquality.Same(FieldValue.FromDecimalText(log), FieldValue.FromString(stored)));

    [Theory]
    [InlineData("0.1", "0.10000000000000001")]
    [InlineData("123456789012345678901234567890.1", "123456789012345678901234567890.2")]
    [InlineData("1", "-1")]
    public void Decimals_that_differ_in_any_digit_differ(string log, string stored) =>
        Assert.False(ValueEquality.Same(FieldValue.FromDecimalText(log), FieldValue.FromDecimalText(stored)));

    [Property(MaxTest = 2000)]
    public bool A_decimal_equals_itself_with_trailing_zeros_and_never_its_neighbour(long unscaled, byte scaleByte, byte zerosByte)
    {
        var scale = scaleByte % 20;
        var zeros = zerosByte % 6;
        var value = FieldValue.FromDecimal(unscaled, scale);
        var padded = FieldValue.FromDecimal(new BigInteger(unscaled) * BigInteger.Pow(10, zeros), scale + zeros);
        var neighbour = FieldValue.FromDecimal(new BigInteger(unscaled) + 1, scale);
        return ValueEquality.Same(value, padded) && !ValueEquality.Same(value, neighbour);
    }

    [Theory]
    [InlineData("2024-01-01T10:00:00+02:00", "2024-01-01T08:00:00Z")]
    [InlineData("2024-01-01T08:00:00.123456Z", "2024-01-01 08:00:00.123456+00")]
    [InlineData("2024-01-01T08:00:00.123456789Z", "2024-01-01T08:00:00.1234567Z")]
    public void Timestamps_with_a_zone_compare_by_instant(string log, string stored) =>
        Assert.True(ValueEquality.Same(FieldValue.FromTimestampTz(log), FieldValue.FromString(stored)));

    [Fact]
    public void Timestamps_a_second_apart_differ() =>
        Assert.False(ValueEquality.Same(FieldValue.FromTimestampTz("2024-01-01T08:00:00Z"), FieldValue.FromTimestampTz("2024-01-01T08:00:01Z")));

    [Fact]
    public void A_local_timestamp_compares_with_its_text_at_any_resolution()
    {
        var micros = FieldValue.FromTimestamp(1_704_096_000_123_456, TimeUnit.Microseconds);

        Assert.True(ValueEquality.Same(micros, FieldValue.FromString("2024-01-01T08:00:00.123456")));
        Assert.True(ValueEquality.Same(micros, FieldValue.FromTimestamp(1_704_096_000_123_456_000, TimeUnit.Nanoseconds)));
        Assert.False(ValueEquality.Same(micros, FieldValue.FromString("2024-01-01T08:00:00.123457")));
    }

    [Theory]
    [InlineData("""{"a":1,"b":[1,2]}""", """{ "b": [1, 2], "a": 1 }""", true)]
    [InlineData("""{"a":1.0}""", """{"a":1}""", true)]
    [InlineData("""{"a":[1,2]}""", """{"a":[2,1]}""", false)]
    [InlineData("""{"a":"1"}""", """{"a":1}""", false)]
    public void Json_compares_by_value(string log, string stored, bool same) =>
        Assert.Equal(same, ValueEquality.Same(FieldValue.FromJson(log), FieldValue.FromJson(stored)));

    [Fact]
    public void Booleans_uuids_and_nulls_compare_by_meaning()
    {
        Assert.True(ValueEquality.Same(FieldValue.FromBoolean(true), FieldValue.FromInt64(1)));
        Assert.True(ValueEquality.Same(FieldValue.FromBoolean(false), FieldValue.FromString("f")));
        Assert.True(ValueEquality.Same(FieldValue.FromUuid("A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11"), FieldValue.FromString("A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11")));
        Assert.True(ValueEquality.Same(FieldValue.Null, FieldValue.Null));
        Assert.False(ValueEquality.Same(FieldValue.Null, FieldValue.FromString(string.Empty)));
        Assert.True(ValueEquality.Same(FieldValue.Unavailable, FieldValue.FromString("kept by the sink")));
    }

    [Fact]
    public void A_key_read_back_in_another_type_has_the_same_canonical_text()
    {
        var logKey = new Row(["id", "Region"], [FieldValue.FromInt64(42), FieldValue.FromString("eu")]);
        var storedKey = new Row(["region", "id"], [FieldValue.FromString("eu"), FieldValue.FromDecimalText("42.0")]);

        Assert.Equal(VerifyKey.Canonical(logKey), VerifyKey.Canonical(storedKey));
        Assert.Equal(VerifyKey.Canonical(logKey), VerifyKey.Canonical(StoredKeys.FromKeyText("""{"id":42,"Region":"eu"}""")));
    }
}
