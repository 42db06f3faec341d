namespace Sync.Engine.Runtime;

/// <summary>A materializer stopped by its error policy (<c>errors.tolerance: none</c>, or more than
/// <c>errors.maxDeadLetters</c> letters in this run), after the letters were durably written and
/// the batch that held them was committed. The message names the materializer, the letter that
/// crossed the limit (topic and position, stage and reason) and where the letters are.</summary>
public sealed class ErrorPolicyException : MaterializerStoppedException
{
    public ErrorPolicyException(string materializer, ErrorPolicy policy, long deadLetters, string letter, string target)
        : base(materializer, Describe(materializer, policy, deadLetters, letter, target))
    {
        DeadLetters = deadLetters;
    }

    /// <summary>Dead letters written in this run, the last batch's included.</summary>
    public long DeadLetters { get; }

    private static string Describe(string materializer, ErrorPolicy policy, long deadLetters, string letter, string target)
    {
        ArgumentNullException.ThrowIfNull(policy);
        return policy.Tolerance == ErrorTolerance.None
            ? $"{materializer} stopped at its first dead letter (errors.tolerance: none): {letter}; written to {target}"
            : $"{materializer} stopped after {deadLetters} dead letters in this run, more than errors.maxDeadLetters ({policy.MaxDeadLetters}); the one past the limit: {letter}; written to {target}";
    }
}
