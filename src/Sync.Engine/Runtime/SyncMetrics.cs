using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Sync.Engine.Runtime;

/// <summary>Where a materializer stands, for <c>/healthz</c>.</summary>
public enum MaterializerState
{
    /// <summary>Opening its sink checkpoint and source.</summary>
    Starting,

    /// <summary>Reading and applying.</summary>
    Running,

    /// <summary>Running, but its source connection is lost and being re-established with backoff, or
    /// its sink fails with transient errors and the batch is being retried; nothing is dropped.</summary>
    Degraded,

    /// <summary>Its source ended (a changelog file without <c>follow</c>) and everything read was applied.</summary>
    Finished,

    /// <summary>Running, but its sink went back in time and the changes it lost are being replayed
    /// beside the live subscription; the sink is incomplete until the replay caught up.</summary>
    Healing,

    /// <summary>Stopped on an error that retrying does not fix; the others keep running.</summary>
    Failed,

    /// <summary>Connected and healthy, but standing by: on a failover subscription the broker
    /// dispatches to another process's consumer, and this one takes over when that one leaves.</summary>
    Standby,
}

/// <summary>One materializer's health: its state, its last error (a failure, or what degrades it)
/// and, while degraded, since when and in which stage (sink, source, ledger).</summary>
public sealed record MaterializerHealth(string Materializer, MaterializerState State, string? Error)
{
    public DateTimeOffset? DegradedSince { get; init; }

    public string? DegradedStage { get; init; }
}

/// <summary>The telemetry of a run, on System.Diagnostics.Metrics (meter <see cref="MeterName"/>),
/// for any exporter to pick up: per-materializer counters read from each runner's
/// <see cref="MaterializerCounters"/> (so they equal the run summary), histograms recorded per
/// applied batch by <see cref="Measure"/>, each materializer's state, the source time of the newest
/// change it committed, and its backlog per topic (refreshed through <see cref="TopicEnds"/>).
/// <para>Instrument names follow the Prometheus conventions once exported (docs/operations.md,
/// "Metrics"): the exporter appends the unit (<c>s</c> → <c>_seconds</c>) and <c>_total</c> to
/// counters, so the names here carry neither.</para></summary>
public sealed class SyncMetrics : IDisposable
{
    public const string MeterName = "Sync";

    private readonly Meter _meter = new(MeterName);
    private readonly ConcurrentDictionary<string, Tracked> _materializers = new(StringComparer.Ordinal);
    private readonly Histogram<long> _batchSize;
    private readonly Histogram<double> _applyDuration;
    private readonly Histogram<double> _lag;
    private readonly TimeProvider _time;

