using System.Numerics;

namespace Sync.Engine.Changes;

/// <summary>What a <see cref="FieldValue"/> holds. Every kind is exact: nothing goes through
/// <c>double</c> unless the source column was a floating-point column.</summary>
public enum ValueKind : byte
{
    Null,
    Boolean,
    Int64,
    Double,
    String,
    /// <summary>Exact decimal held as canonical text (<c>-12.3400</c>), any precision.</summary>
    Decimal,
    /// <summary>Days since 1970-01-01.</summary>
    Date,
    /// <summary>Nanoseconds since midnight.</summary>
    Time,
    /// <summary>A local date-time (no zone) as a count of <see cref="TimeUnit"/> since the epoch.</summary>
    Timestamp,
    /// <summary>An instant as ISO-8601 text with offset, kept as the source wrote it.</summary>
    TimestampTz,
    /// <summary>A time with offset as ISO-8601 text.</summary>
    TimeTz,
    Uuid,
    /// <summary>JSON text (a json/jsonb column, or a nested value kept as JSON).</summary>
    Json,
    Bytes,
    /// <summary>A duration in microseconds.</summary>
    Interval,
    /// <summary>The source did not send the column's value: the connector's unavailable-value
    /// placeholder (an unchanged TOASTed PostgreSQL column). A sink keeps the value it stores for the
    /// column and never writes this one; it has no text and no JSON, so a sink that forgets it fails
    /// loudly instead of storing the placeholder.</summary>
    Unavailable,
}

/// <summary>Resolution of a <see cref="ValueKind.Timestamp"/> value.</summary>
public enum TimeUnit : byte
{
    Milliseconds,
    Microseconds,
    Nanoseconds,
}

