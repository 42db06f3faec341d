using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Sync.Engine.Runtime;

namespace Sync.Engine.Verify;

/// <summary>Settings of a verification.</summary>
public sealed record VerifyOptions
{
    /// <summary>Drifted keys kept per class for the report. Default 10.</summary>
    public int SampleSize { get; init; } = 10;

    /// <summary>Show sampled keys as JSON instead of their hashes. Default false: reports carry no key.</summary>
    public bool ShowKeys { get; init; }

    /// <summary>The secret of the sampled keys' hashes; null (the default): the one stored in the sink
    /// with the materializer's checkpoint, generated and stored at its first verification (<see cref="Verify.SampleKey"/>).</summary>
    public SampleKey? SampleKey { get; init; }

    /// <summary>Where both sides are spilled while they are partitioned. Default: the system's temporary directory.</summary>
    public string SpillDirectory { get; init; } = Path.GetTempPath();

    /// <summary>The most entries a partition is merged in memory with (<see cref="PartitionedMerge"/>). Default 200,000.</summary>
    public int PartitionLimit { get; init; } = 200_000;
}

/// <summary>A sink could not be verified: it has no sweep of its rows with their versions, or the target is unknown.</summary>
public sealed class VerifyException(string message) : Exception(message);

/// <summary>
/// <c>sync verify</c>: proves that a materializer's sink holds what its changelog says. The log side is
/// the compacted view of the materializer's topics (the latest message per key; a pass over a changelog
/// file), each message decoded and mapped as the materializer does (<see cref="MaterializerReading"/>),
/// put in its stream's current source epoch as the sink stores it, and checked against the suppression
/// ledger. The sink side is the target's rows and delete markers with their stored versions
/// (<see cref="ISink.ScanStoredRows"/>). Both go through a <see cref="PartitionedMerge"/>, so memory stays
/// flat in the number of keys; each key is classified by <see cref="DriftClassifier"/>.
/// <para>Consistency with a running <c>sync run</c>: the materializer's checkpoint is read first and
/// pinned; a key whose log change or stored version lies past the pinned position changed while the
/// verification ran, so it counts as pending instead of drift.</para>
/// </summary>
public sealed class ChangelogVerifier
{
    private readonly SyncConfig _config;
    private readonly SyncComponents _components;
    private readonly Func<string, ISuppressionFilter> _suppression;

    public ChangelogVerifier(SyncConfig config, SyncComponents components, Func<string, ISuppressionFilter>? suppression = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(components);
        _config = config;
        _components = components;
        _suppression = suppression ?? (_ => NoSuppression.Instance);
    }

    public VerifyOptions Options { get; init; } = new();

    /// <summary>The clock of <see cref="VerificationResult.At"/>.</summary>
    public TimeProvider Time { get; init; } = TimeProvider.System;

    public async Task<VerificationResult> VerifyAsync(string name, MaterializerOptions options, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        await using var sink = await OpenSinkAsync(options, cancellationToken);
        var key = await SampleKeyOfAsync(name, sink, cancellationToken);
        return (await SweepAsync(name, options, sink, key, collect: false, cancellationToken)).Result;
    }

    /// <summary>Stores <paramref name="result"/> in the materializer's sink next to its checkpoint
    /// (<see cref="LastVerification"/>), for <c>sync status</c> and the metrics of <c>sync run</c>.</summary>
    public async Task RecordAsync(string name, MaterializerOptions options, VerificationResult result, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        await using var sink = await OpenSinkAsync(options, cancellationToken);
        await sink.ApplyAsync(new SinkBatch(name, new TargetSpec(options.Table) { Options = options.Target }, [], LastVerification.EntriesOf(result)), cancellationToken);
    }

