using Microsoft.Extensions.Logging;

namespace Sync.Engine.Runtime;

/// <summary>Finding a sink that went back in time, and healing it while the run goes on.
/// <para>Before every batch (and, while the source is idle, every <see cref="RollbackCheckInterval"/>)
/// the sink's checkpoint is read back and compared by <see cref="SinkCheckpointGuard"/>. A rollback
/// starts a heal: a replay through <see cref="OpenReplay"/> from the checkpoint the sink still holds
/// (a position at or before which everything is applied) up to the end of each stream as it is
/// then, beside the live subscription. Never-regress makes every replayed change the sink still
/// holds, and every one the live side applied meanwhile, a no-op. While the heal runs nothing moves
/// the checkpoint (the sink holds a gap above it) and the checkpoint carries
/// <see cref="SinkCheckpointGuard.HealingStream"/>, so that a restart, <c>sync status</c> and the
/// other processes of a shared subscription know; the mark is cleared once the replay caught up.</para></summary>
public sealed partial class MaterializerRunner
{
    private static readonly IReadOnlyDictionary<string, StreamPosition> NoPositions = new Dictionary<string, StreamPosition>();

    /// <summary>How often in a row one batch may find the checkpoint gone back under it before the
    /// materializer stops: each time it is read again and a rollback found heals (the batch then
    /// writes no checkpoint), so only a sink that does not hold what it returns gets that far.</summary>
    private const int MaxCheckpointChanges = 20;

    private readonly SemaphoreSlim _applyLock = new(1, 1);
    private SinkCheckpointGuard? _guard;
    private bool _healing;
    private Task? _heal;
    private HealStart? _healRestart;
    private SourceEpochs? _replayEpochs;
    private Exception? _healFailure;
    private CancellationTokenSource? _failed;
    private DateTimeOffset _lastCheck;
    private CancellationToken _healStop;
    private LagWait? _lagWait;
    private readonly SemaphoreSlim _checkNow = new(0, 1);
    private int _reconnected;

    /// <summary>Opens a replay of the materializer's streams from the given positions (inclusive;
    /// streams not named from their earliest message) up to their end as it is when opened. Null:
    /// the sink is not checked for rollbacks (a backfill, a shadow build, a dead-letter replay).</summary>
    public Func<IReadOnlyDictionary<string, StreamPosition>, ISourceReader>? OpenReplay { get; init; }

