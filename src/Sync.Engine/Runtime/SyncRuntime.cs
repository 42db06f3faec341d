using Microsoft.Extensions.Logging;

namespace Sync.Engine.Runtime;

/// <summary>The source and sink types a process knows.</summary>
public sealed class SyncComponents
{
    public SyncComponents(
        IEnumerable<ISourceFactory> sources,
        IEnumerable<ISinkFactory> sinks,
        IReadOnlyList<string> formats,
        Func<string, DecoderOptions, IMessageDecoder> createDecoder)
    {
        Sources = sources.ToDictionary(s => s.Type, StringComparer.Ordinal);
        Sinks = sinks.ToDictionary(s => s.Type, StringComparer.Ordinal);
        Formats = formats;
        CreateDecoder = createDecoder;
    }

    /// <summary>Names of the message formats.</summary>
    public IReadOnlyList<string> Formats { get; }

    /// <summary>Creates the decoder of a format.</summary>
    public Func<string, DecoderOptions, IMessageDecoder> CreateDecoder { get; }

    public IReadOnlyDictionary<string, ISourceFactory> Sources { get; }

    public IReadOnlyDictionary<string, ISinkFactory> Sinks { get; }

    /// <summary>The option types of every component, for config binding.</summary>
    public ComponentTypes Types
    {
        get
        {
            var types = new ComponentTypes();
            foreach (var (name, source) in Sources)
            {
                types.Sources[name] = source.OptionsType;
            }

            foreach (var (name, sink) in Sinks)
            {
                types.Sinks[name] = sink.OptionsType;
                if (sink.TargetOptionsType is { } targetType)
                {
                    types.SinkTargets[name] = targetType;
                }

                if (sink.KeepsDeadLetterTable)
                {
                    types.DeadLetterTableSinks.Add(name);
                }

                if (sink.HostsLedger)
                {
                    types.LedgerSinks.Add(name);
                }

                if (sink.AppliesTransactions)
                {
                    types.TransactionalSinks.Add(name);
                }
            }

            types.Formats.AddRange(Formats);

            return types;
        }
    }
}

/// <summary>How a run starts: from the checkpoint, or from the first message (backfill).</summary>
public enum RunMode
{
    Resume,
    Backfill,
}

/// <summary>How a materializer's run ended, when it did not fail.</summary>
public enum MaterializerEnd
{
    /// <summary>Its source reached its end (a changelog file read to the last line, a backfill caught up).</summary>
    Finished,

    /// <summary>Stopped on request while reading a source that has no end (a followed file, a Pulsar
    /// subscription in <c>sync run</c>): the normal stop of a service.</summary>
    Stopped,

    /// <summary>Stopped on request before its source's end: what was read is applied and
    /// checkpointed, but the run did not finish, and a rerun goes on from the checkpoint.</summary>
    Interrupted,
}

/// <summary>The outcome of one materializer in a run.</summary>
public sealed record MaterializerOutcome(string Name, string Sink, string Table, MaterializerCounters Counters, TimeSpan Elapsed, string DeadLetterTarget, Exception? Failure)
{
    /// <summary>The swap that ended a shadow backfill, or null.</summary>
    public ShadowSwap? Swap { get; init; }

    /// <summary>Whether the source's end was reached, or a stop request ended the run first.</summary>
    public MaterializerEnd End { get; init; }
}

/// <summary>Runs the selected materializers of a config side by side until their sources end or
/// the run is cancelled.</summary>
public sealed partial class SyncRuntime
{
    private readonly SyncConfig _config;
    private readonly SyncComponents _components;
    private readonly ILoggerFactory _loggerFactory;

    private readonly Func<string, ISuppressionFilter> _suppression;
    private int _selectedCount;

    /// <param name="suppression">The suppression filter of a materializer (by name); none by default.</param>
    public SyncRuntime(SyncConfig config, SyncComponents components, ILoggerFactory loggerFactory, Func<string, ISuppressionFilter>? suppression = null)
    {
        _config = config;
        _components = components;
        _loggerFactory = loggerFactory;
        _suppression = suppression ?? (_ => NoSuppression.Instance);
    }

    /// <summary>This process's name among the processes of a shared subscription (see
    /// <see cref="MaterializerRunner.Instance"/>); <see cref="SourceEpochs.DefaultInstance"/> when null.</summary>
    public string? Instance { get; init; }

