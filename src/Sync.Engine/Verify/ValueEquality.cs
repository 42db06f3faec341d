using System.Numerics;
using System.Text.RegularExpressions;

namespace Sync.Engine.Verify;

/// <summary>Type-aware equality of a value of the log (after the materializer's mapping) and the value a
/// sink reads back, guided by the log value's kind, since a sink may store it in another form: decimals
/// compare exactly by value (<c>12.30</c> = <c>12.3</c>, never through double), timestamps by the instant
/// or the local time they name (<c>2024-01-01T10:00:00+02:00</c> = <c>2024-01-01T08:00:00Z</c>), JSON by
/// value (key order and spacing ignored), booleans and UUIDs by meaning; anything else by its text.</summary>
public static partial class ValueEquality
{
    private static readonly long EpochTicks = DateTime.UnixEpoch.Ticks;

    /// <summary>True when the sink holds <paramref name="stored"/> where the log says <paramref name="log"/>.
    /// A value the source did not send (<see cref="FieldValue.Unavailable"/>) matches anything: the sink
    /// kept its own.</summary>
    public static bool Same(FieldValue log, FieldValue stored)
    {
        if (log.IsUnavailable)
        {
            return true;
        }

        if (log.IsNull || stored.IsNull)
        {
            return log.IsNull && stored.IsNull;
        }

        return log.Kind switch
        {
            // The common cases first, without parsing: an integer read back as one, the same text.
            ValueKind.Int64 when stored.Kind == ValueKind.Int64 => log.AsInt64 == stored.AsInt64,
            ValueKind.Decimal or ValueKind.Json when stored.Kind == log.Kind && string.Equals(log.AsText, stored.AsText, StringComparison.Ordinal) => true,
            ValueKind.Int64 or ValueKind.Decimal => Equal(Numeral(log.ToText()!), Numeral(stored.ToText()!)) ?? Text(log, stored),
            ValueKind.Double => SameDouble(log.AsDouble, stored),
            ValueKind.TimestampTz => Equal(Instant(log.AsText), Instant(stored.ToText()!)) ?? Text(log, stored),
            ValueKind.Timestamp => Equal(LocalTicks(log), LocalTicks(stored)) ?? Text(log, stored),
            ValueKind.Date => Equal(log.AsInt64, Days(stored)) ?? Text(log, stored),
            ValueKind.Json => Equal(JsonSame(log.AsText, stored.ToText()!)) ?? Text(log, stored),
            ValueKind.Boolean => Equal(log.AsBoolean, Boolean(stored)) ?? Text(log, stored),
            ValueKind.Uuid => string.Equals(log.AsText, stored.ToText(), StringComparison.OrdinalIgnoreCase),
            ValueKind.Bytes => stored.Kind == ValueKind.Bytes ? log.AsBytes.AsSpan().SequenceEqual(stored.AsBytes) : Text(log, stored),
            _ => Text(log, stored),
        };
    }

    /// <summary>A decimal numeral in canonical form (no leading zeros, no trailing fractional zeros, no
    /// exponent, <c>0</c> for zero), exactly; null when the text is no number.</summary>
    public static string? Numeral(string text)
    {
        var match = NumberPattern().Match(text.Trim());
        if (!match.Success)
        {
            return null;
        }

        var digits = match.Groups["int"].Value + match.Groups["frac"].Value;
        if (digits.Length == 0)
        {
            return null;
        }

        var scale = match.Groups["frac"].Length;
        if (match.Groups["exp"].Success)
        {
            if (!int.TryParse(match.Groups["exp"].Value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var exponent) || Math.Abs(exponent) > 10_000)
            {
                return null;
            }

            scale -= exponent;
        }

        var unscaled = BigInteger.Parse(digits, CultureInfo.InvariantCulture);
        if (unscaled.IsZero)
        {
            return "0";
        }

        while (scale > 0 && (unscaled % 10).IsZero)
        {
            unscaled /= 10;
            scale--;
        }

        if (scale < 0)
        {
            unscaled *= BigInteger.Pow(10, -scale);
            scale = 0;
        }

        if (match.Groups["sign"].Value == "-")
        {
            unscaled = -unscaled;
        }

        return DecimalText.Format(unscaled, scale);
    }

    private static bool Text(FieldValue log, FieldValue stored) => string.Equals(log.ToText(), stored.ToText(), StringComparison.Ordinal);

    private static bool? Equal<T>(T? a, T? b)
        where T : struct =>
        a is { } x && b is { } y ? x.Equals(y) : null;

    private static bool? Equal(string? a, string? b) => a is not null && b is not null ? string.Equals(a, b, StringComparison.Ordinal) : null;

    private static bool? Equal(bool? same) => same;

    private static bool SameDouble(double log, FieldValue stored)
    {
        var value = stored.Kind == ValueKind.Double ? stored.AsDouble
            : double.TryParse(stored.ToText(), NumberStyles.Float, CultureInfo.InvariantCulture, out var parsed) ? parsed : double.NaN;
        return log.Equals(value);
    }

    /// <summary>The instant an ISO-8601 text names, in UTC ticks; digits past the 100 ns tick are cut
    /// (.NET parses seven fractional digits at most), and a text without offset counts as UTC.</summary>
    private static long? Instant(string text) =>
        DateTimeOffset.TryParse(CutFraction(text), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var instant) ? instant.UtcTicks : null;

    private static long? LocalTicks(FieldValue value)
    {
        if (value.Kind == ValueKind.Timestamp)
        {
            return EpochTicks + value.Unit switch
            {
                TimeUnit.Milliseconds => value.AsInt64 * TimeSpan.TicksPerMillisecond,
                TimeUnit.Microseconds => value.AsInt64 * 10,
                _ => value.AsInt64 / 100,
            };
        }

        return DateTime.TryParse(CutFraction(value.ToText()!), CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out var time) ? time.Ticks : null;
    }

    private static long? Days(FieldValue value) =>
        value.Kind == ValueKind.Date ? value.AsInt64
        : DateOnly.TryParse(value.ToText(), CultureInfo.InvariantCulture, out var date) ? date.DayNumber - DateOnly.FromDateTime(DateTime.UnixEpoch).DayNumber
        : null;

    private static bool? Boolean(FieldValue value) =>
        value.Kind == ValueKind.Boolean ? value.AsBoolean
        : value.ToText()!.Trim().ToLowerInvariant() switch
        {
            "true" or "t" or "1" => true,
            "false" or "f" or "0" => false,
            _ => null,
        };

    /// <summary>JSON equality by value (<see cref="JsonElement.DeepEquals"/>: object member order and
    /// spacing ignored, numbers by value); null when either side is no JSON.</summary>
    private static bool? JsonSame(string log, string stored)
    {
        try
        {
            using var a = JsonDocument.Parse(log);
            using var b = JsonDocument.Parse(stored);
            return JsonElement.DeepEquals(a.RootElement, b.RootElement);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static string CutFraction(string text)
    {
        var match = FractionPattern().Match(text);
        return match.Success && match.Groups[1].Length > 7 ? text.Remove(match.Groups[1].Index + 7, match.Groups[1].Length - 7) : text;
    }

    [GeneratedRegex(@"^(?<sign>[+-]?)(?<int>\d*)(?:\.(?<frac>\d*))?(?:[eE](?<exp>[+-]?\d+))?$", RegexOptions.CultureInvariant)]
    private static partial Regex NumberPattern();

    [GeneratedRegex(@"[T ]\d{2}:\d{2}:\d{2}\.(\d+)", RegexOptions.CultureInvariant)]
    private static partial Regex FractionPattern();
}
