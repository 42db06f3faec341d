namespace Sync.Engine.Runtime;

/// <summary>One line of <c>sync status</c>: a materializer's progress on one topic.</summary>
public sealed record TopicStatus(
    string Materializer,
    string Target,
    string Topic,
    string? Checkpoint,
    string Last,
    long? Behind,
    long DeadLetters)
{
    /// <summary>Set when the row cannot be trusted as it stands, e.g. a checkpoint past the topic's
    /// last message (the source was replaced or truncated); null otherwise.</summary>
    public string? Warning { get; init; }

    /// <summary>The topic's source epoch (0 until its source first went back in time).</summary>
    public int Epoch { get; init; }

    /// <summary>Why the materializer will not resume (its target is missing while a checkpoint is stored), or null.</summary>
    public string? Problem { get; init; }

    /// <summary>True while the sink is being healed: it went back in time and a running <c>sync run</c>
    /// replays what it lost (or, stopped, will at its next start); the target is incomplete until then
    /// and the checkpoint does not move.</summary>
    public bool Healing { get; init; }

    /// <summary>What the last <c>sync verify</c> of the materializer found, or null when it never ran.</summary>
    public Verify.LastVerification? Verified { get; init; }

    /// <summary>Set while the materializer's consistency group heals after its sink went back in time, or null.</summary>
    public GroupHealing? GroupHealing { get; init; }
}

/// <summary>A consistency group healing: its sink refused a transaction because it went back in time,
/// and <c>sync run</c> reads again from the checkpoints the sink holds.</summary>
/// <param name="Group">The group's name (<c>consistency.&lt;name&gt;</c>).</param>
/// <param name="RollbacksInARow">How many times in a row the sink went back without the group keeping a
/// transaction in between (the group stops at <see cref="SyncRuntime.MaxGroupRollbacks"/>); 0 when the
/// mark was left by a run that stopped while it healed and the count is not known.</param>
public sealed record GroupHealing(string Group, long RollbacksInARow);

/// <summary>Reads where each materializer stands: its checkpoint (from the sink), the end of each
/// of its topics (from the source), and its dead-letter count. Changes nothing.</summary>
public sealed class StatusReader
{
    private readonly SyncConfig _config;
    private readonly SyncComponents _components;

    public StatusReader(SyncConfig config, SyncComponents components)
    {
        _config = config;
        _components = components;
    }

