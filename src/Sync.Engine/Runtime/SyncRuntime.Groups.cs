using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;

namespace Sync.Engine.Runtime;

/// <summary>Consistency groups in a run: their members run together (<see cref="ConsistencyGroupRunner"/>),
/// not one by one.</summary>
public sealed partial class SyncRuntime
{
    /// <summary>The groups of which a member is selected. They run whole, every member together: in
    /// <c>sync run</c>, and in a backfill, which replays every member's topics and the transaction topic
    /// from the earliest message, so that readers see whole transactions while it rewrites the tables.
    /// With <c>--shadow</c> every member's shadow is built that way and all are swapped in together. A
    /// backfill of a member with <c>--from</c> is refused: a start position names one member's topics,
    /// not a point in the group's transactions.</summary>
    private List<KeyValuePair<string, ConsistencyGroupOptions>> GroupsOf(IReadOnlyList<KeyValuePair<string, MaterializerOptions>> selected, RunMode mode)
    {
        List<KeyValuePair<string, ConsistencyGroupOptions>> groups = [.. _config.ConsistencyGroups.Where(g => g.Value.Materializers.Any(member => selected.Any(s => s.Key == member)))];
        if (mode == RunMode.Backfill && !BackfillFrom.IsEarliest && groups.Count > 0)
        {
            throw new ConfigException([.. groups.Select(g => new ConfigProblem(
                Path.GetFileName(_config.FilePath),
                0,
                $"consistency.{g.Key}",
                $"{string.Join(", ", g.Value.Materializers.Where(m => selected.Any(s => s.Key == m)))} is in consistency group {g.Key}: a backfill of a group member replays the whole group ({string.Join(", ", g.Value.Materializers)}) from the earliest message, applying whole transactions; --from cannot be used with it (a start position names one member's topics, not a point in the group's transactions)"))]);
        }

        return groups;
    }

    /// <summary>How many times in a row finding its sink gone back in time stops a group (the ones
    /// before are healed): each time it resumes from what the sink holds, so only a sink that does not
    /// keep what it commits gets that far.</summary>
    public const int MaxGroupRollbacks = 20;