    /// <summary>How often an idle materializer reads its sink's checkpoint back; a busy one reads it
    /// before every batch anyway.</summary>
    public TimeSpan RollbackCheckInterval { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>What to do when the sink holds no checkpoint while the subscription has acknowledged
    /// messages (or this run committed some): rebuild from the earliest message, or stop.</summary>
    public bool RebuildWhenEmpty { get; init; }

    /// <summary>The sink's name in the config, for the log and the errors.</summary>
    public string SinkName { get; init; } = "sink";

    /// <summary>How long a materializer of a shared subscription that found the subscription
    /// acknowledged past the sink's checkpoint before writing anything waits for the checkpoint to
    /// reach that position before it takes the gap for a rollback (see <see cref="CheckSinkAsync"/>).
    /// An idle process of the subscription moves its checkpoint up at its idle check, which runs
    /// within two <see cref="RollbackCheckInterval"/>s of its last batch; a third one is margin for
    /// the two processes' checks not lining up.</summary>
    private TimeSpan SharedLagBound => RollbackCheckInterval * 3;

    /// <summary>The sink's checkpoint as it was read when the run started (the one the source resumes
    /// from): on ordered streams the sink must not be found behind it later, even before this run
    /// wrote anything (a Redis restarted from an older snapshot while the run starts).</summary>
    public IReadOnlyDictionary<string, StreamPosition> CheckpointAtStart { get; init; } = NoPositions;

    /// <summary>The sink's conditional checkpoint write never lowers a stored position
    /// (<see cref="IMonotonicCheckpointSink"/>): the condition then guards shared and key-shared
    /// subscriptions too, and a stored position below one read before is a rollback on them as well.</summary>
    public bool SinkNeverLowersCheckpoints { get; init; }

    /// <summary>Whether a checkpoint entry is the position of something this materializer reads now (one
    /// of its topics, a partition of one, or its source's own cursor). The sink keeps checkpoints by
    /// materializer name, so it may also hold positions of topics the materializer read before its
    /// config changed, or that another deployment of the same name on the same sink reads: those
    /// move, go back or go away without this materializer losing anything, so only its own entries
    /// are compared and written under condition. All by default.</summary>
    public Func<string, bool> ReadsEntry { get; init; } = _ => true;

    private SinkCheckpointGuard Guard => _guard ??= NewGuard();

    private SinkCheckpointGuard NewGuard()
    {
        var guard = new SinkCheckpointGuard(_reader.SharesStreams, SinkNeverLowersCheckpoints, ReadsEntry);
        guard.Held(CheckpointAtStart);
        return guard;
    }

    /// <summary>The stored positions of this materializer's own streams (see <see cref="ReadsEntry"/>).</summary>
    private Dictionary<string, StreamPosition> OwnPositions(IReadOnlyDictionary<string, StreamPosition> stored) =>
        SinkCheckpointGuard.PositionsOf(stored, ReadsEntry);

    /// <summary>Runs the loop with the sink watched for rollbacks, and any heal it starts; a heal
    /// still running when the source ends is waited for, one still running at a stop is left for
    /// the next run (its mark stays in the sink).</summary>
    private async Task RunWatchedAsync(Func<CancellationToken, Task> loop, CancellationToken cancellationToken)
    {
        if (OpenReplay is null)
        {
            await loop(cancellationToken);
            return;
        }

        using var failed = new CancellationTokenSource();
        using var live = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, failed.Token);
        using var watcherStop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        using var healStop = CancellationTokenSource.CreateLinkedTokenSource(live.Token);
        _failed = failed;
        _healStop = healStop.Token;
        _lastCheck = Time.GetUtcNow();
        var watching = Task.Run(() => WatchSinkAsync(watcherStop.Token), CancellationToken.None);
        try
        {
            await loop(live.Token);
            if (!cancellationToken.IsCancellationRequested && _heal is { } heal)
            {
                // The source ended (a changelog file): the run is complete only once the heal is.
                await heal;
            }

            if (_healFailure is null)
            {
                // Stopping: a shared subscription's checkpoint moves up to what was acknowledged, so
                // that the next start finds the subscription no further than the sink.
                await _applyLock.WaitAsync(CancellationToken.None);
                try
                {
                    await CatchUpSharedCheckpointAsync(CancellationToken.None);
                }
                catch (Exception e) when (e is not OutOfMemoryException)
                {
                    // Only a cost: the next start replays the batch the checkpoint lags by.
                    LogCheckFailed(_logger, _name, e.Message);
                }
                finally
                {
                    _applyLock.Release();
                }
            }
        }
        finally
        {
            await watcherStop.CancelAsync();
            await watching;
            if (_heal is { } heal)
            {
                // Stopping (or failed): a heal not done stops too, leaving its mark for the next run.
                await healStop.CancelAsync();
                await heal;
            }

            _failed = null;
        }

        if (_healFailure is { } failure)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(failure);
        }
    }

    private Task<ApplyResult> ApplyGuardedAsync(SinkBatch batch, PreparedBatch prepared, CancellationToken cancellationToken) =>
        OpenReplay is null
            ? ApplyWithRetryAsync(async () => await _sink.ApplyAsync(batch, CancellationToken.None), cancellationToken)
            : ApplyWithRetryAsync(() => ApplyCheckedAsync(batch, prepared.Replay), cancellationToken);

    /// <summary>One attempt at a batch: the sink's checkpoint read back and compared first, then the
    /// batch applied with the checkpoint the guard allows (none while a heal runs, none for a replayed
    /// batch, none while a gap between the subscription and the checkpoint is not yet told from a lag).
    /// The checkpoint is written only while the sink still holds at least the one just read
    /// (<see cref="SinkBatch.ExpectedCheckpoint"/>, on ordered streams): a sink restarted from an older snapshot while the
    /// batch was on its way, which the sink's own retries write across, would otherwise get a
    /// checkpoint past the changes it lost, and nothing would be left to find. When it went back, the
    /// checkpoint is read and compared again, which finds that rollback.</summary>
    private async Task<ApplyResult> ApplyCheckedAsync(SinkBatch batch, bool replay)
    {
        await _applyLock.WaitAsync(CancellationToken.None);
        try
        {
            for (var attempt = 1; ; attempt++)
            {
                var checkpoint = new Dictionary<string, StreamPosition>(StringComparer.Ordinal);
                IReadOnlyDictionary<string, StreamPosition>? expected = null;
                if (!replay)
                {
                    var stored = await CheckSinkAsync(batch.Checkpoint.Keys, CancellationToken.None);
                    if (!_healing && _lagWait is null)
                    {
                        var acknowledged = Guard.SharedStreams ? await AcknowledgedThroughAsync(batch.Checkpoint.Keys, CancellationToken.None) : NoPositions;
                        checkpoint = Guard.Next(batch.Checkpoint, stored, acknowledged);
                        expected = Expected(checkpoint, stored);
                    }
                }

                try
                {
                    var result = await _sink.ApplyAsync(batch with { Checkpoint = checkpoint, ExpectedCheckpoint = expected }, CancellationToken.None);
                    Guard.Committed(checkpoint);
                    return result;
                }
                catch (SinkCheckpointChangedException e) when (attempt < MaxCheckpointChanges)
                {
                    LogCheckpointChanged(_logger, _name, SinkName, e.Message);
                }
            }
        }
        finally
        {
            _applyLock.Release();
        }
    }

    /// <summary>The condition a batch's checkpoint is written under: the positions just read. On a
    /// sink that never lowers them, every stream of the checkpoint is named (one not stored yet with
    /// <see cref="StreamPosition.Start"/>), so that the sink keeps the greater position of each.
    /// Null (unconditional) on shared streams of a sink that may lower a position: another process may
    /// write the checkpoint from an observation older than this one's read (see
    /// <see cref="SinkCheckpointGuard"/>), and the condition would fail on that lawful dip and the
    /// read-back that follows would take it for a rollback.</summary>
    private IReadOnlyDictionary<string, StreamPosition>? Expected(
        IReadOnlyDictionary<string, StreamPosition> checkpoint, IReadOnlyDictionary<string, StreamPosition> stored)
    {
        if (!Guard.SinkNeverLowers)
        {
            return Guard.SharedStreams ? null : stored;
        }

        var expected = new Dictionary<string, StreamPosition>(stored, StringComparer.Ordinal);
        foreach (var stream in checkpoint.Keys)
        {
            if (SinkCheckpointGuard.IsStream(stream))
            {
                expected.TryAdd(stream, StreamPosition.Start);
            }
        }

        return expected;
    }

    private async Task<Dictionary<string, StreamPosition>> AcknowledgedThroughAsync(IEnumerable<string> streams, CancellationToken cancellationToken)
    {
        var acknowledged = new Dictionary<string, StreamPosition>(StringComparer.Ordinal);
        foreach (var stream in streams)
        {
            if (await _reader.AcknowledgedThroughAsync(stream, cancellationToken) is { } position)
            {
                acknowledged[stream] = position;
            }
        }

        return acknowledged;
    }

    /// <summary>Reads the sink's checkpoint back and starts (or restarts) a heal when it went back in
    /// time. Called under the apply lock. Returns the stored positions (without the heal mark).</summary>
    /// <param name="streams">The streams of the batch about to be applied (none for an idle check):
    /// while this materializer has written nothing it can compare with, a sink without checkpoint is
    /// checked against the subscription's acknowledgements on them.</param>
    private async Task<Dictionary<string, StreamPosition>> CheckSinkAsync(IEnumerable<string> streams, CancellationToken cancellationToken)
    {
        // Asked before the checkpoint is read: a consumer acknowledges only after the sink committed,
        // so an ordered stream found acknowledged here has its checkpoint in the sink by the time it
        // is read. A shared stream's checkpoint may lag (see LagWait). While a gap waits to be told
        // from a lag, the acknowledgements it was found with are compared again.
        var acknowledged = _healing || Guard.Written.Count > 0
            ? NoPositions
            : _lagWait?.Acknowledged ?? await AcknowledgedThroughAsync(streams, cancellationToken);
        var raw = await _sink.LoadCheckpointAsync(_name, cancellationToken);
        _lastCheck = Time.GetUtcNow();
        var stored = OwnPositions(raw);
        var losses = Guard.FindLosses(stored);
        if (!_healing && losses.Count == 0)
        {
            Guard.Held(stored);
        }

        if (_healing)
        {
            if (losses.Count > 0)
            {
                // Back in time again, below where the running heal started: it starts over from there.
                Counters.AddRollback();
                LogRolledBack(_logger, _name, SinkName, string.Join("; ", losses));
                Guard.Reset(stored);
                await MarkAsync(SinkCheckpointGuard.HealingMark);
                Volatile.Write(ref _healRestart, new HealStart(stored, raw));
            }

            return stored;
        }

        // Before this run wrote anything: a subscription that acknowledged past the sink's checkpoint
        // delivers those messages no more (the sink was restored, or lost writes, while no run watched).
        // Ordered subscriptions are rewound at start where the source can (adminUrl); this covers the
        // rest, shared and key-shared ones included.
        var passed = acknowledged.Where(a => stored.Count > 0 && (!stored.TryGetValue(a.Key, out var held) || a.Value > held)).ToList();
        if (passed.Count > 0 && losses.Count == 0 && Guard.SharedStreams && !SinkCheckpointGuard.MarksHealing(raw) && WaitsForLag(acknowledged))
        {
            return stored;
        }

        _lagWait = null;
        if (passed.Count > 0 && losses.Count == 0)
        {
            losses = [.. passed.Select(a => new SinkCheckpointGuard.Loss(a.Key, stored.TryGetValue(a.Key, out var held) ? held : null, a.Value))];
        }

        if (losses.Count > 0 || (stored.Count == 0 && acknowledged.Count > 0))
        {
            if (stored.Count == 0)
            {
                var why = losses.Count > 0
                    ? $"this run had committed {string.Join(", ", losses.Select(l => $"{l.Stream} at {l.Floor}"))}"
                    : $"the subscription has acknowledged {string.Join(", ", acknowledged.Select(a => $"{a.Key} through {a.Value}"))}";
                if (!RebuildWhenEmpty)
                {
                    Counters.AddRollback();
                    throw new SinkEmptiedException(_name, SinkName, why);
                }

                LogEmptied(_logger, _name, SinkName, why);
            }
            else
            {
                LogRolledBack(_logger, _name, SinkName, string.Join("; ", losses));
            }

            await BeginHealAsync(new HealStart(stored, raw));
        }
        else if (SinkCheckpointGuard.MarksHealing(raw))
        {
            // Another process of a shared subscription found the rollback, or a run stopped before its
            // heal caught up: this one heals too (replays do not fight: nothing they write regresses,
            // and no heal moves the checkpoint).
            LogHealMarked(_logger, _name, SinkName);
            await BeginHealAsync(new HealStart(stored, raw));
        }

        return stored;
    }

    /// <summary>A shared stream's checkpoint is the mark-delete position its writer saw before its batch
    /// was acknowledged, so while another process of the subscription is busy the checkpoint lags one
    /// of its batches behind what the subscription acknowledged: a process that joins then finds the
    /// subscription past the checkpoint, as it would after a rollback while no run watched. The
    /// running processes tell the two apart: they write the lagging position up with their next batch,
    /// or at their idle check (<see cref="CatchUpSharedCheckpointAsync"/>), and one that finds a
    /// rollback marks the checkpoint healing. So the joining process waits: its batches are applied
    /// without a checkpoint (a checkpoint written would hide a lost range for good), and the checkpoint
    /// is compared again before each batch and at each idle check until it reached what was
    /// acknowledged (a lag: the checkpoint moves on), a heal mark appears (healed as marked), or
    /// <see cref="SharedLagBound"/> passed with the checkpoint still behind (nobody moves it: the sink
    /// went back in time; healed from the checkpoint, below which everything is applied, so even a
    /// lag taken for a rollback costs only a replay).</summary>
    /// <returns>True while waiting goes on.</returns>
    private bool WaitsForLag(IReadOnlyDictionary<string, StreamPosition> acknowledged)
    {
        var now = Time.GetUtcNow();
        if (_lagWait is null)
        {
            _lagWait = new LagWait(acknowledged, now);
            LogLagWait(_logger, _name, SinkName, string.Join(", ", acknowledged.Select(a => $"{a.Key} through {a.Value}")), SharedLagBound);
        }

        return now - _lagWait.Since < SharedLagBound;
    }

    /// <summary>Shared streams: a batch writes the mark-delete position as it was before the batch was
    /// acknowledged, so an idle materializer's checkpoint would stay one batch behind; the idle check
    /// moves it up to the subscription's position. Called under the apply lock.</summary>
    private async Task CatchUpSharedCheckpointAsync(CancellationToken cancellationToken)
    {
        if (!Guard.SharedStreams || _healing || Guard.Written.Count == 0)
        {
            return;
        }

        var streams = Guard.Written.Keys.ToList();
        var acknowledged = await AcknowledgedThroughAsync(streams, cancellationToken);
        var stored = OwnPositions(await _sink.LoadCheckpointAsync(_name, cancellationToken));
        var next = Guard.Next(streams.ToDictionary(s => s, _ => StreamPosition.Start, StringComparer.Ordinal), stored, acknowledged);
        if (next.Any(n => !stored.TryGetValue(n.Key, out var held) || n.Value > held))
        {
            try
            {
                await _sink.ApplyAsync(new SinkBatch(_name, _target, [], next) { ExpectedCheckpoint = Guard.SinkNeverLowers ? Expected(next, stored) : null }, CancellationToken.None);
                Guard.Committed(next);
            }
            catch (SinkCheckpointChangedException e)
            {
                // The sink went back since it was read just above: the read-back finds by how much.
                LogCheckpointChanged(_logger, _name, SinkName, e.Message);
                await CheckSinkAsync([], cancellationToken);
            }
        }
    }

    private async Task BeginHealAsync(HealStart start)
    {
        if (OpenReplay is null)
        {
            return;
        }

        Guard.Reset(start.Positions);
        _lagWait = null;
        _healing = true;
        // Healing before counted: whoever sees the count sees the heal too.
        Counters.SetHealing(true);
        Counters.AddRollback();
        await MarkAsync(SinkCheckpointGuard.HealingMark);
        var stop = _healStop;
        _heal = Task.Run(() => HealAsync(start, stop), CancellationToken.None);
    }

    /// <summary>Writes the heal mark alone (an empty batch, so every sink stores it as it stores checkpoints).</summary>
    private async Task MarkAsync(StreamPosition mark) =>
        await _sink.ApplyAsync(
            new SinkBatch(_name, _target, [], new Dictionary<string, StreamPosition>(StringComparer.Ordinal) { [SinkCheckpointGuard.HealingStream] = mark }),
            CancellationToken.None);

    private static Dictionary<string, StreamPosition> ReplayStarts(IReadOnlyDictionary<string, StreamPosition> stored) =>
        stored.Where(s => s.Value.Ledger >= 0 && s.Value.Entry >= 0).ToDictionary(s => s.Key, s => s.Value, StringComparer.Ordinal);

    private async Task HealAsync(HealStart from, CancellationToken cancellationToken)
    {
        var replayedBefore = Counters.Replayed;
        try
        {
            while (true)
            {
                var starts = ReplayStarts(from.Positions);
                // The replay orders what it reads by the source epochs as the sink stored them with
                // its checkpoint, not by the live ones: the state is a function of the stream's
                // history, so the replay retraces the epochs it crosses (and their reconciliations)
                // exactly as the live pass did.
                _replayEpochs = SourceEpochs.FromCheckpoint(from.Stored);
                LogHealing(_logger, _name, starts.Count == 0 ? "the earliest message" : string.Join(", ", starts.Select(s => $"{s.Key} at {s.Value}")));
                var restarted = false;
                await using (var replay = OpenReplay!(starts))
                {
                    while (true)
                    {
                        if (Interlocked.Exchange(ref _healRestart, null) is { } again)
                        {
                            from = again;
                            restarted = true;
                            break;
                        }

                        var batch = await ReadAndPrepareAsync(replay, replay: true, cancellationToken);
                        if (batch is null)
                        {
                            break;
                        }

                        await ApplyAsync(batch, readAhead: false, cancellationToken);
                    }
                }

                cancellationToken.ThrowIfCancellationRequested();
                if (restarted)
                {
                    continue;
                }

                await _applyLock.WaitAsync(cancellationToken);
                try
                {
                    if (Interlocked.Exchange(ref _healRestart, null) is { } late)
                    {
                        from = late;
                        continue;
                    }

                    await MarkAsync(SinkCheckpointGuard.HealedMark);
                    _healing = false;
                    Counters.SetHealing(false);
                    LogHealed(_logger, _name, SinkName, Counters.Replayed - replayedBefore);
                    return;
                }
                finally
                {
                    _applyLock.Release();
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            LogHealInterrupted(_logger, _name);
        }
        catch (Exception e)
        {
            _healFailure = e;
            if (_failed is { } failed)
            {
                await failed.CancelAsync();
            }
        }
    }

    /// <summary>The sink's connection came back after it was lost (<see cref="IReconnectingSink"/>):
    /// the store may have restarted from an older copy, so the checkpoint is read back now, not at
    /// the next batch or periodic check.</summary>
    public void SinkReconnected()
    {
        Volatile.Write(ref _reconnected, 1);
        try
        {
            _checkNow.Release();
        }
        catch (SemaphoreFullException)
        {
            // A check is already due.
        }
    }

    /// <summary>While the source is idle no batch reads the checkpoint back: this does, every
    /// <see cref="RollbackCheckInterval"/> (on <see cref="Time"/>), and at once after the sink
    /// reconnected (<see cref="SinkReconnected"/>).</summary>
    private async Task WatchSinkAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                using (var waiting = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
                {
                    var interval = Task.Delay(RollbackCheckInterval, Time, waiting.Token);
                    var reconnect = _checkNow.WaitAsync(waiting.Token);
                    await Task.WhenAny(interval, reconnect);
                    // The other one ends cancelled, which nothing needs to observe; a wake-up taken
                    // here and a later one are told apart by the flag, not by the semaphore.
                    await waiting.CancelAsync();
                    cancellationToken.ThrowIfCancellationRequested();
                }

                if (Interlocked.Exchange(ref _reconnected, 0) == 0 && Time.GetUtcNow() - _lastCheck < RollbackCheckInterval)
                {
                    continue;
                }

                await _applyLock.WaitAsync(cancellationToken);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }

            try
            {
                await CheckSinkAsync([], cancellationToken);
                await CatchUpSharedCheckpointAsync(cancellationToken);
                await ApplyEpochRepairsAsync(readAgreements: true, applyLockHeld: true, cancellationToken);
                // A sweep that waited for a process's repair runs once it is stored, with no message to wake it.
                await SweepSharedAsync(cancellationToken);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is ITransientSinkFailure)
            {
                // The next batch, or the next check, reads it again.
                LogCheckFailed(_logger, _name, e.Message);
            }
            catch (Exception e)
            {
                _healFailure = e;
                if (_failed is { } failed)
                {
                    await failed.CancelAsync();
                }

                return;
            }
            finally
            {
                _applyLock.Release();
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Materializer}: sink {Sink} went back in time ({Losses}); replaying what it lost while the live subscription goes on")]
    private static partial void LogRolledBack(ILogger logger, string materializer, string sink, string losses);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Materializer}: sink {Sink} lost everything of this materializer (no checkpoint, while {Why}); rebuilding from the earliest message (onEmptySink: rebuild)")]
    private static partial void LogEmptied(ILogger logger, string materializer, string sink, string why);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Materializer}: the checkpoint in sink {Sink} marks a heal that has not caught up (another process's, or a run stopped during it); healing from the checkpoint")]
    private static partial void LogHealMarked(ILogger logger, string materializer, string sink);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Materializer}: the subscription has acknowledged past the checkpoint in sink {Sink} ({Acknowledged}); waiting up to {Bound} for the other processes of the subscription to write it up before taking it for a rollback")]
    private static partial void LogLagWait(ILogger logger, string materializer, string sink, string acknowledged, TimeSpan bound);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Materializer}: healing: replaying from {From} up to the present")]
    private static partial void LogHealing(ILogger logger, string materializer, string from);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Materializer}: healed: sink {Sink} caught up after {Replayed} messages replayed; the checkpoint moves on again")]
    private static partial void LogHealed(ILogger logger, string materializer, string sink, long replayed);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Materializer}: stopping before the heal caught up; the sink keeps its mark and the next run heals from its checkpoint")]
    private static partial void LogHealInterrupted(ILogger logger, string materializer);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Materializer}: sink {Sink} did not take the batch's checkpoint ({Reason}); reading it back again")]
    private static partial void LogCheckpointChanged(ILogger logger, string materializer, string sink, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "{Materializer}: reading the sink's checkpoint back failed: {Reason}; tried again later")]
    private static partial void LogCheckFailed(ILogger logger, string materializer, string reason);

    /// <summary>Where a heal replays from: the positions the sink still holds, and its stored
    /// checkpoint as read (with the source epoch state that goes with those positions).</summary>
    private sealed record HealStart(Dictionary<string, StreamPosition> Positions, IReadOnlyDictionary<string, StreamPosition> Stored);

    /// <summary>A gap between a shared subscription and the sink's checkpoint not yet told from a lag:
    /// the acknowledgements it was found with, and since when.</summary>
    private sealed record LagWait(IReadOnlyDictionary<string, StreamPosition> Acknowledged, DateTimeOffset Since);
}
