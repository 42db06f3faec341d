using Microsoft.Extensions.Logging;

namespace Sync.Engine.Runtime;

/// <summary>Source epochs in the materializer loop (<see cref="SourceEpochs"/>): every decoded change
/// gets its stream's epoch order on the reading side, the epoch state is stored with each batch's
/// checkpoint, and a completed snapshot of a new epoch is reconciled on the applying side once the
/// batch that completed it has committed.</summary>
public sealed partial class MaterializerRunner
{
    /// <summary>How often a run reads its checkpoint for a bump declared with <c>sync epoch bump</c>
    /// while it runs (<see cref="SourceEpochs.BumpPrefix"/>), on <see cref="Time"/>. Zero (the default)
    /// reads it before every batch, so the first batch read after the command returned is ordered in the
    /// new epoch: one checkpoint read per batch (a single-row read in each sink, docs/operations.md).</summary>
    public TimeSpan BumpCheckInterval { get; init; } = TimeSpan.Zero;

    /// <summary>Changes are put in the epoch their position lies in, as stored, without moving through
    /// the epochs (<see cref="SourceEpochs.InItsEpoch"/>): for dead letters replayed out of their
    /// stream's order.</summary>
    public bool EpochsFixed { get; init; }

    private DateTimeOffset _bumpsCheckedAt = DateTimeOffset.MinValue;

    // Set once this process learned an epoch too late to apply again all it had applied in the old one.
    private bool _lateForEpoch;

    // Repairs lost with an earlier run, reported and not stored in the sink yet (LostPrefix).
    private readonly List<LostRepair> _lostToStore = [];

    // 1 while a look for a due sweep runs (SweepSharedAsync), and the waits it logged (ReportSweepWaiting).
    private int _sweeping;
    private readonly HashSet<(string Stream, int Epoch, string Instance, StreamPosition Through)> _sweepWaitsReported = [];

    /// <summary>This process's name among the processes of a shared subscription, in the trace each batch
    /// stores of the changes it applied per epoch (<see cref="SourceEpochs.AppliedPrefix"/>): a run restarted
    /// under the same name finds what its crashed predecessor applied and never applied again.</summary>
    public string Instance { get; init; } = SourceEpochs.DefaultInstance;

    /// <summary>At start on a shared subscription: names this process and takes in what an earlier run of it
    /// stored, so that a repair it lost in a crash is reported (SourceEpochs.Shared.cs).</summary>
    private async Task InheritEpochTraceAsync(CancellationToken cancellationToken)
    {
        if (!_reader.SharesStreams || EpochsFixed)
        {
            return;
        }

        var stored = await _sink.LoadCheckpointAsync(_name, cancellationToken);
        lock (Epochs)
        {
            Epochs.Inherit(Instance, stored);
        }

        ReportLostRepairs(Epochs);
        await ReplayLostRepairsAsync(applyLockHeld: false, cancellationToken);
    }

    /// <summary>Reports, loudly and for good, repairs lost with an earlier run of a process: its changes of
    /// a new epoch, applied in the old one and acknowledged, are not delivered again, and may be older than
    /// their keys' state or swept.</summary>
    private void ReportLostRepairs(SourceEpochs epochs)
    {
        IReadOnlyList<LostRepair> lost;
        lock (epochs)
        {
            lost = epochs.TakeLostRepairs();
        }

        foreach (var repair in lost)
        {
            if (repair.From is not null && OpenReplay is not null)
            {
                // Found in this instance's own trace: replayed from the topic (ReplayLostRepairsAsync).
                lock (_lostToReplay)
                {
                    _lostToReplay.Add(repair);
                }

                continue;
            }

            ReportLostRepair(repair, repair.From is null
                ? "a replay of them found it impossible (see that run's log)"
                : "this run cannot replay the topic (a backfill or a shadow build)");
        }
    }

