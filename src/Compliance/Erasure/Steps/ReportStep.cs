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
        var finished = input.Time.GetUtcNow();
        var keys = scope.DryRun
            ? [.. input.Requests.Keys.Select(k => new KeyOutcome(k.KeyHash, k.RequestId, ErasureVerdict.Planned))]
            : KeyOutcomes(input);
        var verdict = Verdict(input, keys);
        if (!scope.DryRun)
        {
            await scope.Ledger.SetStatusAsync([.. keys.Select(k => (k.RequestId, StatusOf(k.Verdict)))], finished, cancellationToken);
        }

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
                .. NotFoundNotes(keys),
                .. Notes(retention),
                .. DeadLetterNotes(verification.DeadLetters),
            ],
        };
    }

    /// <summary>Incomplete where a check still finds the key; not-found where nothing named it
    /// before the erasure (a key an earlier erasure completed reads already-erased, and one an
    /// interrupted or incomplete erasure recorded reads complete: that run removed what it found, or may have);
    /// complete otherwise, or already-erased when an earlier erasure of the key completed.</summary>
    private static List<KeyOutcome> KeyOutcomes(ReportInput input)
    {
        var verification = input.Verification;
        var clean = verification.IsClean(dryRun: false);
        var residue = verification.Residue;
        return [.. input.Requests.Keys.Select(key => new KeyOutcome(key.KeyHash, key.RequestId, (clean || !residue.Contains(key.Key), verification.Found.Contains(key.Key), key.EarlierStatus) switch
        {
            (false, _, _) => ErasureVerdict.Incomplete,
            (_, true, RequestStatus.Complete) => ErasureVerdict.AlreadyErased,
            (_, true, _) => ErasureVerdict.Complete,
            (_, false, RequestStatus.Complete) => ErasureVerdict.AlreadyErased,
            (_, false, RequestStatus.InProgress or RequestStatus.Incomplete) => ErasureVerdict.Complete,
            _ => ErasureVerdict.NotFound,
        }))];
    }

    private static ErasureVerdict Verdict(ReportInput input, List<KeyOutcome> keys)
    {
        var verification = input.Verification;
        return input.Scope.DryRun ? ErasureVerdict.Planned
            : !verification.IsClean(dryRun: false) ? ErasureVerdict.Incomplete
            : keys.All(k => k.Verdict == ErasureVerdict.NotFound) ? ErasureVerdict.NotFound
            : input.Requests.AllErasedBefore && input.Plan.Topics.Count == 0 && verification.Sinks.All(s => s.RowsBefore == 0) && verification.DeadLetters.All(d => d.NamingSubject == 0) ? ErasureVerdict.AlreadyErased
            : ErasureVerdict.Complete;
    }

    private static RequestStatus StatusOf(ErasureVerdict verdict) => verdict switch
    {
        ErasureVerdict.Incomplete => RequestStatus.Incomplete,
        ErasureVerdict.NotFound => RequestStatus.NotFound,
        _ => RequestStatus.Complete,
    };

    private static IEnumerable<string> NotFoundNotes(List<KeyOutcome> keys) =>
        keys.Where(k => k.Verdict == ErasureVerdict.NotFound).Select(k =>
            $"key {k.KeyHash}: found nowhere (no topic message, sink row or dead letter named it); it stays suppressed, so data of it that arrives later is dropped; if the key was mistyped, revoke the request with sync ledger revoke {k.RequestId} --reason TEXT");

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
