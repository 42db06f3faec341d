using System.Numerics;

namespace Sync.Engine.Formats;

/// <summary>Turns JSON values into <see cref="FieldValue"/>s: exactly by a Connect field schema, or
/// as they are when there is no schema.</summary>
internal static class FieldReader
{
    /// <summary>Largest decimal scale accepted (PostgreSQL numeric allows 16383 fractional digits).</summary>
    public const int MaxScale = 32767;

    /// <summary>Largest unscaled decimal accepted, in bytes (PostgreSQL numeric: 131072 digits ≈ 54 KiB).</summary>
    private const int MaxDecimalBytes = 64 * 1024;

    private const long NanosPerDay = 86_400_000_000_000;

    private static readonly int EpochDay = DateOnly.FromDateTime(DateTime.UnixEpoch).DayNumber;

    /// <summary>Days since 1970-01-01 of 0001-01-01 and 9999-12-31, the range ISO text can show.</summary>
    private static readonly long MinDay = DateOnly.MinValue.DayNumber - EpochDay;

    private static readonly long MaxDay = DateOnly.MaxValue.DayNumber - EpochDay;

    private static readonly long MinSecond = MinDay * 86_400;

    private static readonly long MaxSecond = ((MaxDay + 1) * 86_400) - 1;

    /// <summary>Decodes a value by its field schema. JSON null is <see cref="FieldValue.Null"/> for every type.</summary>
    public static FieldValue Read(JsonElement e, FieldPlan f, FieldPath path)
    {
        if (e.ValueKind == JsonValueKind.Null)
        {
            return FieldValue.Null;
        }

        switch (f.Codec)
        {
            case ValueCodec.Int8: return FieldValue.FromInt64(Integer(e, f, path, sbyte.MinValue, sbyte.MaxValue));
            case ValueCodec.Int16: return FieldValue.FromInt64(Integer(e, f, path, short.MinValue, short.MaxValue));
            case ValueCodec.Int32: return FieldValue.FromInt64(Integer(e, f, path, int.MinValue, int.MaxValue));
            case ValueCodec.Int64: return FieldValue.FromInt64(Integer(e, f, path, long.MinValue, long.MaxValue));
            case ValueCodec.Float: return FieldValue.FromDouble(Float(e, f, path));
            case ValueCodec.Boolean:
                return e.ValueKind switch
                {
                    JsonValueKind.True => FieldValue.FromBoolean(true),
                    JsonValueKind.False => FieldValue.FromBoolean(false),
                    _ => throw DecodeErrors.Expected(path, "true or false", f.TypeLabel, e),
                };
            case ValueCodec.String:
            case ValueCodec.Enum:
                return FieldValue.FromString(Text(e, f, path, "a string"));
            case ValueCodec.Bytes:
            case ValueCodec.Bits:
                return FieldValue.FromBytes(Base64(e, f, path));
            case ValueCodec.Nested:
                return Nested(e, f, path);
            case ValueCodec.Date:
                {
                    var days = Integer(e, f, path, int.MinValue, int.MaxValue, "an int32 day count");
                    if (days < MinDay || days > MaxDay)
                    {
                        throw DecodeErrors.At(path, $"day count outside 0001-01-01..9999-12-31 for {f.TypeLabel}");
                    }

                    return FieldValue.FromDate((int)days);
                }

            case ValueCodec.TimeMillis: return FieldValue.FromTime(TimeOfDay(e, f, path, 1_000_000));
            case ValueCodec.TimeMicros: return FieldValue.FromTime(TimeOfDay(e, f, path, 1_000));
            case ValueCodec.TimeNanos: return FieldValue.FromTime(TimeOfDay(e, f, path, 1));
            case ValueCodec.TimestampMillis: return Timestamp(e, f, path, TimeUnit.Milliseconds, 1_000);
            case ValueCodec.TimestampMicros: return Timestamp(e, f, path, TimeUnit.Microseconds, 1_000_000);
            case ValueCodec.TimestampNanos: return Timestamp(e, f, path, TimeUnit.Nanoseconds, 1_000_000_000);
            case ValueCodec.ZonedTimestamp:
                {
                    var text = Text(e, f, path, "an ISO-8601 string");
                    return IsoText.IsZonedTimestamp(text)
                        ? FieldValue.FromTimestampTz(text)
                        : throw DecodeErrors.At(path, $"not an ISO-8601 timestamp with offset for {f.TypeLabel}");
                }

            case ValueCodec.ZonedTime:
                {
                    var text = Text(e, f, path, "an ISO-8601 string");
                    return IsoText.IsZonedTime(text)
                        ? FieldValue.FromTimeTz(text)
                        : throw DecodeErrors.At(path, $"not an ISO-8601 time with offset for {f.TypeLabel}");
                }

            case ValueCodec.Decimal:
                if (e.ValueKind == JsonValueKind.Number)
                {
                    // JsonConverter with decimal.format=NUMERIC writes the number itself: keep its digits.
                    return FieldValue.FromDecimalText(NumberText(e, path));
                }

                if (e.ValueKind != JsonValueKind.String)
                {
                    throw DecodeErrors.Expected(path, "base64 bytes or a number", f.TypeLabel, e);
                }

                return FieldValue.FromDecimal(Unscaled(e, f, path), f.Scale);
            case ValueCodec.VariableScaleDecimal: return VariableScaleDecimal(e, f, path);
            case ValueCodec.Uuid:
                {
                    var text = Text(e, f, path, "a UUID string");
                    return Guid.TryParseExact(text, "D", out _)
                        ? FieldValue.FromUuid(text)
                        : throw DecodeErrors.At(path, $"not a UUID for {f.TypeLabel}");
                }

            case ValueCodec.Json:
                {
                    var text = Text(e, f, path, "JSON text in a string");
                    return IsJson(text)
                        ? FieldValue.FromJson(text)
                        : throw DecodeErrors.At(path, $"not valid JSON text for {f.TypeLabel}");
                }

            case ValueCodec.MicroDuration: return FieldValue.FromInterval(Integer(e, f, path, long.MinValue, long.MaxValue));
            case ValueCodec.BinaryBase64:
            case ValueCodec.BinaryBase64UrlSafe:
            case ValueCodec.BinaryHex: return FieldValue.FromBytes(BinaryText(e, f, path));
            case ValueCodec.DecimalText:
                {
                    var text = Text(e, f, path, "a decimal numeral in a string");
                    // BigDecimal.toPlainString: an optional '-', digits, optionally '.' and digits.
                    return IsPlainNumeral(text)
                        ? FieldValue.FromDecimalText(text)
                        : throw DecodeErrors.At(path, $"not a decimal numeral for a {f.Column.Name} column sent as text (decimal.handling.mode=string)");
                }

            default: throw new InvalidOperationException($"unhandled codec {f.Codec}");
        }
    }

