using System.ComponentModel;

namespace Sync.Engine.Config;

/// <summary>How many dead letters a run tolerates, in the spirit of Kafka Connect's
/// <c>errors.tolerance</c> (apache/kafka connect/runtime ConnectorConfig.java: <c>none</c> fails the
/// task at the first error, <c>all</c> skips problematic records).</summary>
public enum ErrorTolerance
{
    /// <summary>Dead letters are written and the run goes on (up to <c>maxDeadLetters</c>).</summary>
    All,

    /// <summary>The first dead letter stops the materializer, once it is durably written.</summary>
    None,
}

/// <summary>The error policy (<c>errors:</c>), at the top level for every materializer and per
/// materializer, whose keys override the top level's one by one.</summary>
public sealed class ErrorsOptions : IValidatable
{
    [Description("`all`: a message that cannot be read, decoded, mapped or written goes to the dead-letter target and the run goes on (exit code 3 at the end if any did); `none`: the first dead letter stops the materializer once it is written (exit code 4).")]
    public ErrorTolerance? Tolerance { get; set; }

    [Description("With `tolerance: all`: stop the materializer when more than this many dead letters were written in this run (exit code 4). Default: no limit.")]
    public long? MaxDeadLetters { get; set; }

    public IReadOnlyList<string> Validate(string path)
    {
        var problems = new List<string>();
        if (MaxDeadLetters is < 0)
        {
            problems.Add($"{path}.maxDeadLetters ({MaxDeadLetters}) must be 0 or more");
        }

        if (Tolerance == ErrorTolerance.None && MaxDeadLetters is not null)
        {
            problems.Add($"{path}.maxDeadLetters ({MaxDeadLetters}) needs tolerance all; tolerance none already stops at the first dead letter");
        }

        return problems;
    }
}

/// <summary>The error policy a materializer runs with: its own <c>errors</c> keys, else the top
/// level's, else tolerance all without a limit.</summary>
public sealed record ErrorPolicy(ErrorTolerance Tolerance, long? MaxDeadLetters)
{
    /// <summary>Tolerance all, no limit: dead letters never stop a run (the default, and <c>sync dlq replay</c>).</summary>
    public static ErrorPolicy TolerateAll { get; } = new(ErrorTolerance.All, null);

    /// <summary>The effective policy of a materializer.</summary>
    public static ErrorPolicy Of(ErrorsOptions? top, ErrorsOptions? own)
    {
        var tolerance = own?.Tolerance ?? top?.Tolerance ?? ErrorTolerance.All;
        return new ErrorPolicy(tolerance, tolerance == ErrorTolerance.None ? 0 : own?.MaxDeadLetters ?? top?.MaxDeadLetters);
    }

    /// <summary>Whether a run that wrote <paramref name="deadLetters"/> letters must stop.</summary>
    public bool Stops(long deadLetters) => MaxDeadLetters is { } max && deadLetters > max;
}