/// <summary>One column value of a row image. A small struct: a kind, 64 bits and a reference.</summary>
public readonly struct FieldValue : IEquatable<FieldValue>
{
    private readonly long _bits;
    private readonly object? _ref;

    private FieldValue(ValueKind kind, long bits, object? reference, TimeUnit unit = TimeUnit.Milliseconds)
    {
        Kind = kind;
        _bits = bits;
        _ref = reference;
        Unit = unit;
    }

    public ValueKind Kind { get; }

    /// <summary>Resolution, meaningful for <see cref="ValueKind.Timestamp"/> only.</summary>
    public TimeUnit Unit { get; }

    public bool IsNull => Kind == ValueKind.Null;

    /// <summary>True for <see cref="Unavailable"/>: keep the stored value of this column.</summary>
    public bool IsUnavailable => Kind == ValueKind.Unavailable;

    public static FieldValue Null => default;

    public static FieldValue FromBoolean(bool value) => new(ValueKind.Boolean, value ? 1 : 0, null);

    public static FieldValue FromInt64(long value) => new(ValueKind.Int64, value, null);

    public static FieldValue FromDouble(double value) => new(ValueKind.Double, BitConverter.DoubleToInt64Bits(value), null);

    public static FieldValue FromString(string value) => new(ValueKind.String, 0, value);

    /// <summary>An exact decimal from its unscaled value and scale, as Kafka Connect's Decimal carries it.</summary>
    public static FieldValue FromDecimal(BigInteger unscaled, int scale) => new(ValueKind.Decimal, 0, DecimalText.Format(unscaled, scale));

    /// <summary>An exact decimal from text that is already a plain decimal numeral.</summary>
    public static FieldValue FromDecimalText(string text) => new(ValueKind.Decimal, 0, text);

    public static FieldValue FromDate(int daysSinceEpoch) => new(ValueKind.Date, daysSinceEpoch, null);

    public static FieldValue FromTime(long nanosOfDay) => new(ValueKind.Time, nanosOfDay, null);

    public static FieldValue FromTimestamp(long sinceEpoch, TimeUnit unit) => new(ValueKind.Timestamp, sinceEpoch, null, unit);

    public static FieldValue FromTimestampTz(string iso) => new(ValueKind.TimestampTz, 0, iso);

    public static FieldValue FromTimeTz(string iso) => new(ValueKind.TimeTz, 0, iso);

    public static FieldValue FromUuid(string text) => new(ValueKind.Uuid, 0, text.ToLowerInvariant());

    public static FieldValue FromJson(string jsonText) => new(ValueKind.Json, 0, jsonText);

    public static FieldValue FromBytes(byte[] value) => new(ValueKind.Bytes, 0, value);

    public static FieldValue FromInterval(long micros) => new(ValueKind.Interval, micros, null);

    /// <summary>A column whose value the source did not send (see <see cref="ValueKind.Unavailable"/>).</summary>
    public static FieldValue Unavailable { get; } = new(ValueKind.Unavailable, 0, null);

    public bool AsBoolean => _bits != 0;

    /// <summary>The 64-bit payload: the integer, the day count, nanos of day, the timestamp count or the micros.</summary>
    public long AsInt64 => _bits;

    public double AsDouble => BitConverter.Int64BitsToDouble(_bits);

    /// <summary>The text of String, Decimal, TimestampTz, TimeTz, Uuid and Json values.</summary>
    public string AsText => _ref as string ?? throw new InvalidOperationException($"A {Kind} value has no text.");

    public byte[] AsBytes => _ref as byte[] ?? throw new InvalidOperationException($"A {Kind} value has no bytes.");

    /// <summary>Canonical invariant text of the value, as sinks without a native type store it.
    /// Dates are ISO-8601, timestamps ISO-8601 without zone, intervals ISO-8601 durations,
    /// bytes base64. Null gives null.</summary>
    public string? ToText() => Kind switch
    {
        ValueKind.Null => null,
        ValueKind.Boolean => AsBoolean ? "true" : "false",
        ValueKind.Int64 => _bits.ToString(CultureInfo.InvariantCulture),
        ValueKind.Double => AsDouble.ToString("R", CultureInfo.InvariantCulture),
        ValueKind.Date => TemporalText.Date((int)_bits),
        ValueKind.Time => TemporalText.Time(_bits),
        ValueKind.Timestamp => TemporalText.Timestamp(_bits, Unit),
        ValueKind.Interval => TemporalText.Duration(_bits),
        ValueKind.Bytes => Convert.ToBase64String(AsBytes),
        ValueKind.Unavailable => throw UnavailableHasNoValue(),
        _ => AsText,
    };

    /// <summary>Writes the value as JSON: numbers stay numbers (decimals exact), text stays text,
    /// JSON columns are embedded as JSON.</summary>
    public void WriteTo(Utf8JsonWriter writer)
    {
        switch (Kind)
        {
            case ValueKind.Null: writer.WriteNullValue(); break;
            case ValueKind.Boolean: writer.WriteBooleanValue(AsBoolean); break;
            case ValueKind.Int64: writer.WriteNumberValue(_bits); break;
            case ValueKind.Double:
                var d = AsDouble;
                if (double.IsFinite(d))
                {
                    writer.WriteNumberValue(d);
                }
                else
                {
                    writer.WriteStringValue(d.ToString(CultureInfo.InvariantCulture));
                }

                break;
            case ValueKind.Decimal: writer.WriteRawValue(AsText, skipInputValidation: true); break;
            case ValueKind.Json: writer.WriteRawValue(AsText); break;
            case ValueKind.Unavailable: throw UnavailableHasNoValue();
            default: writer.WriteStringValue(ToText()); break;
        }
    }

    private static InvalidOperationException UnavailableHasNoValue() =>
        new("The source did not send this column's value (an unchanged TOASTed column); the stored value must be kept, not written.");

    public bool Equals(FieldValue other)
    {
        if (Kind != other.Kind || _bits != other._bits || Unit != other.Unit)
        {
            return false;
        }

        return _ref switch
        {
            null => other._ref is null,
            byte[] bytes => other._ref is byte[] o && bytes.AsSpan().SequenceEqual(o),
            _ => _ref.Equals(other._ref),
        };
    }

    public override bool Equals(object? obj) => obj is FieldValue other && Equals(other);

    public override int GetHashCode() => HashCode.Combine(Kind, _bits, _ref is byte[] b ? b.Length : _ref?.GetHashCode() ?? 0);

    public static bool operator ==(FieldValue left, FieldValue right) => left.Equals(right);

    public static bool operator !=(FieldValue left, FieldValue right) => !left.Equals(right);

    public override string ToString() => Kind switch
    {
        ValueKind.Null => "null",
        ValueKind.Unavailable => "unavailable",
        _ => $"{Kind}:{ToText()}",
    };
}