    private void ReportLostRepair(LostRepair repair, string why)
    {
        _lateForEpoch = true;
        Counters.SourceRegressed(
            $"{repair.Stream} entered source epoch {repair.Epoch} while a process of the shared subscription (instance '{Instance}' or another) had applied changes of it in the old epoch, up to {repair.Through}, and it stopped (crash, deploy) before it applied them again, and {why}: those changes are acknowledged and will not be delivered again, so their rows may keep older values or be missing. Rebuild with `sync backfill --materializer {_name} --shadow` (or check with `sync verify`) and restart the processes (docs/operations.md)",
            Time.GetUtcNow());
        LogLostRepair(_logger, _name, repair.Stream, repair.Epoch, repair.Through.ToString(), why);
        lock (_lostToStore)
        {
            _lostToStore.Add(repair);
        }
    }

    /// <summary>Stores the lost repairs found, so that every process and every later run reports them too.</summary>
    private async Task StoreLostRepairsAsync(CancellationToken cancellationToken)
    {
        List<LostRepair> lost;
        lock (_lostToStore)
        {
            lost = [.. _lostToStore];
            _lostToStore.Clear();
        }

        if (lost.Count > 0)
        {
            await _sink.AddCheckpointEntriesAsync(_name, [.. lost.Select(SourceEpochs.LostEntry)], cancellationToken);
        }
    }

    /// <summary>Takes in the bumps declared in the sink since the last look, at most once per
    /// <see cref="BumpCheckInterval"/>, so that the batch about to be prepared (and the epoch state
    /// stored with it) follows the declaration instead of overwriting it.</summary>
    private async Task TakeDeclaredBumpsAsync(CancellationToken cancellationToken)
    {
        var now = Time.GetUtcNow();
        if (EpochsFixed || (BumpCheckInterval > TimeSpan.Zero && now - _bumpsCheckedAt < BumpCheckInterval))
        {
            return;
        }

        _bumpsCheckedAt = now;
        IReadOnlyDictionary<string, StreamPosition> stored;
        try
        {
            stored = await _sink.LoadCheckpointAsync(_name, cancellationToken);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Stopping: the batch in hand is settled by the stop as before; a declaration waits for the next start.
            return;
        }
#pragma warning disable CA1031 // A sink out of reach is retried and reported by the apply; the declaration is read before the next batch.
        catch (Exception)
#pragma warning restore CA1031
        {
            _bumpsCheckedAt = DateTimeOffset.MinValue;
            return;
        }

        SourceEpochRun.TakeDeclarations(Epochs, stored, EpochReporter);
        if (_reader.SharesStreams)
        {
            TakeAgreements(Epochs, stored);
            await StoreLostRepairsAsync(cancellationToken);
        }
    }

    /// <summary>Where this materializer reports its moves through the epochs.</summary>
    private SourceEpochRun.Reporter EpochReporter => _epochReporter ??= new(_logger, _name, Counters, Time, SinkName);

    private SourceEpochRun.Reporter? _epochReporter;

    /// <param name="replay">A heal's replay retraces transitions the live pass already counted and logged.</param>
    private ChangeEvent ApplyEpoch(SourceEpochs epochs, ChangeEvent change, bool replay)
    {
        if (EpochsFixed)
        {
            lock (epochs)
            {
                return epochs.InItsEpoch(change);
            }
        }

        ChangeEvent shifted;
        EpochTransition transition;
        EpochProposal? proposal;
        lock (epochs)
        {
            shifted = epochs.Apply(change, out transition, ordered: !_reader.SharesStreams);
            proposal = epochs.Pending;
        }

        if (transition == EpochTransition.NeedsAgreement && proposal is not null)
        {
            // Rare (once per epoch and process) and on the reading side: the agreement must be stored
            // before the change is ordered, and the batch is being prepared synchronously.
            var agreed = !replay && AgreeAsync(epochs, proposal).AsTask().GetAwaiter().GetResult();
            lock (epochs)
            {
                shifted = agreed ? epochs.Apply(change, out transition, ordered: false) : epochs.Refuse(change, out transition);
            }
        }

        if (!replay)
        {
            SourceEpochRun.Report(epochs, change, shifted, transition, EpochReporter);
        }

        return shifted;
    }