    /// <summary>Verifies; when drift is found, re-applies the log's latest change of each drifted key
    /// through the normal apply path (never-regress, the suppression ledger and dead letters included),
    /// deletes extra rows the log holds nothing of, and verifies again. A dry run only counts what it
    /// would do. Keys ahead of the log stay: never-regress keeps them.</summary>
    public async Task<VerificationResult> VerifyAndRepairAsync(string name, MaterializerOptions options, bool dryRun, ILoggerFactory? loggerFactory, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        await using var sink = await OpenSinkAsync(options, cancellationToken);
        var key = await SampleKeyOfAsync(name, sink, cancellationToken);
        var sweep = await SweepAsync(name, options, sink, key, collect: true, cancellationToken);
        if (sweep.Result.Clean)
        {
            return sweep.Result;
        }

        var reapply = sweep.Drifted.Where(d => d.Value.Reapply).Select(d => d.Key).ToHashSet(StringComparer.Ordinal);
        var deletes = sweep.Drifted.Values.Where(d => d.Delete is not null).Select(d => d.Delete!).ToList();
        var left = sweep.Drifted.Values.Count(d => !d.Reapply && d.Delete is null);
        if (dryRun)
        {
            return sweep.Result with { Repair = new RepairResult(true, reapply.Count, deletes.Count, left, null) };
        }

        var counters = await ReapplyAsync(name, options, sink, reapply, loggerFactory ?? NullLoggerFactory.Instance, cancellationToken);
        var target = new TargetSpec(options.Table) { Options = options.Target };
        for (var i = 0; i < deletes.Count; i += options.BatchSize)
        {
            var batch = deletes.GetRange(i, Math.Min(options.BatchSize, deletes.Count - i));
            var applied = await sink.ApplyAsync(new SinkBatch(name, target, batch, new Dictionary<string, StreamPosition>()), cancellationToken);
            counters.AddDeleted(applied.Deleted);
        }

        var after = await SweepAsync(name, options, sink, key, collect: false, cancellationToken);
        return sweep.Result with { Repair = new RepairResult(false, reapply.Count, deletes.Count, left, counters), AfterRepair = after.Result };
    }

    private async Task<ISink> OpenSinkAsync(MaterializerOptions options, CancellationToken cancellationToken)
    {
        var sinkConfig = _config.Sinks[options.Sink];
        return await _components.Sinks[sinkConfig.Type].OpenAsync(sinkConfig, cancellationToken);
    }

    private async Task<SampleKey> SampleKeyOfAsync(string name, ISink sink, CancellationToken cancellationToken) =>
        Options.SampleKey ?? SampleKey.FromCheckpoint(await sink.LoadCheckpointAsync(name, cancellationToken));

    private async Task<Sweep> SweepAsync(string name, MaterializerOptions options, ISink sink, SampleKey key, bool collect, CancellationToken cancellationToken)
    {
        var target = new TargetSpec(options.Table) { Options = options.Target };
        var checkpoint = await sink.LoadCheckpointAsync(name, cancellationToken);
        var pinned = checkpoint
            .Where(c => !SourceEpochs.IsEpochEntry(c.Key) && !LastVerification.IsEntry(c.Key))
            .ToDictionary(c => c.Key, c => c.Value, StringComparer.Ordinal);
        var epochs = SourceEpochs.FromCheckpoint(checkpoint);
        var rows = sink.ScanStoredRows(name, target, cancellationToken)
            ?? throw new VerifyException($"sink {options.Sink} ({_config.Sinks[options.Sink].Type}) cannot list its rows with their versions, so materializer {name} cannot be verified");

        var reading = MaterializerReading.Of(_config, _components, name, options);
        var suppression = _suppression(name);
        await suppression.RefreshAsync(cancellationToken);
        var tally = new Tally(Options, key, collect);
        using var merge = new PartitionedMerge(Options.SpillDirectory, Options.PartitionLimit);
        var source = _config.Sources[options.Source];
        await using (var log = _components.Sources[source.Type].OpenLog(source))
        {
            await foreach (var message in LatestMessagesAsync(log, source, reading, cancellationToken))
            {
                if (LogEntry(reading, suppression, epochs, message) is { } entry)
                {
                    merge.AddLog(entry);
                }
                else if (!message.IsTombstone)
                {
                    tally.Unreadable++;
                }
            }
        }

        await foreach (var row in rows.WithCancellation(cancellationToken))
        {
            merge.AddSink(VerifyEntry.Of(row.Key, row.Image is null ? EntryState.Absent : EntryState.Row, row.Version, row.Image));
        }

        merge.Merge((log, stored) => tally.Add(log, stored, DriftClassifier.Classify(log, stored, pinned)));
        var result = new VerificationResult(name, options.Sink, options.Table, tally.Keys, tally.Counts(), tally.SampleLists())
        {
            Residue = tally.Residue,
            Pending = tally.Pending,
            Unreadable = tally.Unreadable,
            Pinned = pinned,
            SampleKey = key,
            At = Time.GetUtcNow(),
        };
        return new Sweep(result, tally.Drifted);
    }