    private async Task<IReadOnlyList<MaterializerOutcome>> RunGroupAsync(string group, ConsistencyGroupOptions options, ISink sink, RunMode mode, CancellationToken cancellationToken)
    {
        await Task.Yield();
        var started = System.Diagnostics.Stopwatch.StartNew();
        var log = _loggerFactory.CreateLogger($"sync.consistency.{group}");
        var memberOptions = options.Materializers.Select(name => (Name: name, Options: _config.Materializers.First(m => m.Key == name).Value)).ToList();
        var deadLetters = new List<IDeadLetterTarget>();
        var members = new List<GroupMember>();
        try
        {
            foreach (var (name, member) in memberOptions)
            {
                Metrics?.Starting(name);
                var letters = OpenDeadLetters(_config, _components, name, member, sink);
                deadLetters.Add(letters);
                var counters = new MaterializerCounters();
                members.Add(new GroupMember(name, Reading(name, member), new TargetSpec(member.Table) { Options = member.Target }, letters, _suppression(name), counters));
                Started?.Invoke(name, counters);
            }

            var own = ConsistencyGroupRunner.CheckpointName(group);
            (IReadOnlyList<ShadowTarget> Targets, ShadowCheckpoint Own)? shadow = Shadow && mode == RunMode.Backfill ? await BeginGroupShadowAsync(group, sink, members, own, log, cancellationToken) : null;
            var writing = shadow is null ? sink : new GroupShadowWritingSink(sink, shadow.Value.Targets, shadow.Value.Own);
            var source = _config.Sources[memberOptions[0].Options.Source];
            var factory = _components.Sources[source.Type];
            var transactionTopic = factory.Naming.FullName(options.Transactions) ?? options.Transactions;
            bool IsTransactionTopic(string stream) => stream == transactionTopic || factory.Naming.TopicOf(stream) == transactionTopic;
            bool Reads(string stream) => IsTransactionTopic(stream) || members.Any(m => m.Reading.Reads(stream));
            log.LogInformation("consistency group {Group}: {Members} apply whole transactions of {Transactions} into sink {Sink}{Backfill}", group, string.Join(", ", options.Materializers), options.Transactions, memberOptions[0].Options.Sink, mode == RunMode.Backfill ? ", replayed from the earliest message (backfill)" : string.Empty);
            var backfill = mode == RunMode.Backfill;
            ConsistencyGroupRunner runner;
            IReadOnlyDictionary<string, IReadOnlyDictionary<string, Changes.StreamPosition>>? healUntil = null;
            for (var rollbacks = 0; ; )
            {
                var checkpoints = new Dictionary<string, IReadOnlyDictionary<string, Changes.StreamPosition>>(StringComparer.Ordinal);
                var epochs = new Dictionary<string, SourceEpochs>(StringComparer.Ordinal);
                foreach (var member in members)
                {
                    var stored = await writing.LoadCheckpointAsync(member.Name, cancellationToken);
                    Metrics?.CheckpointLoaded(member.Name, stored);
                    checkpoints[member.Name] = SinkCheckpointGuard.PositionsOf(stored);
                    // A backfill replays every epoch from the first message, as a lone materializer's does.
                    epochs[member.Name] = backfill ? new SourceEpochs() : SourceEpochs.FromCheckpoint(stored);
                }

                var ownStored = await writing.LoadCheckpointAsync(own, cancellationToken);
                checkpoints[own] = SinkCheckpointGuard.PositionsOf(ownStored);
                if (backfill)
                {
                    // A backfill ignores the checkpoints (never regress keeps newer state); the sink keeps
                    // the greater of each stored position and the one the backfill writes.
                    checkpoints = checkpoints.ToDictionary(c => c.Key, _ => (IReadOnlyDictionary<string, Changes.StreamPosition>)new Dictionary<string, Changes.StreamPosition>(), StringComparer.Ordinal);
                }

                var request = new SourceReadRequest(own, Reads, StartPositions(checkpoints, members, own, IsTransactionTopic), FromBeginning: backfill)
                {
                    Log = log,
                };
                request = memberOptions.All(m => m.Options.Topics is { Count: > 0 })
                    ? request with { Topics = [.. memberOptions.SelectMany(m => m.Options.Topics!).Append(options.Transactions).Distinct(StringComparer.Ordinal)] }
                    : request with { TopicPattern = string.Join("|", memberOptions.Select(m => m.Options.TopicPattern is { } pattern ? $"(?:{pattern})" : string.Join("|", m.Options.Topics!.Select(Regex.Escape))).Append(Regex.Escape(options.Transactions))) };
                await using var reader = factory.Open(source, request);
                foreach (var member in members)
                {
                    Metrics?.Running(member.Name, member.Counters, reader);
                }

                runner = new ConsistencyGroupRunner(group, options, members, reader, Metrics?.Measure(writing) ?? writing, checkpoints, IsTransactionTopic, log, Time)
                {
                    // A backfill that caught up with a subscription's topics is not their end: what it
                    // holds of transactions still open is left to the next run, which reads it again.
                    DrainAtEnd = !factory.HasNoEnd(source, fromBeginning: false),
                    IsPartition = stream => factory.Naming.TopicOf(stream) != stream,
                    RollbacksInARow = rollbacks,
                    HealUntil = healUntil,
                    HealingAtStart = SinkCheckpointGuard.MarksHealing(ownStored),
                    MarksHealing = shadow is null,
                    Epochs = epochs,
                };
                try
                {
                    await runner.RunAsync(cancellationToken);
                    break;
                }
                catch (SinkCheckpointChangedException e)
                {
                    // Counted in a row: a reading that committed whole transactions before the sink went back
                    // starts the count again, so a group that runs for months is not stopped by rare rollbacks.
                    rollbacks = runner.Transactions > 0 ? 1 : rollbacks + 1;
                    healUntil = Furthest(healUntil, runner.Written);
                    if (rollbacks >= MaxGroupRollbacks)
                    {
                        throw new SinkCheckpointChangedException(
                            $"consistency group {group}: sink {memberOptions[0].Options.Sink} went back in time {rollbacks} times in a row without keeping a transaction in between (the group heals at most {MaxGroupRollbacks - 1} in a row); the sink does not keep what it commits: check its storage, replication or restores, then run again. Last refusal: {e.Message}",
                            e);
                    }

                    // The sink went back in time under the group: its whole transaction was refused, so
                    // nothing past what the sink holds claims to be applied. Resuming from what it holds
                    // (the subscription moved back to it, as at a start) replays whole transactions again.
                    foreach (var member in members)
                    {
                        member.Counters.AddRollback();
                    }

                    log.LogWarning("consistency group {Group}: sink {Sink} went back in time ({Reason}); the group reads again from the checkpoints the sink holds", group, memberOptions[0].Options.Sink, e.Message);
                }
            }

            IReadOnlyList<ShadowSwap>? swaps = null;
            if (shadow is { } built)
            {
                swaps = await SwapGroupShadowAsync(group, (IShadowableSink)sink, built, log, cancellationToken);
            }

            var end = runner.SourceEnded || !cancellationToken.IsCancellationRequested ? MaterializerEnd.Finished
                : HasNoEnd(memberOptions[0].Name, mode) ? MaterializerEnd.Stopped
                : MaterializerEnd.Interrupted;
            log.LogInformation("consistency group {Group}: {Transactions} transactions applied whole, {Relaxed} relaxed", group, runner.Transactions, runner.Relaxed);
            return [.. members.Select((m, i) =>
            {
                Metrics?.Ended(m.Name, null);
                return new MaterializerOutcome(m.Name, memberOptions[i].Options.Sink, memberOptions[i].Options.Table, m.Counters, started.Elapsed, deadLetters[i].Description, null) { End = end, Swap = swaps?[i] };
            })];
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            log.LogError("consistency group {Group} stopped: {Reason}", group, e.Message);
            return [.. memberOptions.Select((m, i) =>
            {
                Metrics?.Ended(m.Name, e);
                return new MaterializerOutcome(m.Name, m.Options.Sink, m.Options.Table, i < members.Count ? members[i].Counters : new MaterializerCounters(), started.Elapsed, i < deadLetters.Count ? deadLetters[i].Description : string.Empty, e);
            })];
        }
        finally
        {
            foreach (var letters in deadLetters)
            {
                await letters.DisposeAsync();
            }
        }
    }

