namespace Sync.Sinks;

/// <summary>The capped backoff of a sink's transient failures (<see cref="RetryPolicy"/>), waited on the
/// sink's <see cref="TimeProvider"/>: attempts run one after another until one is done, or until the
/// last one has failed and its failure is thrown.</summary>
public sealed class SinkRetry(RetryPolicy policy, TimeProvider time)
{
    /// <summary>Runs <paramref name="attempt"/> (given its 1-based number) until it is done. A transient
    /// outcome is retried after the policy's delay, reported to <paramref name="retrying"/> first; the
    /// last attempt's transient outcome throws what its <see cref="Attempt{T}.GiveUp"/> builds.</summary>
    public async Task<T> RunAsync<T>(Func<int, Task<Attempt<T>>> attempt, Action<string>? retrying, CancellationToken cancellationToken)
    {
        for (var number = 1; ; number++)
        {
            var outcome = await attempt(number);
            if (outcome.GiveUp is not { } giveUp)
            {
                return outcome.Result!;
            }

            if (number >= policy.MaxAttempts)
            {
                throw giveUp(number);
            }

            if (outcome.Note is { } note)
            {
                retrying?.Invoke(note(number));
            }

            await Task.Delay(policy.DelayAfter(number), time, cancellationToken);
        }
    }
}

/// <summary>The outcome of one attempt of a <see cref="SinkRetry"/>: done with a result, or failed
/// transiently with the failure to throw when no attempt is left and the note for the retry
/// callback (each given the attempt's number).</summary>
public readonly record struct Attempt<T>(T? Result, Func<int, Exception>? GiveUp, Func<int, string>? Note)
{
    public static Attempt<T> Done(T result) => new(result, null, null);

    public static Attempt<T> Transient(Func<int, Exception> giveUp, Func<int, string>? note = null) => new(default, giveUp, note);
}