    public SyncMetrics(TimeProvider? time = null)
    {
        _time = time ?? TimeProvider.System;
        _meter.CreateObservableGauge(
            "source.last_committed_timestamp",
            () => _materializers.Values.Where(m => m.NewestCommitted is not null).Select(m => new Measurement<double>(m.NewestCommitted!.Value.ToUnixTimeMilliseconds() / 1000.0, Tag(m.Name))),
            "s",
            "Source time (the source's ts_ms, else the connector's, else the publish time) of the newest change the materializer committed to its sink, in seconds since the epoch.");
        _meter.CreateObservableGauge(
            "backlog.messages",
            ObserveBacklog,
            "{message}",
            "Messages of the topic after the materializer's committed position, as of the last refresh: a scrape that finds the counts older than 15 s refreshes them in the background and reports the previous ones; a topic whose count the source cannot tell has no sample.");
        Observe("events.received", "Messages read from the source (dead-lettered ones included).", c => c.Read);
        Observe("events.applied", "Upserts written to the sink.", c => c.Applied);
        Observe("events.deleted", "Deletes written to the sink (deletes, tombstones, truncates).", c => c.Deleted);
        Observe("events.stale", "Changes skipped because the sink held newer state for the key (never regress).", c => c.SkippedStale);
        Observe("events.collapsed", "Changes replaced by a newer change of the same key in the same batch.", c => c.Collapsed);
        Observe("events.suppressed", "Changes of erased subjects dropped before the sink.", c => c.Suppressed);
        Observe("events.unavailable", "Upserts with an unavailable (unchanged TOASTed) column that had no stored value to keep, written as null.", c => c.Unavailable);
        Observe("events.dead_lettered", "Messages sent to the dead-letter target.", c => c.DeadLettered);
        Observe("batches", "Batches applied.", c => c.Batches);
        Observe("source.epochs", "Source epochs started: new full snapshots after streaming (failover, restore, new cluster) and declared bumps.", c => c.EpochsStarted);
        Observe("source.reconciled", "Rows deleted because a new source epoch's snapshot did not hold them.", c => c.Reconciled);
        _meter.CreateObservableGauge(
            "source.regressed",
            () => _materializers.Values.Where(m => m.Counters is not null).Select(m => new Measurement<int>(m.Counters!.SourceRegression is null ? 0 : 1, Tag(m.Name))),
            description: "1 while a stream's source orders have fallen far below what was applied, outside a snapshot (the source went back in time), until a new epoch starts.");
        Observe("sink.rollbacks", "Times the sink was found to have gone back in time (its checkpoint behind what was committed, or gone) and a heal started.", c => c.Rollbacks);
        Observe("events.replayed", "Messages read again to bring back what a sink that went back in time lost.", c => c.Replayed);
        _meter.CreateObservableCounter(
            "events.skipped",
            () => _materializers.Values.Where(m => m.Counters is not null).SelectMany(m => Enum.GetValues<Formats.NonRowKind>().Select(kind =>
                new Measurement<long>(m.Counters!.SkippedOf(kind), Tag(m.Name), new("kind", Formats.NonRowMessage.NameOf(kind))))),
            "{event}",
            "Messages that are not row changes (heartbeats, transaction boundaries, logical decoding messages, schema changes), skipped, by kind.");
        _meter.CreateObservableGauge(
            "materializer.up",
            () => _materializers.Values.Select(m => new Measurement<int>(m.State is MaterializerState.Failed ? 0 : 1, Tag(m.Name))),
            description: "1 while the materializer starts, runs, is degraded or finished; 0 once it stopped on a fatal error.");
        // One series per state, 1 for the current one: a label that changed value would leave the
        // old series behind in the exporter.
        _meter.CreateObservableGauge(
            "materializer.state",
            () => _materializers.Values.SelectMany(m => Enum.GetValues<MaterializerState>().Select(state =>
                new Measurement<int>(m.State == state ? 1 : 0, Tag(m.Name), new("state", state.ToString().ToLowerInvariant())))),
            description: "1 for the state the materializer is in (starting, running, degraded, healing, finished, failed), 0 for the others.");
        _meter.CreateObservableGauge(
            "materializer.degraded",
            () => _materializers.Values.Select(m => new Measurement<int>(m.State is MaterializerState.Degraded ? 1 : 0, Tag(m.Name))),
            description: "1 while the materializer retries a transient source or sink error (nothing is dropped), else 0.");
        _meter.CreateObservableGauge(
            "batches.waiting",
            () => _materializers.Values.Where(m => m.Counters is not null).Select(m => new Measurement<int>(m.Counters!.BatchesWaiting, Tag(m.Name))),
            "{batch}",
            "Batches read and decoded ahead, waiting for the sink (at most readAhead).");
        // Read from the record `sync verify` stores with the checkpoint (Verify.LastVerification),
        // as the run last loaded it: at start and at each check for declared epoch bumps.
        _meter.CreateObservableGauge(
            "verify.last_timestamp",
            () => _materializers.Values.Where(m => m.Verified is not null).Select(m => new Measurement<double>(m.Verified!.At.ToUnixTimeSeconds(), Tag(m.Name))),
            "s",
            "When the last `sync verify` of the materializer ended, in seconds since the epoch; no sample before the first.");
        _meter.CreateObservableGauge(
            "verify.keys",
            () => _materializers.Values.Where(m => m.Verified is not null).Select(m => new Measurement<long>(m.Verified!.Keys, Tag(m.Name))),
            "{key}",
            "Keys the last `sync verify` of the materializer compared.");
        _meter.CreateObservableGauge(
            "verify.drift_keys",
            () => _materializers.Values.Where(m => m.Verified is not null).SelectMany(m => Verify.DriftClasses.All.Select(drift =>
                new Measurement<long>(m.Verified!.Drift.GetValueOrDefault(drift), Tag(m.Name), new("class", Verify.DriftClasses.Name(drift))))),
            "{key}",
            "Keys the last `sync verify` of the materializer found drifted (after --repair: left drifted), by class (missing, extra, stale, ahead, different).");
        _batchSize = _meter.CreateHistogram<long>("batch.size", "{event}", "Changes per applied batch, after collapse.");
        _applyDuration = _meter.CreateHistogram<double>("apply.duration", "s", "Time the sink took to apply a batch and its checkpoint.");
        _lag = _meter.CreateHistogram<double>("end_to_end.lag", "s", "Per batch, from the publish time of its oldest change to its commit in the sink.");
    }

    /// <summary>Per materializer: where each of its topics ends and how many messages come after the
    /// given committed positions (<see cref="Topics.ITopicLog.EndsAsync"/>). Null: no backlog gauge.</summary>
    public Func<string, IReadOnlyDictionary<string, StreamPosition>, CancellationToken, ValueTask<IReadOnlyList<Topics.TopicEnd>>>? TopicEnds { get; init; }