    /// <summary>Per owner and stream, the greater of two positions: where a heal must get back to
    /// after several rollbacks in a row.</summary>
    private static Dictionary<string, IReadOnlyDictionary<string, Changes.StreamPosition>> Furthest(
        IReadOnlyDictionary<string, IReadOnlyDictionary<string, Changes.StreamPosition>>? before,
        IReadOnlyDictionary<string, IReadOnlyDictionary<string, Changes.StreamPosition>> now)
    {
        var result = now.ToDictionary(o => o.Key, o => new Dictionary<string, Changes.StreamPosition>(o.Value, StringComparer.Ordinal), StringComparer.Ordinal);
        foreach (var (owner, positions) in before ?? new Dictionary<string, IReadOnlyDictionary<string, Changes.StreamPosition>>())
        {
            var merged = result.TryGetValue(owner, out var m) ? m : result[owner] = new Dictionary<string, Changes.StreamPosition>(StringComparer.Ordinal);
            foreach (var (stream, position) in positions)
            {
                merged[stream] = merged.TryGetValue(stream, out var p) && p > position ? p : position;
            }
        }

        return result.ToDictionary(o => o.Key, o => (IReadOnlyDictionary<string, Changes.StreamPosition>)o.Value, StringComparer.Ordinal);
    }

