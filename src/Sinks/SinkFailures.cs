namespace Sync.Sinks;

/// <summary>How a <see cref="SinkSession{TConnection}"/> treats the failures of a sink's calls: the
/// sink's error classifier and the words of the exceptions and retry notes it reports.</summary>
/// <param name="Classify">The verdict on a failure, or null for one that is not the store's (an
/// argument error, a failure the sink already reported): it passes through untouched and the
/// connection stays. <see cref="ErrorVerdict.Poison"/> outside a row write counts as fatal.</param>
public sealed record SinkFailures(Func<Exception, ErrorVerdict?> Classify)
{
    /// <summary>The message of the <see cref="SinkFatalException"/> for a call (<c>what</c>) that failed.</summary>
    public Func<string, Exception, string> Fatal { get; init; } = (what, e) => $"could not {what}: {e.Message}";

    /// <summary>The message of the <see cref="SinkUnavailableException"/> for a call whose transient
    /// failures outlasted the given number of attempts.</summary>
    public Func<string, int, Exception, string> Unavailable { get; init; } = (what, attempts, e) => $"could not {what} after {attempts} attempts: {e.Message}";

    /// <summary>The note for the retry callback after a transient failure of the given attempt.</summary>
    public Func<string, int, Exception, string> Retrying { get; init; } = (what, attempt, e) => $"could not {what} (attempt {attempt}), retrying: {e.Message}";

    /// <summary>A transient failure closes the connection too (its state is unknown), not only a fatal one.</summary>
    public bool DiscardsOnTransient { get; init; }

    /// <summary>A cancelled call closes the connection (a cancelled command leaves it in an unknown state).</summary>
    public bool DiscardsOnCancel { get; init; }
}
