using System.Diagnostics;
using Sync.Compliance.Ledger;
using Sync.Engine.Changes;
using Sync.Engine.Config;
using Sync.Engine.DeadLetters;
using Sync.Engine.Formats;
using Sync.Engine.Runtime;
using Sync.Engine.Sinks;
using Sync.Engine.Sources;
using Sync.Engine.Topics;

namespace Sync.Compliance.Erasure;

/// <summary>What an erase is asked to do.</summary>
/// <param name="Subject">The subject kind from the config (e.g. <c>customer</c>).</param>
/// <param name="Keys">The subjects' keys, as text.</param>
/// <param name="RequestedBy">Who asked, for the ledger.</param>
/// <param name="DryRun">Plan and report only; change nothing.</param>
public sealed record ErasureCommand(string Subject, IReadOnlyList<string> Keys, string RequestedBy, bool DryRun)
{
    /// <summary>After compaction, truncate every topic that still holds raw residue, and verify again
    /// (<c>--purge-backlog</c>). It moves every subscription's cursor to the end of those topics.</summary>
    public bool PurgeBacklog { get; init; }
}

/// <summary>Erases data subjects everywhere a config carries them: records the request in the
/// suppression ledger (so every materializer drops the subjects' changes from then on), finds
/// every message key that references them, publishes tombstones, compacts, deletes from every
/// sink, verifies, and reports.</summary>
public sealed class ErasureService
{
    private readonly SyncConfig _config;
    private readonly SyncComponents _components;
    private readonly TimeProvider _time;
    private readonly Func<string> _newRequestId;

    public ErasureService(SyncConfig config, SyncComponents components, TimeProvider? time = null, Func<string>? newRequestId = null)
    {
        _config = config;
        _components = components;
        _time = time ?? TimeProvider.System;
        _newRequestId = newRequestId ?? (() => Guid.NewGuid().ToString("N"));
    }