    /// <summary>Prepares an empty shadow of every member's table and a shadow of the group's own
    /// checkpoint; the live tables are not touched.</summary>
    private async Task<(IReadOnlyList<ShadowTarget> Targets, ShadowCheckpoint Own)> BeginGroupShadowAsync(string group, ISink sink, List<GroupMember> members, string own, ILogger log, CancellationToken cancellationToken)
    {
        var shadowable = sink as IShadowableSink
            ?? throw new ConfigException($"consistency.{group}: sink {sink.Name} cannot build shadow targets; backfill without --shadow");
        var targets = new List<ShadowTarget>(members.Count);
        foreach (var member in members)
        {
            targets.Add(await shadowable.BeginShadowAsync(member.Name, member.Target, cancellationToken));
        }

        var checkpoint = await shadowable.BeginShadowCheckpointAsync(own, cancellationToken);
        log.LogInformation("consistency group {Group}: building shadows {Shadows} beside {Live}", group, string.Join(", ", targets.Select(t => t.Shadow.Table)), string.Join(", ", targets.Select(t => t.Live.Table)));
        return (targets, checkpoint);
    }

    /// <summary>Swaps every member's shadow in with one sink transaction once the backfill reached its
    /// end; an interrupted backfill leaves every live table as it was (null).</summary>
    private async Task<IReadOnlyList<ShadowSwap>?> SwapGroupShadowAsync(string group, IShadowableSink sink, (IReadOnlyList<ShadowTarget> Targets, ShadowCheckpoint Own) shadow, ILogger log, CancellationToken cancellationToken)
    {
        if (cancellationToken.IsCancellationRequested)
        {
            log.LogWarning("consistency group {Group}: interrupted before the end; {Live} are untouched and the incomplete shadows are left for a rerun", group, string.Join(", ", shadow.Targets.Select(t => t.Live.Table)));
            return null;
        }

        log.LogInformation("consistency group {Group}: the backfill reached its end; swapping {Shadows} in with one transaction", group, string.Join(", ", shadow.Targets.Select(t => t.Shadow.Table)));
        var swaps = await sink.SwapShadowsTogetherAsync(shadow.Targets, [shadow.Own], KeepOld, CancellationToken.None);
        log.LogInformation("consistency group {Group}: shadows swapped in as {Live}", group, string.Join(", ", swaps.Select(s => s.Live)));
        return swaps;
    }

    /// <summary>Where the group's reader starts on each stream: the oldest position any reader of it
    /// (a member, or the group for the transaction topic) holds; a stream one of them never checkpointed
    /// is read from the start.</summary>
    private static Dictionary<string, Changes.StreamPosition> StartPositions(
        Dictionary<string, IReadOnlyDictionary<string, Changes.StreamPosition>> checkpoints,
        List<GroupMember> members,
        string own,
        Func<string, bool> isTransactionTopic)
    {
        var result = new Dictionary<string, Changes.StreamPosition>(StringComparer.Ordinal);
        foreach (var stream in checkpoints.Values.SelectMany(c => c.Keys).Distinct(StringComparer.Ordinal))
        {
            // The transaction topic and the source's own cursor streams (a file's line cursor) are the group's.
            var owners = isTransactionTopic(stream) ? [own] : members.Where(m => m.Reading.Reads(stream)).Select(m => m.Name).ToList();
            if (owners.Count == 0)
            {
                owners = [own];
            }

            var positions = owners.Select(o => checkpoints[o].TryGetValue(stream, out var p) ? p : (Changes.StreamPosition?)null).ToList();
            if (owners.Count > 0 && positions.All(p => p is not null))
            {
                result[stream] = positions.Min()!.Value;
            }
        }

        return result;
    }
}
