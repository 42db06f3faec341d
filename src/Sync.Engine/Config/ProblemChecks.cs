namespace Sync.Engine.Config;

/// <summary>The range checks that options repeat in <see cref="IValidatable.Validate"/>, each adding
/// its problem in the one wording of the config's messages: the field's path, its value, the rule.</summary>
public static class ProblemChecks
{
    /// <param name="field">The field's path, e.g. <c>sources.pulsar.compactedReadIdle</c>.</param>
    public static void MustBePositive(this List<string> problems, string field, TimeSpan value)
    {
        ArgumentNullException.ThrowIfNull(problems);
        if (value <= TimeSpan.Zero)
        {
            problems.Add($"{field} ({Durations.Format(value)}) must be positive");
        }
    }

    public static void MustNotBeNegative(this List<string> problems, string field, TimeSpan value)
    {
        ArgumentNullException.ThrowIfNull(problems);
        if (value < TimeSpan.Zero)
        {
            problems.Add($"{field} ({Durations.Format(value)}) must not be negative");
        }
    }

    public static void MustBeBetween(this List<string> problems, string field, TimeSpan value, TimeSpan min, TimeSpan max)
    {
        ArgumentNullException.ThrowIfNull(problems);
        if (value < min || value > max)
        {
            problems.Add($"{field} ({Durations.Format(value)}) must be between {Durations.Format(min)} and {Durations.Format(max)}");
        }
    }

    public static void MustBeBetween(this List<string> problems, string field, int value, int min, int max)
    {
        ArgumentNullException.ThrowIfNull(problems);
        if (value < min || value > max)
        {
            problems.Add($"{field} ({value}) must be between {min} and {max}");
        }
    }

    /// <summary>A number from <paramref name="min"/> to <paramref name="max"/>; an unset one passes.</summary>
    public static void MustBeBetween(this List<string> problems, string field, int? value, int min, int max)
    {
        ArgumentNullException.ThrowIfNull(problems);
        if (value is { } number)
        {
            problems.MustBeBetween(field, number, min, max);
        }
    }

    /// <summary>A duration above zero (or at zero, where <paramref name="zeroAllowed"/>) and at most
    /// <paramref name="max"/>. The message states the range as the reference documents it
    /// ("1ms and 1h"), so <paramref name="range"/> gives its text.</summary>
    public static void MustBeWithin(this List<string> problems, string field, TimeSpan value, bool zeroAllowed, TimeSpan max, string range)
    {
        ArgumentNullException.ThrowIfNull(problems);
        if ((zeroAllowed ? value < TimeSpan.Zero : value <= TimeSpan.Zero) || value > max)
        {
            problems.Add($"{field} ({Durations.Format(value)}) must be between {range}");
        }
    }
}
