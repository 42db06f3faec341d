namespace Sync.Sinks;

/// <summary>The rules that options of several sinks state alike, each adding its problem (naming the
/// field path and the value) to the list of problems when the value breaks it.</summary>
internal static class SinkOptionRules
{
    /// <summary>A duration above zero.</summary>
    public static void RequirePositive(this List<string> problems, string key, TimeSpan value)
    {
        if (value <= TimeSpan.Zero)
        {
            problems.Add($"{key} ({Durations.Format(value)}) must be positive");
        }
    }

    /// <summary>A duration above zero (or at zero, where <paramref name="zeroAllowed"/>) and at most
    /// <paramref name="max"/>. The message states the range as the reference documents it
    /// ("1ms and 1h"), so <paramref name="range"/> gives its text.</summary>
    public static void RequireBetween(this List<string> problems, string key, TimeSpan value, bool zeroAllowed, TimeSpan max, string range)
    {
        if ((zeroAllowed ? value < TimeSpan.Zero : value <= TimeSpan.Zero) || value > max)
        {
            problems.Add($"{key} ({Durations.Format(value)}) must be between {range}");
        }
    }

    /// <summary>A number from <paramref name="min"/> to <paramref name="max"/>; an unset one passes.</summary>
    public static void RequireBetween(this List<string> problems, string key, int? value, int min, int max)
    {
        if (value is { } number && (number < min || number > max))
        {
            problems.Add(FormattableString.Invariant($"{key} ({number}) must be between {min} and {max}"));
        }
    }
}