    /// <summary>How old the backlog may be before a scrape starts a refresh. A scrape never waits
    /// for the source: it reports the last counts, and a refresh runs beside it.</summary>
    public TimeSpan BacklogRefresh { get; init; } = TimeSpan.FromSeconds(15);

    private IEnumerable<Measurement<long>> ObserveBacklog()
    {
        if (TopicEnds is not { } ends)
        {
            return [];
        }

        var now = _time.GetUtcNow();
        foreach (var tracked in _materializers.Values)
        {
            tracked.RefreshBacklogIfOlderThan(now - BacklogRefresh, now, ends);
        }

        return _materializers.Values.SelectMany(m => m.Backlog.Select(b => new Measurement<long>(b.Value, Tag(m.Name), new("topic", b.Key))));
    }

    private void Observe(string name, string description, Func<MaterializerCounters, long> read) =>
        _meter.CreateObservableCounter(
            name,
            () => _materializers.Values.Where(m => m.Counters is not null).Select(m => new Measurement<long>(read(m.Counters!), Tag(m.Name))),
            "{event}",
            description);

    private static KeyValuePair<string, object?> Tag(string materializer) => new("materializer", materializer);

    /// <summary>A materializer starts.</summary>
    public void Starting(string name) => _materializers[name] = new Tracked(name);

    /// <summary>A materializer's checkpoint as its run loaded it from the sink: the backlog counts
    /// from there before the first batch, which an idle materializer may not commit for hours.</summary>
    public void CheckpointLoaded(string name, IReadOnlyDictionary<string, StreamPosition> stored) =>
        _materializers.GetOrAdd(name, n => new Tracked(n)).Committed(stored);

    /// <summary>A materializer's runner and reader exist: its counters count from now on.</summary>
    public void Running(string name, MaterializerCounters counters, ISourceReader reader)
    {
        var tracked = _materializers.GetOrAdd(name, n => new Tracked(n));
        tracked.Counters = counters;
        tracked.Reader = reader;
        tracked.Ended = null;
    }

    /// <summary>A materializer ended: its source ended, or it failed.</summary>
    public void Ended(string name, Exception? failure)
    {
        var tracked = _materializers.GetOrAdd(name, n => new Tracked(n));
        tracked.Error = failure?.Message;
        tracked.Ended = failure is null ? MaterializerState.Finished : MaterializerState.Failed;
        tracked.Reader = null;
    }

    /// <summary>Every materializer's state, in name order.</summary>
    public IReadOnlyList<MaterializerHealth> Health() =>
        [.. _materializers.Values.OrderBy(m => m.Name, StringComparer.Ordinal).Select(m => m.Health(_time.GetUtcNow()))];

    /// <summary>The sink, recording each batch's size, apply time and end-to-end lag.</summary>
    public ISink Measure(ISink sink) => new MeasuredSink(sink, this);

    public void Dispose() => _meter.Dispose();

    private sealed class Tracked(string name)
    {
        public string Name { get; } = name;

        public MaterializerCounters? Counters { get; set; }

        public ISourceReader? Reader { get; set; }

        public MaterializerState? Ended { get; set; }

        public string? Error { get; set; }

        /// <summary>The source time of the newest change committed, or null before the first.</summary>
        public DateTimeOffset? NewestCommitted { get; private set; }

        /// <summary>Per stream, the position committed last (loaded from the sink at start, then
        /// each batch's checkpoint).</summary>
        private readonly ConcurrentDictionary<string, StreamPosition> _committed = new(StringComparer.Ordinal);

        /// <summary>Per topic, the messages after the committed position, as of the last refresh.</summary>
        public IReadOnlyDictionary<string, long> Backlog { get; private set; } = new Dictionary<string, long>();

        private DateTimeOffset? _backlogRefreshed;
        private int _backlogRefreshing;
        private bool _refreshedWithPositions;

        /// <summary>The last verification recorded in the sink, as last loaded; null before any.</summary>
        public Verify.LastVerification? Verified { get; private set; }

        public void Committed(IReadOnlyDictionary<string, StreamPosition> checkpoint)
        {
            if (Verify.LastVerification.FromCheckpoint(checkpoint) is { } verified)
            {
                Verified = verified;
            }

            foreach (var (stream, position) in checkpoint)
            {
                if (SinkCheckpointGuard.IsStream(stream))
                {
                    _committed[stream] = position;
                }
            }
        }

        public void CommittedSourceTime(DateTimeOffset time)
        {
            if (NewestCommitted is not { } newest || time > newest)
            {
                NewestCommitted = time;
            }
        }