    public async Task<ErasureReport> EraseAsync(ErasureCommand command, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(command);
        if (!_config.Subjects.TryGetValue(command.Subject, out var subject))
        {
            throw new ConfigException($"subject {command.Subject} is not configured (known: {string.Join(", ", _config.Subjects.Keys.Order(StringComparer.Ordinal))})");
        }

        if (_config.Erasure.Secret is not { } secret)
        {
            throw new ConfigException("erasure.secret is not set");
        }

        // One topic log per source for the whole erase: it keeps its connection, producers and counts.
        await using var logs = new TopicLogs(_components);
        var started = _time.GetUtcNow();
        var total = Stopwatch.StartNew();
        var step = Stopwatch.StartNew();
        var hasher = new SubjectHasher(secret);
        var keys = command.Keys.Distinct(StringComparer.Ordinal).ToList();
        var keySet = keys.ToHashSet(StringComparer.Ordinal);
        var hashes = keys.ToDictionary(k => k, k => hasher.Hash(subject.Name, k), StringComparer.Ordinal);

        // 1. The ledger first: from here on every materializer suppresses these subjects.
        var outcomes = new List<KeyOutcome>();
        var alreadyErased = new HashSet<string>(StringComparer.Ordinal);
        if (command.DryRun)
        {
            outcomes.AddRange(keys.Select(k => new KeyOutcome(hashes[k], "-", "planned")));
        }
        else
        {
            using var ledger = SuppressionLedger.Open(_config.LedgerPath);
            var requests = ledger.InTransaction(() => keys.Select(k => ledger.Record(subject.Name, hashes[k], _newRequestId(), command.RequestedBy, started)).ToList());
            for (var i = 0; i < keys.Count; i++)
            {
                if (requests[i].Status == SuppressionLedger.Complete)
                {
                    alreadyErased.Add(keys[i]);
                }

                outcomes.Add(new KeyOutcome(hashes[keys[i]], requests[i].RequestId, requests[i].Status));
            }
        }

        var bindings = subject.Bindings.Select(b => (Binding: b, Options: _config.Materializers.First(m => m.Key == b.Materializer).Value)).ToList();
        var sinkOutcomes = new List<SinkOutcome>();
        var sinks = new Dictionary<string, ISink>(StringComparer.Ordinal);
        Task<Dictionary<string, long>>? counting = null;
        try
        {
            foreach (var sinkName in bindings.Select(b => b.Options.Sink).Distinct())
            {
                var sinkConfig = _config.Sinks[sinkName];
                sinks[sinkName] = await _components.Sinks[sinkConfig.Type].OpenAsync(sinkConfig, cancellationToken);
            }

            // Counted before any tombstone: running materializers apply the tombstones as soon as
            // they are published, and the report tells what they removed from what the erase did.
            // The counts need nothing from the topics, so they run while the topics are read.
            counting = PerSinkAsync(bindings, async (binding, options) => (await CountAsync(sinks[options.Sink], Target(options), binding, keys, cancellationToken)).Total);

            // 2. Plan: per topic, the message keys whose current state references a subject.
            var plan = new Dictionary<(string Source, string Topic), TopicPlan>();
            // Per materializer, the row keys of the messages the plan tombstones: where a running
            // materializer applies a tombstone before the erase reaches the sink, its delete marker
            // becomes an erasure marker.
            var tombstonedKeys = bindings.ToDictionary(b => b.Binding.Materializer, _ => new Dictionary<string, Row>(StringComparer.Ordinal), StringComparer.Ordinal);

            // One compacted read and one raw scan per source, whatever the number of materializers on
            // it: each message is matched against the bindings whose topics include it.
            foreach (var sourceBindings in bindings.GroupBy(b => b.Options.Source, StringComparer.Ordinal))
            {
                var source = _config.Sources[sourceBindings.Key];
                var log = logs.Get(source);
                var readers = sourceBindings.Select(Reader).ToList();
                bool AnyReads(string topic) => readers.Any(r => r.Reads(topic));
                TopicPlan PlanOf(string topic) =>
                    plan.TryGetValue((source.Name, topic), out var existing) ? existing : plan[(source.Name, topic)] = new TopicPlan(source);

                var live = new HashSet<(string Topic, MessageKey Key)>();
                await foreach (var message in log.ReadCompactedAsync(AnyReads, cancellationToken))
                {
                    live.Add((message.Topic, message.Key));
                    foreach (var reader in readers.Where(r => r.Reads(message.Topic)))
                    {
                        // A key is tombstoned only when its current state is the subject's; where the
                        // subject is named only by the before image of a row that now belongs to someone
                        // else (an order moved to another customer), the message is scrubbed instead.
                        var (owning, beforeOnly, change) = reader.ClaimsIn(message, keySet);
                        if (owning.Count > 0)
                        {
                            tombstonedKeys[reader.Binding.Materializer].TryAdd(change!.KeyText, change.Key);
                            var entry = PlanOf(message.Topic);
                            entry.Keys.Add(message.Key);
                            entry.Scrubs.Remove(message.Key);
                            entry.Materializers.Add(reader.Binding.Materializer);
                            entry.Subjects.UnionWith(owning);
                        }
                        else if (beforeOnly.Count > 0)
                        {
                            var entry = PlanOf(message.Topic);
                            if (!entry.Keys.Contains(message.Key))
                            {
                                entry.Scrubs[message.Key] = (message, reader.Format);
                            }

                            entry.Materializers.Add(reader.Binding.Materializer);
                            entry.Subjects.UnionWith(beforeOnly);
                        }
                    }
                }

                // Keys already deleted whose history still names a subject: no tombstone is needed,
                // but compaction removes that history where the log can.
                await foreach (var message in log.ScanRawAsync(AnyReads, cancellationToken))
                {
                    if (live.Contains((message.Topic, message.Key)) || !message.Key.IsPresent)
                    {
                        continue;
                    }

                    foreach (var reader in readers.Where(r => r.Reads(message.Topic)))
                    {
                        var subjects = reader.SubjectsIn(message, keySet);
                        if (subjects.Count == 0)
                        {
                            continue;
                        }

                        var entry = PlanOf(message.Topic);
                        entry.Deleted.Add(message.Key);
                        entry.Materializers.Add(reader.Binding.Materializer);
                        entry.Subjects.UnionWith(subjects);
                    }
                }
            }

            var before = await counting;

            var planMs = step.ElapsedMilliseconds;

            // 3. Tombstones, exact key bytes, on every topic that carries a subject.
            step.Restart();
            var tombstones = new Dictionary<(string, string), List<string>>();
            if (!command.DryRun)
            {
                foreach (var ((sourceName, topic), topicPlan) in plan)
                {
                    var log = logs.Get(topicPlan.Source);
                    var positions = tombstones[(sourceName, topic)] = [];
                    foreach (var key in topicPlan.Keys)
                    {
                        positions.Add((await log.PublishTombstoneAsync(topic, key, cancellationToken)).ToString());
                    }

                    foreach (var (key, (message, format)) in topicPlan.Scrubs)
                    {
                        await ScrubAsync(log, message, format, cancellationToken);
                    }
                }
            }

            var tombstonesMs = step.ElapsedMilliseconds;

            // 4. Compaction, one per topic, bounded by the configured timeout.
            step.Restart();
            var compactions = new Dictionary<(string, string), CompactionOutcome>();
            if (!command.DryRun)
            {
                foreach (var ((sourceName, topic), topicPlan) in plan)
                {
                    var log = logs.Get(topicPlan.Source);
                    using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                    timeout.CancelAfter(_config.Erasure.CompactionTimeout);
                    try
                    {
                        compactions[(sourceName, topic)] = await log.CompactAsync(topic, [.. topicPlan.Keys, .. topicPlan.Deleted, .. topicPlan.Scrubs.Keys], timeout.Token);
                    }
                    catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                    {
                        compactions[(sourceName, topic)] = new CompactionOutcome("TIMEOUT", null, $"compaction did not finish within {Durations.Format(_config.Erasure.CompactionTimeout)}");
                    }
                }
            }

            var compactionMs = step.ElapsedMilliseconds;

            // 5. Every sink.
            step.Restart();
            var deleted = await PerSinkAsync(bindings, (binding, options) => command.DryRun ? Task.FromResult(0L) : EraseInSinkAsync(sinks[options.Sink], Target(options), binding, keys, cancellationToken));
            var unmarkable = new Dictionary<string, string?>(StringComparer.Ordinal);
            var marked = await PerSinkAsync(bindings, async (binding, options) =>
            {
                var planned = tombstonedKeys[binding.Materializer];
                if (command.DryRun || planned.Count == 0)
                {
                    return 0L;
                }

                var outcome = await sinks[options.Sink].MarkErasedManyAsync(Target(options), [.. planned.Values], cancellationToken);
                if (!outcome.Supported)
                {
                    lock (unmarkable)
                    {
                        unmarkable[binding.Materializer] = outcome.Reason;
                    }
                }

                return outcome.Written;
            });

            // A key that no row of a target can hold (text where the subject column is a number): it
            // counted 0 and did not stop the others; the report says so, by the key's hash.
            var cannotMatch = new List<string>();
            await PerSinkAsync(bindings, async (binding, options) =>
            {
                var offset = 0;
                foreach (var matches in MatchesFor(binding, keys))
                {
                    var reasons = await sinks[options.Sink].CannotMatchAsync(Target(options), matches, cancellationToken);
                    for (var i = 0; i < reasons.Count; i++)
                    {
                        if (reasons[i] is { } reason)
                        {
                            lock (cannotMatch)
                            {
                                cannotMatch.Add($"sink target of {binding.Materializer}: key {hashes[keys[offset + i]]} {reason} in column {matches.Column}: no row can hold it there, so none was erased for it");
                            }
                        }
                    }

                    offset += matches.Values.Count;
                }

                return 0L;
            });

            // 5b. The dead-letter tables of the bound materializers: letters naming a subject.
            var letterScans = new List<(BindingReader Reader, IDeadLetterStore Store, LetterScan Before)>();
            foreach (var letterBinding in bindings.Where(b => _config.DeadLetterKindOf(b.Options) == DeadLetterKind.Table))
            {
                if (sinks[letterBinding.Options.Sink] is not IDeadLetterStore store)
                {
                    continue;
                }

                var reader = Reader(letterBinding);
                var scan = await ScanDeadLettersAsync(store, reader, keySet, cancellationToken);
                letterScans.Add((reader, store, scan));
                if (!command.DryRun && scan.Naming.Count > 0)
                {
                    await store.DeleteDeadLettersAsync(letterBinding.Binding.Materializer, scan.Naming, cancellationToken);
                }
            }

            var sinksMs = step.ElapsedMilliseconds;

            // 6. Verify: the compacted view, the raw log, every sink.
            step.Restart();
            var topicOutcomes = new List<TopicOutcome>();
            var checkedPlans = new List<TopicPlan>();
            // Topics are read side by side: a compacted read that ends on a removed tombstone waits
            // out the log's idle time, and those waits need not add up.
            var ordered = plan.OrderBy(p => p.Key.Topic, StringComparer.Ordinal).ToList();
            var checks = await Task.WhenAll(ordered.Select(p => CheckTopicAsync(logs.Get(p.Value.Source), p.Value, p.Key.Topic, bindings, keySet, cancellationToken)));

            // Per key: a subject stays incomplete where any check still finds it (a topic's compacted
            // view or raw log, a sink), or where a topic that carried it was not compacted.
            var residueInCompacted = new HashSet<string>(StringComparer.Ordinal);
            var residueInRaw = new List<HashSet<string>>();
            var uncompacted = new HashSet<string>(StringComparer.Ordinal);
            foreach (var (((sourceName, topic), topicPlan), (compacted, raw, compactedSubjects, rawSubjects)) in ordered.Zip(checks))
            {
                residueInCompacted.UnionWith(compactedSubjects);
                residueInRaw.Add(rawSubjects);
                if (!command.DryRun && compactions.GetValueOrDefault((sourceName, topic))?.Status != "SUCCESS")
                {
                    uncompacted.UnionWith(topicPlan.Subjects);
                }

                checkedPlans.Add(topicPlan);
                var log = logs.Get(topicPlan.Source);
                var compaction = compactions.GetValueOrDefault((sourceName, topic));
                topicOutcomes.Add(new TopicOutcome(
                    topic,
                    string.Join(", ", topicPlan.Materializers.Order(StringComparer.Ordinal)),
                    topicPlan.Keys.Count,
                    tombstones.GetValueOrDefault((sourceName, topic)) ?? [],
                    command.DryRun ? "not run (dry run)" : compaction is null ? "not run" : compaction.Error is null ? compaction.Status : $"{compaction.Status}: {compaction.Error}",
                    compaction?.MessagesRemoved,
                    compacted,
                    raw,
                    raw > 0 && !command.DryRun ? log.RetentionNote : null)
                {
                    Scrubbed = topicPlan.Scrubs.Count,
                });
            }

            var residueInSinks = new HashSet<string>(StringComparer.Ordinal);
            var remainingRows = await PerSinkAsync(bindings, async (binding, options) =>
            {
                var (total, found) = await CountAsync(sinks[options.Sink], Target(options), binding, keys, cancellationToken);
                lock (residueInSinks)
                {
                    residueInSinks.UnionWith(found);
                }

                return total;
            });
            foreach (var (binding, options) in bindings)
            {
                var remaining = remainingRows[binding.Materializer];
                var rowsBefore = before[binding.Materializer];
                sinkOutcomes.Add(new SinkOutcome(
                    binding.Materializer,
                    options.Sink,
                    options.Table,
                    binding.Key is { } k ? $"key column {k}" : $"column {binding.Field}",
                    rowsBefore,
                    deleted[binding.Materializer],
                    remaining)
                {
                    RemovedByMaterializers = command.DryRun ? 0 : Math.Max(0, rowsBefore - deleted[binding.Materializer] - remaining),
                    ErasureMarkers = marked[binding.Materializer],
                });
            }

            var deadLetterOutcomes = new List<DeadLetterOutcome>();
            foreach (var (reader, store, first) in letterScans)
            {
                var after = command.DryRun ? first : await ScanDeadLettersAsync(store, reader, keySet, cancellationToken);
                residueInSinks.UnionWith(after.Subjects);
                deadLetterOutcomes.Add(new DeadLetterOutcome(
                    reader.Binding.Materializer,
                    store.DeadLetterTable,
                    first.Letters,
                    first.Naming.Count,
                    command.DryRun ? 0 : first.Naming.Count,
                    after.Naming.Count,
                    first.Unreadable));
            }

            var verifyMs = step.ElapsedMilliseconds;

            // 7. --purge-backlog: truncate the topics that still hold raw residue, then scan again.
            step.Restart();
            if (command.PurgeBacklog && !command.DryRun)
            {
                for (var i = 0; i < topicOutcomes.Count; i++)
                {
                    var outcome = topicOutcomes[i];
                    if (outcome.RawResidue == 0)
                    {
                        continue;
                    }

                    var topicPlan = checkedPlans[i];
                    var log = logs.Get(topicPlan.Source);
                    var truncation = await log.TruncateAsync(outcome.Topic, cancellationToken);
                    var (_, rawAfter, _, rawSubjectsAfter) = await CheckTopicAsync(log, topicPlan, outcome.Topic, bindings, keySet, cancellationToken);
                    residueInRaw[i] = rawSubjectsAfter;
                    topicOutcomes[i] = outcome with
                    {
                        Truncation = truncation.Error is null ? $"{truncation.Status}: {truncation.Effect}" : $"{truncation.Status}: {truncation.Error}",
                        RawResidueAfterTruncation = rawAfter,
                        ResidueUntil = rawAfter > 0 ? log.RetentionNote : null,
                    };
                }
            }

            var purgeMs = step.ElapsedMilliseconds;
            var clean = topicOutcomes.All(t => t.CompactedViewMatches == 0 && (t.RawResidueAfterTruncation ?? t.RawResidue) == 0 && (command.DryRun || t.Compaction == "SUCCESS"))
                && sinkOutcomes.All(s => s.Remaining == 0) && deadLetterOutcomes.All(d => d.Remaining == 0);
            var verdict = command.DryRun ? "planned"
                : !clean ? SuppressionLedger.Incomplete
                : alreadyErased.Count == keys.Count && plan.Count == 0 && sinkOutcomes.All(s => s.RowsBefore == 0) && deadLetterOutcomes.All(d => d.NamingSubject == 0) ? "already-erased"
                : SuppressionLedger.Complete;

            var finished = _time.GetUtcNow();
            if (!command.DryRun)
            {
                using var ledger = SuppressionLedger.Open(_config.LedgerPath);
                var residue = new HashSet<string>(residueInCompacted, StringComparer.Ordinal);
                residue.UnionWith(uncompacted);
                residue.UnionWith(residueInSinks);
                foreach (var raw in residueInRaw)
                {
                    residue.UnionWith(raw);
                }

                ledger.InTransaction(() =>
                {
                    for (var i = 0; i < outcomes.Count; i++)
                    {
                        var status = verdict == SuppressionLedger.Incomplete && residue.Contains(keys[i]) ? SuppressionLedger.Incomplete : SuppressionLedger.Complete;
                        ledger.SetStatus(outcomes[i].RequestId, status, finished);
                        outcomes[i] = outcomes[i] with { Verdict = alreadyErased.Contains(keys[i]) && status == SuppressionLedger.Complete ? "already-erased" : status };
                    }

                    return outcomes.Count;
                });
            }

            return new ErasureReport
            {
                RequestId = outcomes.Count == 1 ? outcomes[0].RequestId : $"batch of {outcomes.Count}",
                Subject = subject.Name,
                RequestedBy = command.RequestedBy,
                StartedAt = started,
                FinishedAt = finished,
                DryRun = command.DryRun,
                Verdict = verdict,
                Keys = outcomes,
                Topics = topicOutcomes,
                Sinks = sinkOutcomes,
                DeadLetters = deadLetterOutcomes,
                Timings = new TimingsReport(planMs, tombstonesMs, compactionMs, sinksMs, verifyMs, purgeMs, total.ElapsedMilliseconds),
                Notes = [.. PurgeNotes(command, topicOutcomes), .. cannotMatch.Order(StringComparer.Ordinal), .. unmarkable.OrderBy(u => u.Key, StringComparer.Ordinal).Select(u => $"sink target of {u.Key}: the sink cannot turn the delete markers of the tombstoned keys into erasure markers{(u.Value is null ? string.Empty : $" ({u.Value})")}; a key a running materializer deleted keeps its ordinary delete marker, and only the ledger keeps a later change of it out"), .. Notes(plan.Values.Select(p => p.Source).DistinctBy(s => s.Name).Select(source => (source.Name, logs.Get(source).RetentionNote))), .. DeadLetterNotes(deadLetterOutcomes)],
            };
        }
        finally
        {
            if (counting is { IsCompleted: false })
            {
                // The plan failed while the sinks were counting: the counts must end before their
                // sinks close, and their own failure is not the one to report.
                await counting.ContinueWith(_ => { }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            }

            foreach (var sink in sinks.Values)
            {
                await sink.DisposeAsync();
            }
        }
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

    private static IReadOnlyList<string> Notes(IEnumerable<(string Source, string RetentionNote)> sources)
    {
        var notes = sources.Select(s => $"source {s.Source}: {s.RetentionNote}").ToList();
        notes.Add("dead-letter files and dead-letter topics (<topic>-sync-dlq) keep the messages they received, personal data included, and sync erase does not delete from them; expire or purge them by the same rules (a replay of them keeps erased subjects suppressed); dead-letter tables (deadLetterTarget: table) are searched and their letters that name a subject deleted");
        notes.Add("the ledger keeps a keyed hash of each erased key so that no replay brings the subject back; it holds no key");
        return notes;
    }

    private static IEnumerable<string> DeadLetterNotes(List<DeadLetterOutcome> outcomes) =>
        outcomes.Where(d => d.Unreadable > 0).Select(d =>
            (d.Unreadable == 1 ? $"1 dead letter of {d.Materializer} in {d.Table} could not be decoded, so it was not searched and may name the subject: inspect it" : $"{d.Unreadable} dead letters of {d.Materializer} in {d.Table} could not be decoded, so they were not searched and may name the subject: inspect them")
            + $" in the table (sync dlq list --materializer {d.Materializer} counts them by reason) and delete what names the subject");

    /// <summary>The letters of one materializer's dead-letter table that name a subject, decoded
    /// as the materializer decodes its messages; a letter that does not decode is counted apart.</summary>
    private static async Task<LetterScan> ScanDeadLettersAsync(IDeadLetterStore store, BindingReader reader, HashSet<string> keys, CancellationToken cancellationToken)
    {
        const int Page = 1_000;
        var materializer = reader.Binding.Materializer;
        var last = await store.LastDeadLetterIdAsync(materializer, cancellationToken);
        var scan = new LetterScan();
        long after = 0;
        while (await store.ReadDeadLettersAsync(materializer, after, last, Page, cancellationToken) is { Count: > 0 } page)
        {
            foreach (var (id, letter) in page)
            {
                after = id;
                scan.Letters++;
                var record = DeadLetterTableReader.ToRecord(store.DeadLetterTable, id, letter);
                if (record.Message is not { } message || reader.SubjectsInLetter(message, keys) is not { } subjects)
                {
                    scan.Unreadable++;
                }
                else if (subjects.Count > 0)
                {
                    scan.Naming.Add(id);
                    scan.Subjects.UnionWith(subjects);
                }
            }
        }

        return scan;
    }

    private sealed class LetterScan
    {
        public long Letters { get; set; }

        public long Unreadable { get; set; }

        public List<long> Naming { get; } = [];

        public HashSet<string> Subjects { get; } = new(StringComparer.Ordinal);
    }

    private async Task<(long Compacted, long Raw, HashSet<string> CompactedSubjects, HashSet<string> RawSubjects)> CheckTopicAsync(ITopicLog log, TopicPlan topicPlan, string topic, List<(SubjectBinding Binding, MaterializerOptions Options)> bindings, HashSet<string> keys, CancellationToken cancellationToken)
    {
        // One read of each view; a message read by several materializers counts once.
        var readers = bindings.Where(b => topicPlan.Materializers.Contains(b.Binding.Materializer)).Select(Reader).ToList();
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

        return (compacted, raw, compactedSubjects, rawSubjects);

        bool Collect(SourceMessage message, HashSet<string> into)
        {
            var found = false;
            foreach (var reader in readers)
            {
                var subjects = reader.SubjectsIn(message, keys);
                into.UnionWith(subjects);
                found |= subjects.Count > 0;
            }

            return found;
        }
    }

    /// <summary>Re-publishes a key's latest message without its before image: the same key bytes and
    /// encoding, properties (plus <see cref="BeforeImageScrubber.ScrubbedProperty"/>, the position it
    /// replaces) and event time. A materializer reads it as the same change: with a source LSN its
    /// version is the same, so a sink rewrites identical values; without one it is a newer position of
    /// the same stream carrying identical values. Either way the key's state does not change, and
    /// compaction then drops the message whose before image named the subject.</summary>
    private static async Task ScrubAsync(ITopicLog log, SourceMessage message, string format, CancellationToken cancellationToken)
    {
        var value = BeforeImageScrubber.Scrub(format, message);
        var properties = new Dictionary<string, string>(message.Properties, StringComparer.Ordinal)
        {
            [BeforeImageScrubber.ScrubbedProperty] = message.Position.ToString(),
        };
        await log.PublishAsync(message.Topic, message.Key, value, properties, message.EventTime, cancellationToken);
    }

    private BindingReader Reader((SubjectBinding Binding, MaterializerOptions Options) binding)
    {
        var reading = MaterializerReading.Of(_config, _components, binding.Binding.Materializer, binding.Options);
        return new(binding.Binding, reading.Reads, reading.Decoder, reading.Mapper, binding.Options.Format);
    }

    /// <summary>A subject binding with what it takes to read its materializer's messages.</summary>
    private sealed record BindingReader(SubjectBinding Binding, Func<string, bool> Filter, IMessageDecoder Decoder, ChangeMapper Mapper, string Format)
    {
        /// <summary>True for the materializer's topics, by name or, for a partition, by its topic's name.</summary>
        public bool Reads(string topic) => Filter(topic);

        /// <summary>The requested subjects that own the message's key (<see cref="SubjectValues.Owning"/>),
        /// and those named only in the before image of an upsert that belongs to someone else; both
        /// empty for a tombstone or a message that does not decode.</summary>
        public (IReadOnlyCollection<string> Owning, IReadOnlyCollection<string> BeforeOnly, ChangeEvent? Change) ClaimsIn(SourceMessage message, HashSet<string> keys)
        {
            if (message.IsTombstone || ErasureService.ChangeOf(message, Decoder, Mapper) is not { } change)
            {
                return ([], [], null);
            }

            var owning = SubjectValues.Owning(change, Binding).Where(keys.Contains).ToHashSet(StringComparer.Ordinal);
            if (owning.Count > 0 || !SubjectValues.IsUpsert(change))
            {
                return (owning, [], change);
            }

            return (owning, SubjectValues.In(change.Before, Binding).Where(keys.Contains).ToHashSet(StringComparer.Ordinal), change);
        }

        /// <summary>The requested subjects the message references (none for a tombstone or a message that does not decode).</summary>
        public IReadOnlyCollection<string> SubjectsIn(SourceMessage message, HashSet<string> keys) =>
            message.IsTombstone ? [] : ErasureService.SubjectsIn(message, Decoder, Mapper, Binding, keys) ?? [];

        /// <summary>As <see cref="SubjectsIn"/> for a dead letter, whose key alone (a tombstone's) may
        /// name a subject; null when the letter does not decode or map.</summary>
        public IReadOnlyCollection<string>? SubjectsInLetter(SourceMessage message, HashSet<string> keys) => ErasureService.SubjectsIn(message, Decoder, Mapper, Binding, keys);
    }

    /// <summary>Runs <paramref name="work"/> for every binding: the bindings of one sink in turn (a
    /// sink holds one connection), different sinks side by side. Results by materializer.</summary>
    private static async Task<Dictionary<string, long>> PerSinkAsync(List<(SubjectBinding Binding, MaterializerOptions Options)> bindings, Func<SubjectBinding, MaterializerOptions, Task<long>> work)
    {
        var perSink = await Task.WhenAll(bindings.GroupBy(b => b.Options.Sink, StringComparer.Ordinal).Select(async group =>
        {
            var results = new List<(string Materializer, long Count)>();
            foreach (var (binding, options) in group)
            {
                results.Add((binding.Materializer, await work(binding, options)));
            }

            return results;
        }));
        return perSink.SelectMany(r => r).ToDictionary(r => r.Materializer, r => r.Count, StringComparer.Ordinal);
    }

    /// <summary>The subjects <paramref name="message"/> names; null when it does not decode or map.</summary>
    private static IReadOnlyCollection<string>? SubjectsIn(SourceMessage message, IMessageDecoder decoder, ChangeMapper mapper, SubjectBinding binding, HashSet<string> keys) =>
        ChangeOf(message, decoder, mapper) is { } change ? [.. SubjectValues.Of(change, binding).Where(keys.Contains).Distinct(StringComparer.Ordinal)] : null;

    /// <summary>The message decoded and mapped as its materializer would; null when it does not decode or map.</summary>
    private static ChangeEvent? ChangeOf(SourceMessage message, IMessageDecoder decoder, ChangeMapper mapper)
    {
        try
        {
            return mapper.Map(decoder.Decode(message));
        }
        catch (Exception e) when (e is DecodeException or MapException)
        {
            return null;
        }
    }

    private static TargetSpec Target(MaterializerOptions options) => new(options.Table) { Options = options.Target };

    /// <summary>How many values one batched sink call carries: large enough that a batch of 1,000
    /// subjects is one or two statements per target, small enough to keep each statement's
    /// parameters and each Elasticsearch request modest.</summary>
    private const int SinkChunk = 500;

    /// <summary>A key given as text: an integer when it reads as one (ids mostly are), else text;
    /// sinks compare it as the column's type would.</summary>
    private static FieldValue ValueOf(string key) =>
        long.TryParse(key, System.Globalization.NumberStyles.AllowLeadingSign, System.Globalization.CultureInfo.InvariantCulture, out var number)
            && number.ToString(System.Globalization.CultureInfo.InvariantCulture) == key
                ? FieldValue.FromInt64(number)
                : FieldValue.FromString(key);

    /// <summary>The binding's subject column with the keys' values, in chunks of <see cref="SinkChunk"/>.</summary>
    private static IEnumerable<SubjectMatches> MatchesFor(SubjectBinding binding, List<string> keys) =>
        keys.Chunk(SinkChunk).Select(chunk => new SubjectMatches(binding.Key ?? binding.Field!, [.. chunk.Select(ValueOf)]) { IsKey = binding.Key is not null });

    /// <summary>The rows matching the keys, and the keys that still have a row.</summary>
    private static async Task<(long Total, List<string> Found)> CountAsync(ISink sink, TargetSpec target, SubjectBinding binding, List<string> keys, CancellationToken cancellationToken)
    {
        long count = 0;
        var found = new List<string>();
        var offset = 0;
        foreach (var matches in MatchesFor(binding, keys))
        {
            var counts = await sink.CountManyAsync(target, matches, cancellationToken);
            for (var i = 0; i < counts.Count; i++)
            {
                count += counts[i];
                if (counts[i] > 0)
                {
                    found.Add(keys[offset + i]);
                }
            }

            offset += matches.Values.Count;
        }

        return (count, found);
    }

    private static async Task<long> EraseInSinkAsync(ISink sink, TargetSpec target, SubjectBinding binding, List<string> keys, CancellationToken cancellationToken)
    {
        long count = 0;
        foreach (var matches in MatchesFor(binding, keys))
        {
            count += (await sink.EraseManyAsync(target, matches, cancellationToken)).Sum();
        }

        return count;
    }

    private sealed class TopicLogs(SyncComponents components) : IAsyncDisposable
    {
        private readonly Dictionary<string, ITopicLog> _open = new(StringComparer.Ordinal);

        public ITopicLog Get(ComponentConfig source)
        {
            if (!_open.TryGetValue(source.Name, out var log))
            {
                _open[source.Name] = log = components.Sources[source.Type].OpenLog(source);
            }

            return log;
        }

        public async ValueTask DisposeAsync()
        {
            foreach (var log in _open.Values)
            {
                await log.DisposeAsync();
            }
        }
    }

    private sealed class TopicPlan(ComponentConfig source)
    {
        public ComponentConfig Source { get; } = source;

        /// <summary>Keys whose current state names a subject: they get a tombstone.</summary>
        public HashSet<MessageKey> Keys { get; } = [];

        /// <summary>Keys whose latest message names a subject only in the before image of a row that
        /// now belongs to someone else: that message is re-published without its before image.</summary>
        public Dictionary<MessageKey, (SourceMessage Message, string Format)> Scrubs { get; } = [];

        /// <summary>Keys already deleted whose history names a subject: compacted only.</summary>
        public HashSet<MessageKey> Deleted { get; } = [];

        public HashSet<string> Materializers { get; } = new(StringComparer.Ordinal);

        /// <summary>The requested subjects its messages reference.</summary>
        public HashSet<string> Subjects { get; } = new(StringComparer.Ordinal);
    }
}