    /// <summary>Decodes a value without a schema, keeping it as it is: strings, integers that fit
    /// Int64, other numbers as exact decimal text, booleans, null, and objects/arrays as JSON text.</summary>
    public static FieldValue ReadSchemaless(JsonElement e, FieldPath path) => e.ValueKind switch
    {
        JsonValueKind.Null => FieldValue.Null,
        JsonValueKind.True => FieldValue.FromBoolean(true),
        JsonValueKind.False => FieldValue.FromBoolean(false),
        JsonValueKind.String => FieldValue.FromString(GetString(e, path)),
        JsonValueKind.Number => e.TryGetInt64(out var n) ? FieldValue.FromInt64(n) : FieldValue.FromDecimalText(NumberText(e, path)),
        JsonValueKind.Object or JsonValueKind.Array => FieldValue.FromJson(e.GetRawText()),
        _ => throw DecodeErrors.At(path, "unexpected JSON token"),
    };

    /// <summary><see cref="JsonElement.GetString"/>, with escaped lone surrogates and invalid UTF-8 reported as a <see cref="DecodeException"/>.</summary>
    public static string GetString(JsonElement e, FieldPath path)
    {
        try
        {
            return e.GetString()!;
        }
        catch (InvalidOperationException)
        {
            throw DecodeErrors.At(path, "string is not valid Unicode text");
        }
    }