    private static List<(string Stream, StreamEpoch Epoch)> PendingReconciliations(SourceEpochs epochs) => SourceEpochRun.PendingReconciliations(epochs);

    /// <summary>Reconciles, per stream, once the batch that completed its new epoch's snapshot committed
    /// (<see cref="SourceEpochRun.ReconcileAsync"/>).</summary>
    private async Task ReconcileAsync(SourceEpochs epochs, List<(string Stream, StreamEpoch Epoch)> streams, CancellationToken cancellationToken)
    {
        if (EpochsFixed)
        {
            // Out-of-order replays (dead letters) leave the stream's epochs to its run.
            return;
        }

        foreach (var (stream, epoch) in streams)
        {
            await SourceEpochRun.ReconcileAsync(_sink, _target, epochs, stream, epoch, EpochReporter, cancellationToken);
        }
    }

    /// <summary>Stores a proposal for a stream's next epoch unless another process stored one first, and
    /// takes in what the sink holds (SourceEpochs.Shared.cs). False when the sink cannot store it.</summary>
    private async ValueTask<bool> AgreeAsync(SourceEpochs epochs, EpochProposal proposal)
    {
        var stored = await _sink.AddCheckpointEntriesAsync(_name, SourceEpochs.EntriesOf(proposal), CancellationToken.None);
        if (stored is null)
        {
            return false;
        }

        // The whole checkpoint: the agreement, and whatever else the other processes stored since.
        var checkpoint = await _sink.LoadCheckpointAsync(_name, CancellationToken.None);
        TakeAgreements(epochs, checkpoint);
        return true;
    }

    /// <summary>Takes in the epochs agreed by the processes of a shared subscription, and reports a stream
    /// this process had already passed in the old epoch.</summary>
    private void TakeAgreements(SourceEpochs epochs, IReadOnlyDictionary<string, StreamPosition> checkpoint)
    {
        IReadOnlyList<(string Stream, int Epoch)> late;
        lock (epochs)
        {
            late = epochs.TakeAgreements(checkpoint);
        }

        foreach (var (stream, epoch) in late)
        {
            _lateForEpoch = true;
            Counters.SourceRegressed(
                $"{stream} entered source epoch {epoch}, agreed by another process of the shared subscription, after this process had applied more than {SourceEpochs.ReplayWindow} changes past the epoch's start in the old epoch, more than it keeps to apply again: the oldest of them may be older than the epoch's state of their keys. Rebuild with `sync backfill --materializer {_name} --shadow` and restart the processes (docs/operations.md)",
                Time.GetUtcNow());
            LogLateForEpoch(_logger, _name, stream, epoch);
        }

        ReportLostRepairs(epochs);
    }

