using System.ComponentModel;

namespace Sync.Sinks;

/// <summary>What a sink's error classifier decides about a failure.</summary>
public enum ErrorVerdict
{
    /// <summary>The store is busy or briefly unreachable: roll back and retry the batch with capped backoff.</summary>
    Transient,

    /// <summary>This one change cannot be written (constraint, type, size): reject it with the reason
    /// (it goes to the dead-letter target) and apply the rest of the batch.</summary>
    Poison,

    /// <summary>The store failed (I/O, corruption, disk full, read-only): discard the connection and stop.</summary>
    Fatal,
}

/// <summary>Base of every failure a sink reports to the engine. The message names the sink and the
/// target, never row values or secrets.</summary>
public class SinkException : Exception
{
    public SinkException()
    {
    }

    public SinkException(string message)
        : base(message)
    {
    }

    public SinkException(string message, Exception inner)
        : base(message, inner)
    {
    }
}

/// <summary>Transient errors outlasted the retry budget (the store stayed busy or locked). Nothing of
/// the batch was applied; the engine may retry the batch later.</summary>
public sealed class SinkUnavailableException : SinkException, ITransientSinkFailure
{
    public SinkUnavailableException()
    {
    }

    public SinkUnavailableException(string message)
        : base(message)
    {
    }

    public SinkUnavailableException(string message, Exception inner)
        : base(message, inner)
    {
    }
}

/// <summary>The store failed in a way a retry cannot fix (I/O error, corruption, disk full, read-only).
/// Nothing of the batch was applied and the connection was discarded.</summary>
public sealed class SinkFatalException : SinkException
{
    public SinkFatalException()
    {
    }

    public SinkFatalException(string message)
        : base(message)
    {
    }

    public SinkFatalException(string message, Exception inner)
        : base(message, inner)
    {
    }
}

/// <summary>Capped exponential backoff for transient errors: <see cref="InitialDelay"/>, doubled per
/// attempt up to <see cref="MaxDelay"/>, for at most <see cref="MaxAttempts"/> attempts in all.</summary>
public sealed record RetryPolicy
{
    /// <summary>Delay before the second attempt. Default 50 ms.</summary>
    [Description("Delay before the second attempt; doubled per attempt. Default 50ms.")]
    public TimeSpan InitialDelay { get; init; } = TimeSpan.FromMilliseconds(50);

    /// <summary>Upper bound of any delay. Default 2 s.</summary>
    [Description("Upper bound of any delay. Default 2s.")]
    public TimeSpan MaxDelay { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>Attempts in all, the first included. Default 8.</summary>
    [Description("Attempts in all, the first included. Default 8.")]
    public int MaxAttempts { get; init; } = 8;

    public static RetryPolicy Default { get; } = new();

    /// <summary>The delay after failed attempt <paramref name="attempt"/> (1-based).</summary>
    public TimeSpan DelayAfter(int attempt)
    {
        var factor = Math.Pow(2, Math.Clamp(attempt - 1, 0, 30));
        var ticks = Math.Min(InitialDelay.Ticks * factor, MaxDelay.Ticks);
        return TimeSpan.FromTicks((long)ticks);
    }

    /// <summary>The problems of an options type's <c>retry</c> setting: it must be set and valid.</summary>
    public static IReadOnlyList<string> ValidateSetting(RetryPolicy? policy, string path) =>
        policy is null ? [$"{path} (null) must be set"] : policy.Validate(path);

    /// <summary>Validation messages naming the field path and value; empty when valid. Not
    /// <see cref="IValidatable"/> on purpose: the options that hold a policy include these messages.</summary>
    public IReadOnlyList<string> Validate(string path)
    {
        var problems = new List<string>();
        problems.MustBeBetween($"{path}.maxAttempts", MaxAttempts, 1, 1000);

        problems.MustNotBeNegative($"{path}.initialDelay", InitialDelay);

        if (MaxDelay < InitialDelay)
        {
            problems.Add($"{path}.maxDelay ({Durations.Format(MaxDelay)}) must not be less than initialDelay ({Durations.Format(InitialDelay)})");
        }

        return problems;
    }
}