    /// <summary>A JSON number as a plain decimal numeral: as written, or with an exponent expanded exactly.</summary>
    public static string NumberText(JsonElement e, FieldPath path)
    {
        var raw = e.GetRawText();
        return DecimalNumber.TryToPlain(raw, out var plain)
            ? plain
            : throw DecodeErrors.At(path, "number is too large to keep exactly");
    }

    /// <summary>" for io.debezium.…" when the field has a schema name.</summary>
    private static string For(FieldPlan f) => f.Column.SemanticName is { } name ? " for " + name : string.Empty;

    private static long Integer(JsonElement e, FieldPlan f, FieldPath path, long min, long max, string expected = "an integer")
    {
        if (e.ValueKind != JsonValueKind.Number)
        {
            throw DecodeErrors.Expected(path, expected, f.TypeLabel, e);
        }

        if (!e.TryGetInt64(out var value) || value < min || value > max)
        {
            throw DecodeErrors.At(path, $"number is not an integer that fits {f.ConnectType}{For(f)}");
        }

        return value;
    }

    private static double Float(JsonElement e, FieldPlan f, FieldPath path)
    {
        switch (e.ValueKind)
        {
            case JsonValueKind.Number:
                return e.TryGetDouble(out var d) && double.IsFinite(d)
                    ? d
                    : throw DecodeErrors.At(path, $"number does not fit {f.ConnectType}{For(f)}");
            case JsonValueKind.String:
                if (e.ValueEquals("NaN"))
                {
                    return double.NaN;
                }

                if (e.ValueEquals("Infinity"))
                {
                    return double.PositiveInfinity;
                }

                if (e.ValueEquals("-Infinity"))
                {
                    return double.NegativeInfinity;
                }

                throw DecodeErrors.At(path, $"a string for {f.TypeLabel} must be NaN, Infinity or -Infinity");
            default:
                throw DecodeErrors.Expected(path, "a number", f.TypeLabel, e);
        }
    }

    private static string Text(JsonElement e, FieldPlan f, FieldPath path, string expected) =>
        e.ValueKind == JsonValueKind.String ? GetString(e, path) : throw DecodeErrors.Expected(path, expected, f.TypeLabel, e);

    private static byte[] Base64(JsonElement e, FieldPlan f, FieldPath path)
    {
        if (e.ValueKind != JsonValueKind.String)
        {
            throw DecodeErrors.Expected(path, "base64 bytes", f.TypeLabel, e);
        }

        return e.TryGetBytesFromBase64(out var bytes)
            ? bytes
            : throw DecodeErrors.At(path, $"invalid base64 for {f.TypeLabel}");
    }

    private static bool IsPlainNumeral(string text)
    {
        var digits = text.AsSpan(text.StartsWith('-') ? 1 : 0);
        var point = digits.IndexOf('.');
        var whole = point < 0 ? digits : digits[..point];
        var fraction = point < 0 ? "0".AsSpan() : digits[(point + 1)..];
        return !whole.IsEmpty && !fraction.IsEmpty
            && !whole.ContainsAnyExceptInRange('0', '9') && !fraction.ContainsAnyExceptInRange('0', '9');
    }

    /// <summary>The bytes of a binary column the connector sent as text, in the form its
    /// binary.handling.mode writes: standard base64 (Base64.getEncoder), URL-safe base64 with
    /// padding (Base64.getUrlEncoder), or lower-case hex (HexConverter).</summary>
    private static byte[] BinaryText(JsonElement e, FieldPlan f, FieldPath path)
    {
        var text = Text(e, f, path, "binary text");
        try
        {
            return f.Codec switch
            {
                ValueCodec.BinaryHex => Convert.FromHexString(text),
                ValueCodec.BinaryBase64UrlSafe => Convert.FromBase64String(text.Replace('-', '+').Replace('_', '/')),
                _ => Convert.FromBase64String(text),
            };
        }
        catch (FormatException)
        {
            var form = f.Codec switch
            {
                ValueCodec.BinaryHex => "hex",
                ValueCodec.BinaryBase64UrlSafe => "URL-safe base64",
                _ => "base64",
            };
            throw DecodeErrors.At(path, $"not {form} text for a binary column (binary.handling.mode)");
        }
    }