    /// <summary>The clock of each materializer's periodic sink check and retry backoff.</summary>
    public TimeProvider Time { get; init; } = TimeProvider.System;

    /// <summary>How often each materializer logs a progress line (<see cref="MaterializerLog.Progress"/>)
    /// while it runs; zero for never.</summary>
    public TimeSpan ProgressInterval { get; init; } = TimeSpan.FromMinutes(1);

    /// <summary>Where the run reports its telemetry and each materializer's state; none by default.</summary>
    public SyncMetrics? Metrics { get; init; }

    /// <summary>The materializers to run: all, or those named. Unknown names are a <see cref="ConfigException"/>.</summary>
    /// <summary>Called as each materializer starts, with the counters it updates as it goes (for
    /// progress output).</summary>
    public Action<string, MaterializerCounters>? Started { get; init; }

    /// <summary>With <see cref="RunMode.Backfill"/>: build into a shadow target and swap it in at the
    /// end (<see cref="IShadowableSink"/>) instead of writing to the live target.</summary>
    public bool Shadow { get; init; }

    /// <summary>With <see cref="Shadow"/>: keep the replaced data under the sink's "old" name
    /// instead of dropping it.</summary>
    public bool KeepOld { get; init; }

    /// <summary>When a materializer stops on a fatal error, stop the others too (gracefully: each
    /// applies and acknowledges what it read). False by default: the others keep running.</summary>
    public bool StopAllOnFailure { get; init; }

    /// <summary>With <see cref="RunMode.Backfill"/>: where each materializer's backfill starts
    /// (<c>--from</c>); the earliest message of every topic by default.</summary>
    public BackfillStart BackfillFrom { get; init; } = BackfillStart.Earliest;

    /// <summary>True when the materializer's source has no end in <paramref name="mode"/>, so that only
    /// a stop request ends its run (<see cref="MaterializerEnd.Stopped"/>, not interrupted).</summary>
    public bool HasNoEnd(string name, RunMode mode)
    {
        var source = _config.Sources[_config.Materializers.First(m => m.Key == name).Value.Source];
        return _components.Sources[source.Type].HasNoEnd(source, mode == RunMode.Backfill);
    }

    public IReadOnlyList<KeyValuePair<string, MaterializerOptions>> Select(IReadOnlyCollection<string> names)
    {
        if (names.Count == 0)
        {
            return _config.Materializers;
        }

        var known = _config.Materializers.Select(m => m.Key).ToList();
        var unknown = names.Where(n => !known.Contains(n)).ToList();
        if (unknown.Count > 0)
        {
            throw new ConfigException([.. unknown.Select(n => new ConfigProblem(
                Path.GetFileName(_config.FilePath), 0, "materializers", $"--materializer {n} does not name a materializer (known: {string.Join(", ", known)})"))]);
        }

        return _config.Materializers.Where(m => names.Contains(m.Key)).ToList();
    }

    public async Task<IReadOnlyList<MaterializerOutcome>> RunAsync(IReadOnlyCollection<string> names, RunMode mode, CancellationToken cancellationToken)
    {
        var selected = Select(names);
        // Checked before any sink opens: a --from that does not fit changes nothing.
        var startAt = selected.ToDictionary(
            m => m.Key,
            m => mode == RunMode.Backfill ? BackfillFrom.Resolve(m.Key, m.Value, Reading(m.Key, m.Value).Naming) : new Dictionary<string, Changes.StreamPosition>(),
            StringComparer.Ordinal);
        var sinks = new Dictionary<string, ISink>(StringComparer.Ordinal);
        try
        {
            foreach (var sinkName in selected.Select(m => m.Value.Sink).Distinct())
            {
                var sinkConfig = _config.Sinks[sinkName];
                sinks[sinkName] = await _components.Sinks[sinkConfig.Type].OpenAsync(sinkConfig, cancellationToken);
            }

            _selectedCount = selected.Count;
            using var stopAll = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            var groups = GroupsOf(selected, mode);
            var groupRuns = groups.Select(g => RunGroupAsync(g.Key, g.Value, sinks[_config.Materializers.First(m => m.Key == g.Value.Materializers[0]).Value.Sink], mode, stopAll.Token)).ToList();
            var runs = selected.Where(m => !groups.Any(g => g.Value.Materializers.Contains(m.Key, StringComparer.Ordinal))).Select(async m =>
            {
                var outcome = await RunOneAsync(m.Key, m.Value, sinks[m.Value.Sink], mode, startAt[m.Key], stopAll.Token);
                if (outcome.Failure is not null && StopAllOnFailure)
                {
                    _loggerFactory.CreateLogger($"sync.{m.Key}").LogError("stopping every materializer: {Materializer} failed and --stop-all-on-failure is set", m.Key);
                    await stopAll.CancelAsync();
                }

                return outcome;
            }).ToList();
            var outcomes = (await Task.WhenAll(runs)).Concat((await Task.WhenAll(groupRuns)).SelectMany(o => o)).ToDictionary(o => o.Name, StringComparer.Ordinal);
            return [.. selected.Select(m => outcomes[m.Key])];
        }
        finally
        {
            foreach (var sink in sinks.Values)
            {
                await sink.DisposeAsync();
            }
        }
    }