    public async Task<IReadOnlyList<TopicStatus>> ReadAsync(IReadOnlyCollection<string> names, CancellationToken cancellationToken)
    {
        var rows = new List<TopicStatus>();
        var selected = new SyncRuntime(_config, _components, Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance).Select(names);
        var sinks = new Dictionary<string, ISink>(StringComparer.Ordinal);
        try
        {
            foreach (var (name, options) in selected)
            {
                if (!sinks.TryGetValue(options.Sink, out var sink))
                {
                    var sinkConfig = _config.Sinks[options.Sink];
                    sinks[options.Sink] = sink = await _components.Sinks[sinkConfig.Type].OpenAsync(sinkConfig, cancellationToken);
                }

                var stored = await sink.LoadCheckpointAsync(name, cancellationToken);
                var epochs = SourceEpochs.FromCheckpoint(stored);
                var lostRepairs = epochs.TakeLostRepairs();
                var healing = SinkCheckpointGuard.MarksHealing(stored);
                var verified = Verify.LastVerification.FromCheckpoint(stored);
                var checkpoint = SinkCheckpointGuard.PositionsOf(stored);
                var problem = MaterializerReading.Of(_config, _components, name, options).ReadsAny(checkpoint) && await sink.FindMissingTargetAsync(name, new TargetSpec(options.Table) { Options = options.Target }, cancellationToken) is { } missing
                    ? SyncRuntime.MissingTargetMessage(name, options.Sink, missing, checkpoint)
                    : null;
                var source = _config.Sources[options.Source];
                // On a shared subscription the processes agree on an epoch through the sink
                // (SourceEpochs.Shared.cs); a sink that cannot store the agreement refuses the epoch, so
                // only a rebuild helps there, as the run logs. Asking with no entries writes nothing.
                var unordered = (source.Options as ITopicSourceOptions)?.UnorderedBecause is { } spread
                    && await sink.AddCheckpointEntriesAsync(name, [], cancellationToken) is null
                    ? spread
                    : null;
                await using var log = _components.Sources[source.Type].OpenLog(source);
                // A dead-letter topic is counted by reading this materializer's letters through its
                // replay subscription without acknowledging them (the broker keeps no count per property).
                var deadLetters = _config.DeadLetterKindOf(options) switch
                {
                    DeadLetterKind.Topic => (await new DeadLetterReplay(_config, _components, Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance).ListAsync(name, options, cancellationToken)).Letters,
                    DeadLetterKind.Table => await SyncRuntime.DeadLetterStoreOf(_config, name, options, sink).CountDeadLettersAsync(name, cancellationToken),
                    _ => CountLines(_config.DeadLetterPath(name, options)),
                };
                var ends = await log.EndsAsync(options.TopicFilter(), checkpoint, cancellationToken);
                foreach (var end in ends)
                {
                    var hasPosition = checkpoint.TryGetValue(end.Topic, out var position);
                    var epoch = epochs.Of(end.Topic);
                    // A checkpoint past the topic's last message: the source was replaced or truncated
                    // (a restored changelog file), so 'behind' counts nothing true and a run refuses it.
                    var pastEnd = hasPosition && position > end.Last;
                    rows.Add(new TopicStatus(
                        name,
                        $"{options.Sink}/{options.Table}",
                        end.Topic,
                        hasPosition ? position.ToString() : null,
                        end.Last.ToString(),
                        pastEnd ? null : end.Behind,
                        deadLetters)
                    {
                        Warning = pastEnd
                            ? $"materializer '{name}' has checkpoint {position} on topic {end.Topic}, past its last message {end.Last}: the source was replaced or truncated and a run refuses it; replay with 'sync backfill --config CONFIG --materializer {name}'"
                            : lostRepairs.FirstOrDefault(l => l.Stream == end.Topic) is { } lost
                                ? $"materializer '{name}' is degraded: {end.Topic} entered source epoch {lost.Epoch} while a process of the shared subscription had applied changes of it in the old epoch, up to {lost.Through}, and that process stopped before it applied them again, and the topic no longer held them to read them again; their rows may keep older values or be missing. Rebuild with 'sync backfill --config CONFIG --materializer {name} --shadow' (or check with 'sync verify'), then restart the processes (docs/operations.md, \"Source epochs on shared and key-shared subscriptions\")"
                            : epochs.AwaitedRepairs(end.Topic, epoch.Epoch) is [var (instance, through), ..]
                                ? $"materializer '{name}' holds back the reconciliation of {end.Topic} in source epoch {epoch.Epoch}: it waits for instance '{instance}', which applied changes of the epoch in the old one, through {through}, before it learned the epoch, and has not applied them again yet; rows the new source no longer holds stay until then. If that process stopped, start one with SYNC_INSTANCE={instance}: it reads that range again from the topic (docs/operations.md, \"Source epochs on shared and key-shared subscriptions\")"
                            : !epoch.Has(EpochFlags.Regressed)
                                ? null
                                : unordered is null
                                    ? $"materializer '{name}' is degraded: the source orders of {end.Topic} fell far below what was applied, outside a snapshot, in source {SourceEpochs.Describe(epoch)}; the source went back in time (failover, restore, new cluster). Take a new snapshot in the connector or run 'sync epoch bump --config CONFIG --materializer {name} --reason TEXT' (docs/operations.md, \"Source failovers, restores and migrations\")"
                                    : $"materializer '{name}' is degraded: {end.Topic} went back in time or would start a new source epoch, in source {SourceEpochs.Describe(epoch)}, but it is read through a shared subscription ({unordered}) into a sink that cannot store the processes' agreement on an epoch, so a new snapshot or 'sync epoch bump' does not help. Rebuild with 'sync backfill --config CONFIG --materializer {name} --shadow', then restart the processes (docs/operations.md, \"Source failovers, restores and migrations\")",
                        Epoch = epoch.Epoch,
                        Problem = problem,
                        Healing = healing,
                        Verified = verified,
                    });
                }
            }
            // A group's heal mark is in its own checkpoint, in the sink of its members.
            foreach (var (group, options) in _config.ConsistencyGroups)
            {
                var member = options.Materializers.FirstOrDefault(m => rows.Any(r => r.Materializer == m));
                if (member is null)
                {
                    continue;
                }

                var stored = await sinks[_config.Materializers.First(m => m.Key == member).Value.Sink].LoadCheckpointAsync(ConsistencyGroupRunner.CheckpointName(group), cancellationToken);
                if (SinkCheckpointGuard.MarksHealing(stored))
                {
                    var healing = new GroupHealing(group, SinkCheckpointGuard.RollbacksOf(stored));
                    rows = [.. rows.Select(r => options.Materializers.Contains(r.Materializer, StringComparer.Ordinal) ? r with { GroupHealing = healing } : r)];
                }
            }
        }
        finally
        {
            foreach (var sink in sinks.Values)
            {
                await sink.DisposeAsync();
            }
        }

        return rows;
    }

    private static long CountLines(string path)
    {
        if (!File.Exists(path))
        {
            return 0;
        }

        using var reader = new StreamReader(path);
        long count = 0;
        while (reader.ReadLine() is not null)
        {
            count++;
        }

        return count;
    }
}