    /// <summary>The messages that hold each key's latest change: the compacted view of a topic log; for
    /// a changelog file, which has no compacted view of its own (its log computes one in memory), a pass
    /// over every message, which the merge collapses to the newest per key as the runtime does, so that
    /// memory stays flat.</summary>
    private static IAsyncEnumerable<SourceMessage> LatestMessagesAsync(ITopicLog log, ComponentConfig source, MaterializerReading reading, CancellationToken cancellationToken) =>
        source.Type == "file" ? log.ScanRawAsync(reading.Reads, cancellationToken) : log.ReadCompactedAsync(reading.Reads, cancellationToken);

    /// <summary>The log's entry for a message, as the materializer would apply it (a tombstone, which
    /// only a pass over a changelog file meets, is a delete of its key); null for what the materializer
    /// cannot decode or map (its dead letters) or would skip.</summary>
    private static VerifyEntry? LogEntry(MaterializerReading reading, ISuppressionFilter suppression, SourceEpochs epochs, SourceMessage message)
    {
        ChangeEvent change;
        try
        {
            change = reading.Decode(message);
        }
        catch (Exception e) when (e is DecodeException or MapException)
        {
            return null;
        }

        if (change.Op == ChangeOp.Truncate)
        {
            return null;
        }

        change = epochs.InItsEpoch(change);
        return suppression.Decide(change) switch
        {
            SuppressionDecision.Drop => VerifyEntry.Of(change.Key, EntryState.Suppressed, change.Version, null),
            SuppressionDecision.DeleteInstead => VerifyEntry.Of(change.Key, EntryState.Absent, change.Version, null),
            _ => VerifyEntry.Of(change.Key, change.IsDelete ? EntryState.Absent : EntryState.Row, change.Version, change.IsDelete ? null : change.After),
        };
    }

    /// <summary>Feeds the compacted view's messages of <paramref name="keys"/> (canonical keys) through a
    /// materializer runner over the sink, without moving its checkpoint.</summary>
    private async Task<MaterializerCounters> ReapplyAsync(string name, MaterializerOptions options, ISink sink, HashSet<string> keys, ILoggerFactory loggerFactory, CancellationToken cancellationToken)
    {
        if (keys.Count == 0)
        {
            return new MaterializerCounters();
        }

        var reading = MaterializerReading.Of(_config, _components, name, options);
        var messages = new List<SourceMessage>();
        var source = _config.Sources[options.Source];
        await using (var log = _components.Sources[source.Type].OpenLog(source))
        {
            await foreach (var message in LatestMessagesAsync(log, source, reading, cancellationToken))
            {
                try
                {
                    if (keys.Contains(VerifyKey.Canonical(reading.Decode(message).Key)))
                    {
                        messages.Add(message);
                    }
                }
                catch (Exception e) when (e is DecodeException or MapException)
                {
                    // Never verified either: its dead letter stands for it.
                }
            }
        }

        await using var deadLetters = SyncRuntime.OpenDeadLetters(_config, _components, name, options, sink);
        var runner = new MaterializerRunner(name, options, new ListReader(messages), reading.Decoder, new CheckpointlessSink(sink), deadLetters, loggerFactory.CreateLogger($"sync.verify.{name}"), _suppression(name))
        {
            Epochs = SourceEpochs.FromCheckpoint(await sink.LoadCheckpointAsync(name, cancellationToken)),
            EpochsFixed = true,
        };
        await runner.RunAsync(cancellationToken);
        return runner.Counters;
    }

    private sealed record Sweep(VerificationResult Result, Dictionary<string, Drifted> Drifted);

    /// <summary>A drifted key and how a repair treats it: re-apply the log's change, or delete the row
    /// (at its own version, which the delete supersedes), or leave it.</summary>
    private sealed record Drifted(bool Reapply, ChangeEvent? Delete);

