namespace Sync.Compliance.Erasure.Steps;

/// <summary>Input of <see cref="PurgeBacklogStep"/>.</summary>
public sealed record PurgeBacklogInput(ErasureScope Scope, Verification Verification);

/// <summary><c>--purge-backlog</c>: truncates every topic that still holds raw residue after
/// compaction, then checks it again. Without the option, or in a dry run, it does nothing.</summary>
public sealed class PurgeBacklogStep : IErasureStep<PurgeBacklogInput, Verification>
{
    public async Task<Verification> RunAsync(PurgeBacklogInput input, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(input);
        var scope = input.Scope;
        var verification = input.Verification;
        if (!scope.Command.PurgeBacklog || scope.DryRun)
        {
            return verification;
        }

        var topics = new List<CheckedTopic>();
        foreach (var topic in verification.Topics)
        {
            if (topic.Outcome.RawResidue == 0)
            {
                topics.Add(topic);
                continue;
            }

            var log = scope.Logs.Get(topic.Plan.Source);
            var truncation = await log.TruncateAsync(topic.Topic.Topic, cancellationToken);
            var after = await TopicCheck.RunAsync(scope, log, topic.Plan, topic.Topic.Topic, cancellationToken);
            topics.Add(topic with
            {
                RawSubjects = after.RawSubjects,
                Outcome = topic.Outcome with
                {
                    Truncation = truncation.Error is null ? $"{truncation.Status}: {truncation.Effect}" : $"{truncation.Status}: {truncation.Error}",
                    RawResidueAfterTruncation = after.RawMatches,
                    ResidueUntil = after.RawMatches > 0 ? await log.RetentionNoteAsync(cancellationToken) : null,
                },
            });
        }

        return verification with { Topics = topics };
    }
}