    /// <summary>The materializer's dead-letter target: its source's dead-letter topics, its file, or
    /// the dead-letter table of its sink (<paramref name="sink"/>, the opened sink of the materializer).</summary>
    public static IDeadLetterTarget OpenDeadLetters(SyncConfig config, SyncComponents components, string name, MaterializerOptions options, ISink? sink = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(components);
        ArgumentNullException.ThrowIfNull(options);
        if (config.DeadLetterKindOf(options) == DeadLetterKind.Table)
        {
            return new SinkDeadLetterTable(DeadLetterStoreOf(config, name, options, sink), name);
        }

        if (config.DeadLetterKindOf(options) == DeadLetterKind.Topic)
        {
            var source = config.Sources[options.Source];
            return components.Sources[source.Type].OpenDeadLetterTopic(source, name)
                ?? throw new ConfigException([new ConfigProblem(Path.GetFileName(config.FilePath), source.Line, $"materializers.{name}.deadLetterTarget", $"materializers.{name}.deadLetterTarget (topic) needs a source that has topics; {source.Name} is of type {source.Type}")]);
        }

        return new DeadLetterWriter(config.DeadLetterPath(name, options), name);
    }

    /// <summary>The dead-letter table of a materializer's sink (<c>deadLetterTarget: table</c>).</summary>
    public static IDeadLetterStore DeadLetterStoreOf(SyncConfig config, string name, MaterializerOptions options, ISink? sink)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(options);
        return sink as IDeadLetterStore ?? throw new ConfigException([new ConfigProblem(
            Path.GetFileName(config.FilePath), 0, $"materializers.{name}.deadLetterTarget",
            $"materializers.{name}.deadLetterTarget (table) needs a sink that keeps a dead-letter table (postgres, sqlite); sink {options.Sink} is of type {config.Sinks[options.Sink].Type}")]);
    }

    /// <summary>Why a materializer with a stored checkpoint is not resumed into a missing target, and the ways out.</summary>
    public static string MissingTargetMessage(string name, string sink, MissingTarget missing, IReadOnlyDictionary<string, Changes.StreamPosition> checkpoint)
    {
        ArgumentNullException.ThrowIfNull(missing);
        ArgumentNullException.ThrowIfNull(checkpoint);
        var positions = string.Join(", ", checkpoint.OrderBy(c => c.Key, StringComparer.Ordinal).Select(c => $"{c.Key} at {c.Value}"));
        var where = missing.Recorded == missing.Target
            ? $"its target {missing.Target} no longer exists (dropped?)"
            : $"its target {missing.Target} does not exist; the checkpoint was stored while it wrote to {missing.Recorded}";
        return $"materializer {name}: {where}, but sink {sink} holds its checkpoint ({positions}), so resuming would skip every change before it and leave {missing.Target} incomplete. "
            + $"Rebuild the target from the start with `sync backfill --materializer {name}`, or put the old schema:/table: back in the config.";
    }

    /// <summary>Where a materializer starts, for its first log line: the positions given to a
    /// backfill, the stored checkpoint of a resume, or the start of the source.</summary>
    private static string StartPosition(RunMode mode, IReadOnlyDictionary<string, Changes.StreamPosition> checkpoint, IReadOnlyDictionary<string, Changes.StreamPosition> startAt)
    {
        static string Join(IReadOnlyDictionary<string, Changes.StreamPosition> positions) =>
            string.Join(", ", positions.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => $"{p.Key} at {p.Value}"));

        if (mode == RunMode.Backfill)
        {
            return startAt.Count == 0 ? "the earliest message" : Join(startAt) + " (other topics at the earliest message)";
        }

        return checkpoint.Count == 0 ? "the start (no checkpoint stored)" : "the checkpoint " + Join(checkpoint);
    }

    /// <summary>The positions of the streams the materializer reads now: a stored checkpoint may still
    /// hold topics it read before its config changed, which a replay must not be asked to start on.</summary>
    private static Dictionary<string, Changes.StreamPosition> ReadStreamsOnly(IReadOnlyDictionary<string, Changes.StreamPosition> starts, MaterializerReading reading) =>
        starts.Where(s => reading.Reads(s.Key)).ToDictionary(s => s.Key, s => s.Value, StringComparer.Ordinal);

    private MaterializerReading Reading(string name, MaterializerOptions options) => MaterializerReading.Of(_config, _components, name, options);

    private async Task<MaterializerOutcome> RunOneAsync(string name, MaterializerOptions options, ISink sink, RunMode mode, IReadOnlyDictionary<string, Changes.StreamPosition> startAt, CancellationToken cancellationToken)
    {
        // Each materializer runs on its own so that a slow one never holds up the others.
        await Task.Yield();
        var started = System.Diagnostics.Stopwatch.StartNew();
        var counters = new MaterializerCounters();
        Metrics?.Starting(name);
        await using var deadLetters = OpenDeadLetters(_config, _components, name, options, sink);
        var reading = Reading(name, options);
        ShadowTarget? shadow = null;
        IShadowableSink? shadowable = null;
        try
        {
            if (Shadow && mode == RunMode.Backfill)
            {
                shadowable = sink as IShadowableSink
                    ?? throw new ConfigException($"materializers.{name}: sink {options.Sink} cannot build a shadow target; backfill without --shadow");
                shadow = await shadowable.BeginShadowAsync(name, new TargetSpec(options.Table) { Options = options.Target }, cancellationToken);
                _loggerFactory.CreateLogger($"sync.{name}").LogInformation("{Materializer}: building shadow {Shadow} beside {Live}", name, shadow.Shadow.Table, shadow.Live.Table);
                sink = new ShadowWritingSink(sink, shadow);
            }

            var stored = await sink.LoadCheckpointAsync(name, cancellationToken);
            Metrics?.CheckpointLoaded(name, stored);
            // Neither the epoch state nor the heal mark is a stream: the source resumes from the positions alone.
            var checkpoint = SinkCheckpointGuard.PositionsOf(stored);
            if (mode == RunMode.Resume && reading.ReadsAny(checkpoint)
                && await sink.FindMissingTargetAsync(name, new TargetSpec(options.Table) { Options = options.Target }, cancellationToken) is { } missing)
            {
                throw new InvalidOperationException(MissingTargetMessage(name, options.Sink, missing, checkpoint));
            }

            var source = _config.Sources[options.Source];
            var request = reading.ReadRequest(checkpoint, mode == RunMode.Backfill) with { StartAt = startAt, Log = _loggerFactory.CreateLogger($"sync.{name}") };
            await using var reader = _components.Sources[source.Type].Open(source, request);
            var log = _loggerFactory.CreateLogger($"sync.{name}");
            MaterializerLog.Opened(log, name, source.Name, source.Type, options.Sink, options.Table, mode == RunMode.Backfill ? "backfill" : "resume", StartPosition(mode, checkpoint, startAt));
            var decoder = reading.Decoder;
            await using var repairLog = options.RepairTombstones && mode == RunMode.Resume ? _components.Sources[source.Type].OpenLog(source) : null;
            var suppression = _suppression(name);
            var repair = repairLog is null ? null : new TombstoneRepair(repairLog, change => suppression.Decide(change) != SuppressionDecision.Keep);
            var sourceFactory = _components.Sources[source.Type];
            var runner = new MaterializerRunner(name, options, reader, decoder, Metrics?.Measure(sink) ?? sink, deadLetters, _loggerFactory.CreateLogger($"sync.{name}"), suppression, repair)
            {
                ErrorPolicy = _config.ErrorPolicyOf(options),
                // A backfill from the first message replays the epochs from the topic's history; a resume
                // continues the stored ones, and so does a backfill from a position (--from), which starts
                // inside the history the stored state describes.
                Epochs = mode == RunMode.Backfill && startAt.Count == 0 ? new SourceEpochs() : SourceEpochs.FromCheckpoint(stored),
                Time = Time,
                Instance = Instance ?? SourceEpochs.DefaultInstance,
                SinkName = options.Sink,
                RollbackCheckInterval = options.RollbackCheckInterval,
                CheckpointAtStart = stored,
                SinkNeverLowersCheckpoints = IMonotonicCheckpointSink.Of(sink),
                ReadsEntry = reading.ReadsEntry,
                RebuildWhenEmpty = (options.OnEmptySink ?? (_components.Sinks[_config.Sinks[options.Sink].Type].RebuildsWhenEmpty ? EmptySinkHandling.Rebuild : EmptySinkHandling.Stop)) == EmptySinkHandling.Rebuild,
                // Only a run on the live target heals it: a backfill rewrites it anyway.
                OpenReplay = mode == RunMode.Resume && shadow is null
                    ? starts => sourceFactory.Open(source, reading.ReadRequest(new Dictionary<string, Changes.StreamPosition>(), true) with { StartAt = ReadStreamsOnly(starts, reading) })
                    : null,
            };
            counters = runner.Counters;
            Started?.Invoke(name, counters);
            Metrics?.Running(name, counters, reader);
            // The sink as opened (a metrics wrapper does not pass the event on).
            var reconnecting = sink as IReconnectingSink;
            if (reconnecting is not null)
            {
                reconnecting.Reconnected += runner.SinkReconnected;
            }

            try
            {
                using (MaterializerLog.LogProgress(log, name, () => counters, Time, ProgressInterval))
                {
                    await runner.RunAsync(cancellationToken);
                }
            }
            finally
            {
                if (reconnecting is not null)
                {
                    reconnecting.Reconnected -= runner.SinkReconnected;
                }
            }

            ShadowSwap? swap = null;
            if (shadow is not null && cancellationToken.IsCancellationRequested)
            {
                // The source's end was not reached, so the shadow is incomplete: the live target stays
                // as it was, and a rerun rebuilds the shadow from the start.
                _loggerFactory.CreateLogger($"sync.{name}").LogWarning("{Materializer}: interrupted before the end; {Live} is untouched and the incomplete shadow {Shadow} is left for a rerun", name, shadow.Live.Table, shadow.Shadow.Table);
            }
            else if (shadow is not null && shadowable is not null)
            {
                _loggerFactory.CreateLogger($"sync.{name}").LogInformation("{Materializer}: the backfill reached its end; swapping {Shadow} in", name, shadow.Shadow.Table);
                swap = await shadowable.SwapShadowAsync(shadow, KeepOld, CancellationToken.None);
                _loggerFactory.CreateLogger($"sync.{name}").LogInformation("{Materializer}: shadow swapped in as {Live}; old data {Old}", name, swap.Live, swap.Old);
            }

            Metrics?.Ended(name, null);
            var end = runner.SourceEnded || !cancellationToken.IsCancellationRequested ? MaterializerEnd.Finished
                : HasNoEnd(name, mode) ? MaterializerEnd.Stopped
                : MaterializerEnd.Interrupted;
            MaterializerLog.Ended(log, name, MaterializerLog.Describe(end), counters.Read, counters.Applied, counters.Deleted, counters.DeadLettered);
            return new MaterializerOutcome(name, options.Sink, options.Table, counters, started.Elapsed, deadLetters.Description, null) { Swap = swap, End = end };
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            // Said now, not only in the summary at exit: the other materializers may run for weeks.
            _loggerFactory.CreateLogger($"sync.{name}").LogError(StopAllOnFailure || _selectedCount == 1 ? "materializer {Materializer} stopped: {Reason}" : "materializer {Materializer} stopped; the others keep running: {Reason}", name, e.Message);
            Metrics?.Ended(name, e);
            return new MaterializerOutcome(name, options.Sink, options.Table, counters, started.Elapsed, deadLetters.Description, e);
        }
    }
}
