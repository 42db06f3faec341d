namespace Sync.Compliance.Erasure.Steps;

/// <summary>Input of <see cref="ReportStep"/>: the scope and what the steps found.</summary>
public sealed record ReportInput(
    ErasureScope Scope,
    RecordedRequests Requests,
    ErasurePlan Plan,
    SinkErasure Sinks,
    Verification Verification,
    DateTimeOffset StartedAt,
    TimeProvider Time,
    ErasureTimings Timings);

/// <summary>Decides the verdict, per key and for the request, writes each key's status to the
/// suppression ledger (not in a dry run), and assembles the report with its notes.</summary>
public sealed class ReportStep : IErasureStep<ReportInput, ErasureReport>
{
    public async Task<ErasureReport> RunAsync(ReportInput input, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(input);
        var scope = input.Scope;
        var verification = input.Verification;
        var verdict = Verdict(input);
        var finished = input.Time.GetUtcNow();
        var keys = scope.DryRun
            ? [.. input.Requests.Keys.Select(k => new KeyOutcome(k.KeyHash, k.RequestId, ErasureVerdict.Planned))]
            : await RecordStatusesAsync(scope, input.Requests, verdict, verification.Residue, finished, cancellationToken);

        var retention = new List<(string Source, string Note)>();
        foreach (var source in input.Plan.Topics.Values.Select(p => p.Source).DistinctBy(s => s.Name))
        {
            retention.Add((source.Name, await scope.Logs.Get(source).RetentionNoteAsync(cancellationToken)));
        }

        var topics = verification.Topics.Select(t => t.Outcome).ToList();
        return new ErasureReport
        {
            RequestId = keys.Count == 1 ? keys[0].RequestId : $"batch of {keys.Count}",
            Subject = scope.Subject.Name,
            RequestedBy = scope.Command.RequestedBy,
            StartedAt = input.StartedAt,
            FinishedAt = finished,
            DryRun = scope.DryRun,
            Verdict = verdict,
            Keys = keys,
            Topics = topics,
            Sinks = verification.Sinks,
            DeadLetters = verification.DeadLetters,
            Timings = input.Timings.ToReport(),
            Notes =
            [
                .. PurgeNotes(scope.Command, topics),
                .. input.Sinks.CannotMatch.Order(StringComparer.Ordinal),
                .. input.Sinks.Unmarkable.OrderBy(u => u.Key, StringComparer.Ordinal).Select(u => $"sink target of {u.Key}: the sink cannot turn the delete markers of the tombstoned keys into erasure markers{(u.Value is null ? string.Empty : $" ({u.Value})")}; a key a running materializer deleted keeps its ordinary delete marker, and only the ledger keeps a later change of it out"),
                .. Notes(retention),
                .. DeadLetterNotes(verification.DeadLetters),
            ],
        };
    }

    private static ErasureVerdict Verdict(ReportInput input)
    {
        var verification = input.Verification;
        return input.Scope.DryRun ? ErasureVerdict.Planned
            : !verification.IsClean(dryRun: false) ? ErasureVerdict.Incomplete
            : input.Requests.AllErasedBefore && input.Plan.Topics.Count == 0 && verification.Sinks.All(s => s.RowsBefore == 0) && verification.DeadLetters.All(d => d.NamingSubject == 0) ? ErasureVerdict.AlreadyErased
            : ErasureVerdict.Complete;
    }

    /// <summary>Each key's status in the ledger: incomplete where the erasure is and a check still
    /// finds the key, complete otherwise; a key an earlier erasure completed reads already-erased.</summary>
    private static async Task<List<KeyOutcome>> RecordStatusesAsync(ErasureScope scope, RecordedRequests requests, ErasureVerdict verdict, IReadOnlySet<string> residue, DateTimeOffset finished, CancellationToken cancellationToken)
    {
        var outcomes = new List<KeyOutcome>();
        var statuses = new List<(string, RequestStatus)>();
        foreach (var key in requests.Keys)
        {
            var incomplete = verdict == ErasureVerdict.Incomplete && residue.Contains(key.Key);
            statuses.Add((key.RequestId, incomplete ? RequestStatus.Incomplete : RequestStatus.Complete));
            var status = incomplete ? ErasureVerdict.Incomplete : ErasureVerdict.Complete;
            outcomes.Add(new KeyOutcome(key.KeyHash, key.RequestId, key.ErasedBefore && status == ErasureVerdict.Complete ? ErasureVerdict.AlreadyErased : status));
        }

        await scope.Ledger.SetStatusAsync(statuses, finished, cancellationToken);
        return outcomes;
    }

    private static IEnumerable<string> PurgeNotes(ErasureCommand command, List<TopicOutcome> topics)
    {
        if (!command.PurgeBacklog)
        {
            yield break;
        }

        if (command.DryRun)
        {
            yield return "--purge-backlog: a real run truncates every topic that still holds raw residue after compaction; truncation moves every subscription's cursor on it to the end";
        }
        else if (!topics.Any(t => t.Truncation is not null))
        {
            yield return "--purge-backlog: no topic held raw residue after compaction; nothing was truncated";
        }
        else
        {
            yield return "--purge-backlog: truncation moved every subscription's cursor on the truncated topics to the end (messages not yet consumed there were skipped); the ledger being written is never deleted, so residue may remain until it rolls over and retention expires";
        }
    }

    private static List<string> Notes(IEnumerable<(string Source, string RetentionNote)> sources)
    {
        var notes = sources.Select(s => $"source {s.Source}: {s.RetentionNote}").ToList();
        notes.Add("dead-letter files and dead-letter topics (<topic>-sync-dlq) keep the messages they received, personal data included, and sync erase does not delete from them; expire or purge them by the same rules (a replay of them keeps erased subjects suppressed); dead-letter tables (deadLetterTarget: table) are searched and their letters that name a subject deleted");
        notes.Add("the ledger keeps a keyed hash of each erased key so that no replay brings the subject back; it holds no key");
        return notes;
    }

    private static IEnumerable<string> DeadLetterNotes(IReadOnlyList<DeadLetterOutcome> outcomes) =>
        outcomes.Where(d => d.Unreadable > 0).Select(d =>
            (d.Unreadable == 1 ? $"1 dead letter of {d.Materializer} in {d.Table} could not be decoded, so it was not searched and may name the subject: inspect it" : $"{d.Unreadable} dead letters of {d.Materializer} in {d.Table} could not be decoded, so they were not searched and may name the subject: inspect them")
            + $" in the table (sync dlq list --materializer {d.Materializer} counts them by reason) and delete what names the subject");
}