    private sealed class Tally(VerifyOptions options, SampleKey key, bool collect)
    {
        private readonly Dictionary<DriftClass, long> _counts = DriftClasses.All.ToDictionary(c => c, _ => 0L);
        private readonly Dictionary<DriftClass, SortedSet<(ulong Hash, string Shown)>> _samples = DriftClasses.All.ToDictionary(c => c, _ => new SortedSet<(ulong, string)>());

        public long Keys { get; private set; }

        public long Residue { get; private set; }

        public long Pending { get; private set; }

        public long Unreadable { get; set; }

        public Dictionary<string, Drifted> Drifted { get; } = new(StringComparer.Ordinal);

        public void Add(VerifyEntry? log, VerifyEntry? stored, DriftFinding finding)
        {
            Keys++;
            if (finding.Verdict == KeyVerdict.Pending)
            {
                Pending++;
                return;
            }

            if (finding.Verdict != KeyVerdict.Drift)
            {
                return;
            }

            _counts[finding.Class]++;
            Residue += finding.Residue ? 1 : 0;
            var entry = (log ?? stored)!;
            var sample = _samples[finding.Class];
            if (options.SampleSize > 0 && (sample.Count < options.SampleSize || entry.Hash < sample.Max.Hash))
            {
                sample.Add((entry.Hash, options.ShowKeys ? entry.KeyJson : key.HashOf(entry.Canonical)));
                if (sample.Count > options.SampleSize)
                {
                    sample.Remove(sample.Max);
                }
            }

            if (collect)
            {
                Drifted[entry.Canonical] = RepairOf(finding, log, stored);
            }
        }

        public IReadOnlyDictionary<DriftClass, long> Counts() => _counts;

        public IReadOnlyDictionary<DriftClass, IReadOnlyList<string>> SampleLists() =>
            _samples.ToDictionary(s => s.Key, s => (IReadOnlyList<string>)[.. s.Value.Select(v => v.Shown)]);

        private static Drifted RepairOf(DriftFinding finding, VerifyEntry? log, VerifyEntry? stored)
        {
            if (finding.Class == DriftClass.Ahead)
            {
                return new Drifted(false, null);
            }

            if (finding.Class == DriftClass.Extra && (log is null || log.State == EntryState.Suppressed))
            {
                return new Drifted(false, DeleteAt(stored!));
            }

            return new Drifted(true, null);
        }

        /// <summary>A delete of the stored row at the row's own version: the same version supersedes, so
        /// the sink's normal apply path deletes it and keeps the version in a delete marker. A version
        /// without a source order gets order 0, below every change that has one.</summary>
        private static ChangeEvent DeleteAt(VerifyEntry stored)
        {
            var version = stored.Version!.Value;
            return EpochReconciliation.DeleteOf(stored.KeyJson, version.Stream, version.Position, version.Lsn ?? 0);
        }
    }

    /// <summary>A source of a fixed list of messages, read once.</summary>
    private sealed class ListReader(List<SourceMessage> messages) : ISourceReader
    {
        private int _next;

        public IReadOnlyDictionary<string, StreamPosition> Cursor { get; } = new Dictionary<string, StreamPosition>();

        public ValueTask<IReadOnlyList<SourceRecord>?> ReadBatchAsync(int maxRecords, TimeSpan linger, CancellationToken cancellationToken)
        {
            if (_next >= messages.Count)
            {
                return ValueTask.FromResult<IReadOnlyList<SourceRecord>?>(null);
            }

            var batch = messages.Skip(_next).Take(maxRecords).Select(m => new SourceRecord(m, null)).ToList();
            _next += batch.Count;
            return ValueTask.FromResult<IReadOnlyList<SourceRecord>?>(batch);
        }

        public ValueTask AcknowledgeAsync(CancellationToken cancellationToken) => ValueTask.CompletedTask;

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }

    /// <summary>The sink, with batches that move no checkpoint: a repair applies changes out of the stream's order.</summary>
    private sealed class CheckpointlessSink(ISink inner) : DelegatingSink(inner)
    {
        public override ValueTask<ApplyResult> ApplyAsync(SinkBatch batch, CancellationToken cancellationToken) =>
            Inner.ApplyAsync(batch with { Checkpoint = new Dictionary<string, StreamPosition>() }, cancellationToken);
    }
}