    /// <summary>Applies again, in the epoch agreed for them, the changes this process applied in the old
    /// epoch before another process stored the agreement (the late-process race on a shared subscription,
    /// SourceEpochs.Shared.cs): each gets its order in the new epoch, above the epoch's start and above its
    /// own earlier write, so the sink's guard keeps it over what the old epoch wrote and over the sweep's
    /// markers, and below every later change of its key in the new epoch. Once applied, the repair stores
    /// that this process applied them again (<see cref="SourceEpochs.RepairedPrefix"/>). Called
    /// after each batch, and by the idle check, which reads the agreements first (<paramref name="readAgreements"/>)
    /// and holds the apply lock already (<paramref name="applyLockHeld"/>).</summary>
    private async Task ApplyEpochRepairsAsync(bool readAgreements, bool applyLockHeld, CancellationToken cancellationToken)
    {
        if (!_reader.SharesStreams || EpochsFixed)
        {
            return;
        }

        // Found by an agreement read on the reading side (before a batch) or by a sweep.
        await ReplayLostRepairsAsync(applyLockHeld, cancellationToken);
        if (readAgreements)
        {
            lock (Epochs)
            {
                if (!Epochs.AwaitsAgreements)
                {
                    return;
                }
            }

            TakeAgreements(Epochs, await _sink.LoadCheckpointAsync(_name, cancellationToken));
            await ReplayLostRepairsAsync(applyLockHeld, cancellationToken);
        }

        IReadOnlyList<EpochRepair> repairs;
        var done = new Dictionary<string, StreamPosition>(StringComparer.Ordinal);
        lock (Epochs)
        {
            repairs = Epochs.TakeRepairs();
            foreach (var repair in repairs)
            {
                if (Epochs.RepairedEntry(repair) is { } entry)
                {
                    done[entry.Key] = entry.Value;
                }
            }
        }

        if (repairs.Count == 0)
        {
            return;
        }

        var changes = new List<ChangeEvent>();
        lock (_prepareLock)
        {
            // The suppression filter decides as it did when the change was first read.
            changes.AddRange(repairs.SelectMany(r => r.Changes).Select(Suppress).OfType<ChangeEvent>());
        }

        // No checkpoint: these messages are acknowledged already, and the positions stored stay as they are.
        // After a batch the apply lock is taken, as a heal's replay may apply beside.
        var batch = new SinkBatch(_name, _target, Collapser.CollapseCounting(changes).Changes, new Dictionary<string, StreamPosition>(StringComparer.Ordinal));
        if (!applyLockHeld)
        {
            await _applyLock.WaitAsync(CancellationToken.None);
        }

        try
        {
            await ApplyWithRetryAsync(async () => await _sink.ApplyAsync(batch, CancellationToken.None), cancellationToken);
        }
        finally
        {
            if (!applyLockHeld)
            {
                _applyLock.Release();
            }
        }

        // Stored as entries of their own, not as the batch's checkpoint: a sink may write a batch's
        // checkpoint whole from what it last read (Elasticsearch), and this batch has no position to guard it.
        // A crash before this write leaves a repair done but unrecorded, which a restart reports as lost: a
        // false alarm, never a silent loss.
        if (done.Count > 0)
        {
            await _sink.AddCheckpointEntriesAsync(_name, [.. done], CancellationToken.None);
        }

        foreach (var repair in repairs)
        {
            LogEpochRepaired(_logger, _name, repair.Stream, repair.Epoch, repair.Changes.Count);
        }

        lock (Epochs)
        {
            if (!_lateForEpoch && !Epochs.Streams.Values.Any(s => s.Has(EpochFlags.Regressed)))
            {
                // A change of the new history ordered in the old epoch may have looked like a fall back in time;
                // a change the window had lost keeps the run degraded (TakeAgreements).
                Counters.SourceRecovered();
            }
        }
    }

    /// <summary>The change as the suppression ledger lets it through: itself, a delete of its key instead
    /// (an erased subject's row, which the sink must not hold), or null (dropped).</summary>
    private ChangeEvent? Suppress(ChangeEvent change) => _suppression.Decide(change) switch
    {
        SuppressionDecision.Drop => null,
        SuppressionDecision.DeleteInstead => SuppressionFilter.AsDelete(change),
        _ => change,
    };

    /// <summary>Reconciliation on a shared subscription (SourceEpochs.Shared.cs): once the subscription's
    /// mark-delete position has reached the end of a new epoch's snapshot, every record of the snapshot
    /// and every change of the old history are in the sink, so the rows below the epoch's start are
    /// deleted, with markers at the start that every change of the new epoch passes. Called after each
    /// acknowledgement, at start and by the idle check; does nothing unless a sweep is due. One look at a
    /// time: a look that finds another under way leaves it to that one and to the next.</summary>
    private async Task SweepSharedAsync(CancellationToken cancellationToken)
    {
        if (!_reader.SharesStreams || EpochsFixed || Interlocked.Exchange(ref _sweeping, 1) == 1)
        {
            return;
        }

        try
        {
            await SweepDueAsync(cancellationToken);
        }
        finally
        {
            Volatile.Write(ref _sweeping, 0);
        }
    }

