namespace Sync.Compliance.Erasure.Steps;

/// <summary>Input of <see cref="VerifyStep"/>: the scope and what every earlier step did.</summary>
public sealed record VerifyInput(ErasureScope Scope, ErasurePlan Plan, PublishedTombstones Tombstones, Compactions Compactions, SinkErasure Sinks, DeadLetterErasure DeadLetters);

/// <summary>One planned topic after the checks.</summary>
/// <param name="RawSubjects">The subjects its raw log still names (after a truncation, when one ran).</param>
public sealed record CheckedTopic(TopicRef Topic, TopicPlan Plan, TopicCompaction Compaction, TopicOutcome Outcome, IReadOnlySet<string> RawSubjects);

/// <summary>Output of <see cref="VerifyStep"/> (and of <see cref="PurgeBacklogStep"/>, which checks the truncated topics again).</summary>
/// <param name="Topics">The planned topics, by name.</param>
/// <param name="ResidueElsewhere">Subjects a compacted view or a sink still holds, or that a topic
/// that was not compacted carried; raw logs' residue is in <see cref="CheckedTopic.RawSubjects"/>.</param>
public sealed record Verification(IReadOnlyList<CheckedTopic> Topics, IReadOnlyList<SinkOutcome> Sinks, IReadOnlyList<DeadLetterOutcome> DeadLetters, IReadOnlySet<string> ResidueElsewhere)
{
    /// <summary>Every subject any check still finds, or that a topic not compacted carried.</summary>
    public IReadOnlySet<string> Residue
    {
        get
        {
            var residue = new HashSet<string>(ResidueElsewhere, StringComparer.Ordinal);
            foreach (var topic in Topics)
            {
                residue.UnionWith(topic.RawSubjects);
            }

            return residue;
        }
    }

    /// <summary>The requested keys found anywhere before the erasure removed them: named by a
    /// message of a topic (its current state, a before image or its history), held by a sink row, or
    /// named by a dead letter. A key outside it was found nowhere.</summary>
    public IReadOnlySet<string> Found { get; init; } = new HashSet<string>(StringComparer.Ordinal);

    /// <summary>True when no check finds a subject and, outside a dry run, every topic was compacted.</summary>
    public bool IsClean(bool dryRun) =>
        Topics.All(t => t.Outcome.CompactedViewMatches == 0 && (t.Outcome.RawResidueAfterTruncation ?? t.Outcome.RawResidue) == 0 && (dryRun || t.Compaction.Succeeded))
        && Sinks.All(s => s.Remaining == 0) && DeadLetters.All(d => d.Remaining == 0);
}

/// <summary>Checks what is left: each planned topic's compacted view and raw log, every sink target,
/// every dead-letter table searched.</summary>
public sealed class VerifyStep : IErasureStep<VerifyInput, Verification>
{
    public async Task<Verification> RunAsync(VerifyInput input, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(input);
        var scope = input.Scope;
        var residue = new HashSet<string>(StringComparer.Ordinal);

        // Topics are read side by side: a compacted read that ends on a removed tombstone waits out
        // the log's idle time, and those waits need not add up.
        var ordered = input.Plan.Topics.OrderBy(p => p.Key.Topic, StringComparer.Ordinal).ToList();
        var checks = await Task.WhenAll(ordered.Select(p => TopicCheck.RunAsync(scope, scope.Logs.Get(p.Value.Source), p.Value, p.Key.Topic, cancellationToken)));
        var topics = new List<CheckedTopic>();
        foreach (var ((topic, plan), check) in ordered.Zip(checks))
        {
            residue.UnionWith(check.CompactedSubjects);
            var compaction = input.Compactions.Of(topic);

            // A subject stays incomplete where a topic that carried it was not compacted.
            if (!scope.DryRun && !compaction.Succeeded)
            {
                residue.UnionWith(plan.Subjects);
            }

            var outcome = new TopicOutcome(
                topic.Topic,
                string.Join(", ", plan.Materializers.Order(StringComparer.Ordinal)),
                plan.Keys.Count,
                input.Tombstones.On(topic),
                compaction.Text,
                compaction.MessagesRemoved,
                check.CompactedMatches,
                check.RawMatches,
                check.RawMatches > 0 && !scope.DryRun ? await scope.Logs.Get(plan.Source).RetentionNoteAsync(cancellationToken) : null)
            {
                Scrubbed = plan.Scrubs.Count,
            };
            topics.Add(new CheckedTopic(topic, plan, compaction, outcome, check.RawSubjects));
        }

        var remaining = await scope.PerSinkAsync(async bound =>
        {
            var count = await SubjectRows.CountAsync(scope.SinkOf(bound), bound, scope.Keys, cancellationToken);
            lock (residue)
            {
                residue.UnionWith(count.KeysFound);
            }

            return count.Total;
        });
        var sinks = scope.Bindings.Select(bound =>
        {
            var left = remaining[bound.Materializer];
            var before = input.Plan.RowsBefore[bound.Materializer];
            var deleted = input.Sinks.Deleted[bound.Materializer];
            return new SinkOutcome(bound.Materializer, bound.Sink, bound.Options.Table, bound.Match, before, deleted, left)
            {
                RemovedByMaterializers = scope.DryRun ? 0 : Math.Max(0, before - deleted - left),
                ErasureMarkers = input.Sinks.ErasureMarkers[bound.Materializer],
            };
        }).ToList();

        var deadLetters = new List<DeadLetterOutcome>();
        foreach (var search in input.DeadLetters.Tables)
        {
            var first = search.Before;
            var after = scope.DryRun ? first : await DeadLetterEraseStep.ScanAsync(search.Store, search.Reader, scope.KeySet, cancellationToken);
            residue.UnionWith(after.Subjects);
            deadLetters.Add(new DeadLetterOutcome(
                search.Reader.Binding.Materializer,
                search.Store.DeadLetterTable,
                first.Letters,
                first.Naming.Count,
                scope.DryRun ? 0 : first.Naming.Count,
                after.Naming.Count,
                first.Unreadable));
        }

        return new Verification(topics, sinks, deadLetters, residue) { Found = FoundBy(input.Plan, input.DeadLetters) };
    }

    /// <summary>The requested keys that the plan (topics and sink rows) or the dead-letter search found before any delete.</summary>
    public static IReadOnlySet<string> FoundBy(ErasurePlan plan, DeadLetterErasure deadLetters)
    {
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(deadLetters);
        var found = new HashSet<string>(plan.KeysFound, StringComparer.Ordinal);
        found.UnionWith(deadLetters.Tables.SelectMany(t => t.Before.Subjects));
        return found;
    }
}
