namespace Sync.Compliance.Erasure.Steps;

/// <summary>What a topic's compacted view and raw log still hold of the requested subjects.</summary>
/// <param name="CompactedMatches">Messages of the compacted view that name a subject.</param>
/// <param name="RawMatches">Messages of the raw log that name a subject.</param>
public sealed record TopicResidue(long CompactedMatches, long RawMatches, IReadOnlySet<string> CompactedSubjects, IReadOnlySet<string> RawSubjects);

/// <summary>Reads one topic's compacted view and raw log for the requested subjects, as the
/// materializers that read the topic decode them.</summary>
public static class TopicCheck
{
    public static async Task<TopicResidue> RunAsync(ErasureScope scope, ITopicLog log, TopicPlan plan, string topic, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(scope);
        ArgumentNullException.ThrowIfNull(log);
        ArgumentNullException.ThrowIfNull(plan);

        // One read of each view; a message read by several materializers counts once.
        var readers = scope.Bindings.Where(b => plan.Materializers.Contains(b.Materializer)).Select(scope.Reader).ToList();
        bool OnTopic(string t) => t == topic;
        long compacted = 0, raw = 0;
        var compactedSubjects = new HashSet<string>(StringComparer.Ordinal);
        var rawSubjects = new HashSet<string>(StringComparer.Ordinal);
        await foreach (var message in log.ReadCompactedAsync(OnTopic, cancellationToken))
        {
            compacted += Collect(message, compactedSubjects) ? 1 : 0;
        }

        await foreach (var message in log.ScanRawAsync(OnTopic, cancellationToken))
        {
            raw += Collect(message, rawSubjects) ? 1 : 0;
        }

        return new TopicResidue(compacted, raw, compactedSubjects, rawSubjects);

        bool Collect(SourceMessage message, HashSet<string> into)
        {
            var found = false;
            foreach (var reader in readers)
            {
                var subjects = reader.SubjectsIn(message, scope.KeySet);
                into.UnionWith(subjects);
                found |= subjects.Count > 0;
            }

            return found;
        }
    }
}
