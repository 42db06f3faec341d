namespace Sync.Compliance.Erasure.Steps;

/// <summary>Input of <see cref="CompactionStep"/>.</summary>
public sealed record CompactionInput(ErasureScope Scope, ErasurePlan Plan);

/// <summary>How one topic's compaction ended.</summary>
/// <param name="State">Succeeded, failed, timed out or not run.</param>
/// <param name="Status">The log's own status word for a failure; otherwise the state's.</param>
/// <param name="MessagesRemoved">Messages removed from the raw log, where the log can tell.</param>
/// <param name="Error">Why it failed or timed out.</param>
public sealed record TopicCompaction(CompactionState State, string Status, long? MessagesRemoved, string? Error)
{
    public bool Succeeded => State == CompactionState.Succeeded;

    /// <summary>The report's compaction column.</summary>
    public string Text => Error is null ? Status : $"{Status}: {Error}";

    public static TopicCompaction Of(CompactionState state, long? messagesRemoved = null, string? error = null) =>
        new(state, ErasureText.Of(state), messagesRemoved, error);

    public static TopicCompaction From(CompactionOutcome outcome)
    {
        ArgumentNullException.ThrowIfNull(outcome);
        return new(outcome.Succeeded ? CompactionState.Succeeded : CompactionState.Failed, outcome.Status, outcome.MessagesRemoved, outcome.Error);
    }
}

/// <summary>Output of <see cref="CompactionStep"/>.</summary>
public sealed record Compactions(IReadOnlyDictionary<TopicRef, TopicCompaction> Topics, bool DryRun)
{
    /// <summary>The topic's compaction; not run (or not run in a dry run) where none ran.</summary>
    public TopicCompaction Of(TopicRef topic) =>
        Topics.GetValueOrDefault(topic) ?? TopicCompaction.Of(DryRun ? CompactionState.DryRun : CompactionState.NotRun);
}

/// <summary>Compacts every planned topic, one compaction per topic, each bounded by the configured timeout.</summary>
public sealed class CompactionStep : IErasureStep<CompactionInput, Compactions>
{
    public async Task<Compactions> RunAsync(CompactionInput input, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(input);
        var scope = input.Scope;
        var compactions = new Dictionary<TopicRef, TopicCompaction>();
        if (scope.DryRun)
        {
            return new(compactions, DryRun: true);
        }

        var limit = scope.Config.Erasure.CompactionTimeout;
        foreach (var (topic, plan) in input.Plan.Topics)
        {
            var log = scope.Logs.Get(plan.Source);
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(limit);
            try
            {
                compactions[topic] = TopicCompaction.From(await log.CompactAsync(topic.Topic, plan.KeysToCompact, timeout.Token));
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                compactions[topic] = TopicCompaction.Of(CompactionState.TimedOut, error: $"compaction did not finish within {Durations.Format(limit)}");
            }
        }

        return new(compactions, DryRun: false);
    }
}
