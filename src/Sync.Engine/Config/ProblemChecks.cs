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
}