    private static FieldValue Nested(JsonElement e, FieldPlan f, FieldPath path)
    {
        var fits = f.ConnectType switch
        {
            "struct" => e.ValueKind == JsonValueKind.Object,
            "array" => e.ValueKind == JsonValueKind.Array,
            // JsonConverter writes a map with string keys as an object, any other map as an array of [key, value] pairs.
            "map" => e.ValueKind is JsonValueKind.Object or JsonValueKind.Array,
            _ => true,
        };
        if (!fits)
        {
            var expected = f.ConnectType switch
            {
                "struct" => "an object",
                "array" => "an array",
                _ => "an object or an array",
            };
            throw DecodeErrors.Expected(path, expected, f.TypeLabel, e);
        }

        return FieldValue.FromJson(e.GetRawText());
    }

    private static long TimeOfDay(JsonElement e, FieldPlan f, FieldPath path, long nanosPerUnit)
    {
        var value = Integer(e, f, path, f.ConnectType == "int32" ? int.MinValue : long.MinValue, f.ConnectType == "int32" ? int.MaxValue : long.MaxValue);

        // 24:00:00 is a valid PostgreSQL time; anything outside 00:00..24:00 is not a time of day.
        if (value < 0 || value > NanosPerDay / nanosPerUnit)
        {
            throw DecodeErrors.At(path, $"time of day outside 00:00..24:00 for {f.TypeLabel}");
        }

        return value * nanosPerUnit;
    }

    private static FieldValue Timestamp(JsonElement e, FieldPlan f, FieldPath path, TimeUnit unit, long perSecond)
    {
        var value = Integer(e, f, path, long.MinValue, long.MaxValue);
        var seconds = Math.DivRem(value, perSecond, out var rest);
        if (rest < 0)
        {
            seconds--;
        }

        if (seconds < MinSecond || seconds > MaxSecond)
        {
            throw DecodeErrors.At(path, $"timestamp outside 0001-01-01..9999-12-31 for {f.TypeLabel}");
        }

        return FieldValue.FromTimestamp(value, unit);
    }

    private static BigInteger Unscaled(JsonElement e, FieldPlan f, FieldPath path)
    {
        var bytes = Base64(e, f, path);
        if (bytes.Length > MaxDecimalBytes)
        {
            throw DecodeErrors.At(path, $"decimal is too large for {f.TypeLabel}");
        }

        return new BigInteger(bytes, isUnsigned: false, isBigEndian: true);
    }

    private static FieldValue VariableScaleDecimal(JsonElement e, FieldPlan f, FieldPath path)
    {
        if (e.ValueKind != JsonValueKind.Object)
        {
            throw DecodeErrors.Expected(path, "a struct {scale, value}", f.TypeLabel, e);
        }

        if (!e.TryGetProperty("scale", out var scaleElement) || scaleElement.ValueKind != JsonValueKind.Number)
        {
            throw DecodeErrors.At(path.With("scale"), $"expected an int32 scale for {f.TypeLabel}");
        }

        if (!scaleElement.TryGetInt32(out var scale) || Math.Abs(scale) > MaxScale)
        {
            throw DecodeErrors.At(path.With("scale"), $"scale out of range for {f.TypeLabel}");
        }

        if (!e.TryGetProperty("value", out var valueElement) || valueElement.ValueKind != JsonValueKind.String)
        {
            throw DecodeErrors.At(path.With("value"), $"expected base64 bytes for {f.TypeLabel}");
        }

        return FieldValue.FromDecimal(Unscaled(valueElement, f, path.With("value")), scale);
    }

    /// <summary>Whether the text is one JSON value, checked as <see cref="Utf8JsonWriter.WriteRawValue(string, bool)"/> checks it (default depth 64).</summary>
    private static bool IsJson(string text)
    {
        var reader = new Utf8JsonReader(Encoding.UTF8.GetBytes(text));
        try
        {
            while (reader.Read())
            {
            }

            return reader.BytesConsumed > 0 && reader.TokenType != JsonTokenType.None;
        }
        catch (JsonException)
        {
            return false;
        }
    }
}