/// <summary>Exact decimal text from an unscaled integer and a scale.</summary>
public static class DecimalText
{
    public static string Format(BigInteger unscaled, int scale)
    {
        var negative = unscaled.Sign < 0;
        var digits = BigInteger.Abs(unscaled).ToString(CultureInfo.InvariantCulture);
        var sb = new StringBuilder(digits.Length + 3);
        if (negative)
        {
            sb.Append('-');
        }

        if (scale <= 0)
        {
            sb.Append(digits);
            if (unscaled.IsZero)
            {
                return "0";
            }

            sb.Append('0', -scale);
            return sb.ToString();
        }

        if (digits.Length <= scale)
        {
            sb.Append("0.").Append('0', scale - digits.Length).Append(digits);
        }
        else
        {
            sb.Append(digits, 0, digits.Length - scale).Append('.').Append(digits, digits.Length - scale, scale);
        }

        return sb.ToString();
    }
}

/// <summary>ISO-8601 text of epoch-based temporal values, exact and correct before 1970 (floor division).</summary>
public static class TemporalText
{
    private const long NanosPerSecond = 1_000_000_000;

    public static string Date(int daysSinceEpoch) =>
        DateOnly.FromDayNumber(DateOnly.FromDateTime(DateTime.UnixEpoch).DayNumber + daysSinceEpoch)
            .ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);

    public static string Time(long nanosOfDay)
    {
        var seconds = nanosOfDay / NanosPerSecond;
        var nanos = nanosOfDay % NanosPerSecond;
        var text = string.Create(CultureInfo.InvariantCulture, $"{seconds / 3600:00}:{seconds / 60 % 60:00}:{seconds % 60:00}");
        return text + Fraction(nanos);
    }

    public static string Timestamp(long value, TimeUnit unit)
    {
        var perSecond = unit switch
        {
            TimeUnit.Milliseconds => 1_000L,
            TimeUnit.Microseconds => 1_000_000L,
            _ => NanosPerSecond,
        };
        var seconds = Math.DivRem(value, perSecond, out var rest);
        if (rest < 0)
        {
            seconds -= 1;
            rest += perSecond;
        }

        var nanos = rest * (NanosPerSecond / perSecond);
        var dateTime = DateTime.UnixEpoch.AddSeconds(seconds);
        return dateTime.ToString("yyyy-MM-dd'T'HH:mm:ss", CultureInfo.InvariantCulture) + Fraction(nanos);
    }

    /// <summary>ISO-8601 duration of a microsecond count, e.g. <c>PT26H3M4.5S</c> or <c>-PT1S</c>.</summary>
    public static string Duration(long micros)
    {
        if (micros == 0)
        {
            return "PT0S";
        }

        var sign = micros < 0 ? "-" : string.Empty;
        var abs = micros == long.MinValue ? (ulong)long.MaxValue + 1 : (ulong)Math.Abs(micros);
        var totalSeconds = abs / 1_000_000;
        var fraction = abs % 1_000_000;
        var hours = totalSeconds / 3600;
        var minutes = totalSeconds / 60 % 60;
        var seconds = totalSeconds % 60;
        var sb = new StringBuilder(sign).Append("PT");
        if (hours > 0)
        {
            sb.Append(hours.ToString(CultureInfo.InvariantCulture)).Append('H');
        }

        if (minutes > 0)
        {
            sb.Append(minutes.ToString(CultureInfo.InvariantCulture)).Append('M');
        }

        if (seconds > 0 || fraction > 0)
        {
            sb.Append(seconds.ToString(CultureInfo.InvariantCulture));
            if (fraction > 0)
            {
                sb.Append('.').Append(fraction.ToString("000000", CultureInfo.InvariantCulture).TrimEnd('0'));
            }

            sb.Append('S');
        }

        return sb.ToString();
    }

    private static string Fraction(long nanos) =>
        nanos == 0 ? string.Empty : "." + nanos.ToString("000000000", CultureInfo.InvariantCulture).TrimEnd('0');
}
