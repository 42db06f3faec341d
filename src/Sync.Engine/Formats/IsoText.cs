using System.Text.RegularExpressions;

namespace Sync.Engine.Formats;

/// <summary>Checks the ISO-8601 texts Debezium writes for ZonedTimestamp and ZonedTime
/// (Java's ISO_OFFSET_DATE_TIME and ISO_OFFSET_TIME): up to nine fractional digits, an offset or Z.</summary>
internal static partial class IsoText
{
    /// <summary>PostgreSQL's infinite timestamps, which Debezium passes through as these words.</summary>
    public static bool IsZonedTimestamp(string text)
    {
        if (text is "infinity" or "-infinity")
        {
            return true;
        }

        var m = ZonedTimestampPattern().Match(text);
        if (!m.Success)
        {
            return false;
        }

        var year = Int(m, "y");
        var month = Int(m, "mo");
        var day = Int(m, "d");
        return year >= 1 && month is >= 1 and <= 12 && day >= 1 && day <= DateTime.DaysInMonth(year, month)
            && ValidTime(m) && ValidOffset(m);
    }

    public static bool IsZonedTime(string text)
    {
        var m = ZonedTimePattern().Match(text);
        return m.Success && ValidTime(m) && ValidOffset(m);
    }

    private static bool ValidTime(Match m)
    {
        var hour = Int(m, "h");
        var minute = Int(m, "mi");
        var second = m.Groups["s"].Success ? Int(m, "s") : 0;
        return hour <= 23 && minute <= 59 && second <= 59;
    }

    private static bool ValidOffset(Match m)
    {
        if (!m.Groups["oh"].Success)
        {
            return true; // Z
        }

        var hours = Int(m, "oh");
        var minutes = Int(m, "om");
        var seconds = m.Groups["os"].Success ? Int(m, "os") : 0;
        return hours <= 18 && minutes <= 59 && seconds <= 59;
    }

    private static int Int(Match m, string group) => int.Parse(m.Groups[group].ValueSpan, NumberStyles.None, CultureInfo.InvariantCulture);

    [GeneratedRegex(@"^(?<y>[0-9]{4})-(?<mo>[0-9]{2})-(?<d>[0-9]{2})T(?<h>[0-9]{2}):(?<mi>[0-9]{2})(:(?<s>[0-9]{2})(\.[0-9]{1,9})?)?(Z|[+-](?<oh>[0-9]{2}):(?<om>[0-9]{2})(:(?<os>[0-9]{2}))?)$", RegexOptions.CultureInvariant)]
    private static partial Regex ZonedTimestampPattern();

    [GeneratedRegex(@"^(?<h>[0-9]{2}):(?<mi>[0-9]{2})(:(?<s>[0-9]{2})(\.[0-9]{1,9})?)?(Z|[+-](?<oh>[0-9]{2}):(?<om>[0-9]{2})(:(?<os>[0-9]{2}))?)$", RegexOptions.CultureInvariant)]
    private static partial Regex ZonedTimePattern();
}