        public void RefreshBacklogIfOlderThan(DateTimeOffset stale, DateTimeOffset now, Func<string, IReadOnlyDictionary<string, StreamPosition>, CancellationToken, ValueTask<IReadOnlyList<Topics.TopicEnd>>> ends)
        {
            // Also refreshed at once when the first committed positions are known (loaded from the
            // sink or committed): a refresh without them counts from the start of each topic.
            var positionsArrived = !_refreshedWithPositions && !_committed.IsEmpty;
            if ((_backlogRefreshed > stale && !positionsArrived) || Ended is not null || Interlocked.Exchange(ref _backlogRefreshing, 1) == 1)
            {
                return;
            }

            _backlogRefreshed = now;
            var committed = new Dictionary<string, StreamPosition>(_committed, StringComparer.Ordinal);
            _refreshedWithPositions = committed.Count > 0;
            _ = Task.Run(async () =>
            {
                try
                {
                    using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
                    var topics = await ends(Name, committed, timeout.Token);
                    Backlog = topics.Where(t => t.Behind is not null).ToDictionary(t => t.Topic, t => t.Behind!.Value, StringComparer.Ordinal);
                }
                catch (Exception e) when (e is not OutOfMemoryException)
                {
                    // The source is unreachable: the materializer is degraded and says so; the
                    // backlog keeps its last counts until a refresh succeeds.
                }
                finally
                {
                    Volatile.Write(ref _backlogRefreshing, 0);
                }
            });
        }

        // When the source was first seen reconnecting (the reader keeps no time of its own).
        private DateTimeOffset? _sourceLostSince;

        public MaterializerState State =>
            Ended ?? (Counters is null ? MaterializerState.Starting
                : Reader is { IsReconnecting: true } || Counters.Degraded is not null ? MaterializerState.Degraded
                : Counters.Healing ? MaterializerState.Healing
                : Reader is { IsStandby: true } ? MaterializerState.Standby
                : MaterializerState.Running);

        public MaterializerHealth Health(DateTimeOffset now)
        {
            var state = State;
            if (state == MaterializerState.Healing)
            {
                _sourceLostSince = null;
                return new MaterializerHealth(Name, state, "the sink went back in time; replaying what it lost");
            }

            if (state != MaterializerState.Degraded)
            {
                _sourceLostSince = null;
                return new MaterializerHealth(Name, state, Error);
            }

            if (Counters?.Degraded is { } sink)
            {
                return new MaterializerHealth(Name, state, sink.Error) { DegradedSince = sink.Since, DegradedStage = sink.Stage };
            }

            _sourceLostSince ??= now;
            return new MaterializerHealth(Name, state, Reader?.ReconnectingBecause ?? "the source connection is lost; reconnecting with backoff") { DegradedSince = _sourceLostSince, DegradedStage = "source" };
        }
    }

    private static DateTimeOffset? SourceTimeOf(ChangeEvent change) =>
        (change.Source?.TsMs ?? change.TsMs) is { } ms ? DateTimeOffset.FromUnixTimeMilliseconds(ms) : change.Origin.PublishTime;

    private sealed class MeasuredSink(ISink inner, SyncMetrics metrics) : DelegatingSink(inner)
    {
        public override async ValueTask<IReadOnlyDictionary<string, StreamPosition>> LoadCheckpointAsync(string materializer, CancellationToken cancellationToken)
        {
            var stored = await Inner.LoadCheckpointAsync(materializer, cancellationToken);
            metrics._materializers.GetOrAdd(materializer, n => new Tracked(n)).Committed(stored);
            return stored;
        }

        public override async ValueTask<ApplyResult> ApplyAsync(SinkBatch batch, CancellationToken cancellationToken)
        {
            var started = Stopwatch.GetTimestamp();
            var result = await Inner.ApplyAsync(batch, cancellationToken);
            var applying = Stopwatch.GetElapsedTime(started);

            DateTimeOffset? newestSource = null;
            DateTimeOffset? oldest = null;
            foreach (var change in batch.Changes)
            {
                if (SourceTimeOf(change) is { } time && (newestSource is null || time > newestSource))
                {
                    newestSource = time;
                }

                if (change.Origin.PublishTime is { } published && (oldest is null || published < oldest))
                {
                    oldest = published;
                }
            }

            // The committed position and source time first: a scrape that sees this batch in the lag
            // histogram then sees it in the last-committed gauge as well, never one without the other.
            var tracked = metrics._materializers.GetOrAdd(batch.Materializer, n => new Tracked(n));
            tracked.Committed(batch.Checkpoint);
            if (newestSource is { } newest)
            {
                tracked.CommittedSourceTime(newest);
            }

            var tag = Tag(batch.Materializer);
            metrics._applyDuration.Record(applying.TotalSeconds, tag);
            metrics._batchSize.Record(batch.Changes.Count, tag);
            if (oldest is { } first)
            {
                metrics._lag.Record(Math.Max(0, (metrics._time.GetUtcNow() - first).TotalSeconds), tag);
            }

            return result;
        }
    }
}