    private async Task SweepDueAsync(CancellationToken cancellationToken)
    {
        lock (Epochs)
        {
            if (!Epochs.HasSweepsPending())
            {
                return;
            }
        }

        // Another process may have swept, or stored the snapshot's end, meanwhile.
        TakeAgreements(Epochs, await _sink.LoadCheckpointAsync(_name, cancellationToken));
        IReadOnlyList<SharedSweep> due;
        lock (Epochs)
        {
            due = Epochs.SweepsDue();
        }

        var acknowledged = new List<SharedSweep>(due.Count);
        foreach (var sweep in due)
        {
            if (await _reader.AcknowledgedThroughAsync(sweep.Stream, cancellationToken) is { } through && through >= sweep.End)
            {
                acknowledged.Add(sweep);
            }
        }

        if (acknowledged.Count == 0)
        {
            return;
        }

        // Every batch up to each snapshot's end has committed, and its process's trace with it: read after the
        // acknowledgements, the trace shows each process that applied part of an epoch in the old one.
        TakeAgreements(Epochs, await _sink.LoadCheckpointAsync(_name, cancellationToken));
        foreach (var sweep in acknowledged)
        {
            IReadOnlyList<(string Instance, StreamPosition Through)> awaited;
            lock (Epochs)
            {
                awaited = Epochs.AwaitedRepairs(sweep.Stream, sweep.Epoch);
            }

            if (awaited.Count > 0)
            {
                ReportSweepWaiting(sweep, awaited);
                continue;
            }

            var removed = await _sink.ReconcileEpochAsync(_name, _target, sweep.Stream, sweep.Start, cancellationToken);
            if (removed is { } count)
            {
                await _sink.AddCheckpointEntriesAsync(_name, [SourceEpochs.SweptEntry(sweep.Stream, sweep.Epoch, count)], cancellationToken);
            }

            SourceEpochRun.Reconciled(removed, sweep.Stream, sweep.Epoch, EpochReporter);

            lock (Epochs)
            {
                Epochs.Swept(sweep.Stream, sweep.Epoch);
            }
        }
    }

    /// <summary>Logs, once per process and position, that a sweep waits for another process's repair:
    /// short while that process runs (it reads the agreements before every batch and while idle), for good
    /// when it stopped and never comes back under its name, which is why the log says how to end it.</summary>
    private void ReportSweepWaiting(SharedSweep sweep, IReadOnlyList<(string Instance, StreamPosition Through)> awaited)
    {
        foreach (var (instance, through) in awaited)
        {
            if (_sweepWaitsReported.Add((sweep.Stream, sweep.Epoch, instance, through)))
            {
                LogSweepWaiting(_logger, _name, sweep.Stream, sweep.Epoch, instance, through.ToString());
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Materializer}: the reconciliation of {Stream} in source epoch {Epoch} waits for instance '{Instance}', which applied changes of the epoch in the old one, through {Through}, before it learned the epoch and has not applied them again yet; a process that stopped and does not come back under that name holds it: start one with SYNC_INSTANCE={Instance}, which reads that range again from the topic")]
    private static partial void LogSweepWaiting(ILogger logger, string materializer, string stream, int epoch, string instance, string through);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Materializer}: {Stream} entered source epoch {Epoch}, agreed by another process of the shared subscription, after this process had applied {Count} change(s) past the epoch's start in the old epoch; they were applied again in epoch {Epoch}")]
    private static partial void LogEpochRepaired(ILogger logger, string materializer, string stream, int epoch, int count);

    [LoggerMessage(Level = LogLevel.Error, Message = "{Materializer}: degraded, {Stream} entered source epoch {Epoch} after a process of the shared subscription had applied changes of it in the old epoch, up to {Through}, and stopped before it applied them again, and {Why}; they are acknowledged and will not be delivered again. Rebuild with sync backfill --materializer {Materializer} --shadow (or check with sync verify) and restart the processes")]
    private static partial void LogLostRepair(ILogger logger, string materializer, string stream, int epoch, string through, string why);

    [LoggerMessage(Level = LogLevel.Error, Message = "{Materializer}: degraded, {Stream} entered source epoch {Epoch}, agreed by another process of the shared subscription, after this process had applied more changes past the epoch's start in the old epoch than it keeps to apply again; rebuild with sync backfill --materializer {Materializer} --shadow")]
    private static partial void LogLateForEpoch(ILogger logger, string materializer, string stream, int epoch);
}
