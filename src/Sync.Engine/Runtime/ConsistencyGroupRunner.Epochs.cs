namespace Sync.Engine.Runtime;

/// <summary>Source epochs in a consistency group (<see cref="SourceEpochs"/>): each member orders its
/// changes in their epochs as a lone materializer does, on the reading side, before the transaction
/// assembler holds them (a group reads in order in one process: ConfigLoader refuses shared and
/// key-shared subscriptions for groups). Each member's epoch state goes into the same sink transaction
/// as its checkpoint. A new epoch's snapshot is reconciled once the member's checkpoint of the stream
/// is past the record that completed it, in a sink transaction of its own right after the group's
/// transaction that got it there (docs/architecture.md "Consistency groups and source epochs").</summary>
public sealed partial class ConsistencyGroupRunner
{
    /// <summary>Per member, the epoch state the sink holds (<see cref="SourceEpochs.FromCheckpoint"/>),
    /// or an empty one for a backfill from the first message; a member not named starts empty.</summary>
    public IReadOnlyDictionary<string, SourceEpochs> Epochs { get; init; } = new Dictionary<string, SourceEpochs>(StringComparer.Ordinal);

    /// <summary>How often the group reads its members' checkpoints for a bump declared with
    /// <c>sync epoch bump</c> while it runs. Zero (the default) reads them before every batch read,
    /// one single-row read per member, so the first changes read after the command returned are
    /// ordered in the new epoch.</summary>
    public TimeSpan BumpCheckInterval { get; init; } = TimeSpan.Zero;

    private readonly Dictionary<string, SourceEpochs> _epochs = new(StringComparer.Ordinal);

    // Per member and stream: the position of the last change ordered, stored as SourceEpochs.ReadPrefix
    // entries, since the state may run ahead of the checkpoint while transactions are held.
    private readonly Dictionary<string, Dictionary<string, StreamPosition>> _ordered = new(StringComparer.Ordinal);

    // Per member and stream: the position the member's checkpoint must reach (everything of the stream up
    // to it applied, with the record that completed the new epoch's snapshot) before the reconciliation.
    private readonly Dictionary<string, Dictionary<string, StreamPosition>> _reconcileAfter = new(StringComparer.Ordinal);

    private readonly Dictionary<string, SourceEpochRun.Reporter> _reporters = new(StringComparer.Ordinal);

    private DateTimeOffset _bumpsCheckedAt = DateTimeOffset.MinValue;

    private SourceEpochs EpochsOf(GroupMember member)
    {
        if (!_epochs.TryGetValue(member.Name, out var epochs))
        {
            _epochs[member.Name] = epochs = Epochs.TryGetValue(member.Name, out var stored) ? stored : new SourceEpochs();
        }

        return epochs;
    }

    private SourceEpochRun.Reporter ReporterOf(GroupMember member)
    {
        if (!_reporters.TryGetValue(member.Name, out var reporter))
        {
            _reporters[member.Name] = reporter = new SourceEpochRun.Reporter(_logger, member.Name, member.Counters, _time, _sink.Name);
        }

        return reporter;
    }

    /// <summary>At start: a reconciliation an earlier run left pending (it stopped between the group's
    /// transaction and the reconciliation's) is due once the stream's checkpoint is past every change
    /// that run had ordered.</summary>
    private async Task ResumeEpochsAsync()
    {
        foreach (var member in _members)
        {
            var epochs = EpochsOf(member);
            foreach (var (stream, _) in SourceEpochRun.PendingReconciliations(epochs))
            {
                ReconcileAfter(member, stream, epochs.StoredThrough(stream) ?? StreamPosition.Start);
            }
        }

        await ReconcileDueAsync(CancellationToken.None);
    }

    /// <summary>The change in its stream's epoch, with the epoch's moves reported (a regression makes the
    /// member degraded until a new epoch starts).</summary>
    private ChangeEvent InEpoch(GroupMember member, ChangeEvent change)
    {
        var epochs = EpochsOf(member);
        var shifted = SourceEpochRun.Apply(epochs, change, ReporterOf(member), out var transition);
        if (change.Source?.Lsn is not null)
        {
            Ordered(member)[change.Origin.Topic] = change.Origin.Position;
        }

        if (transition == EpochTransition.SnapshotCompleted || (transition != EpochTransition.None && epochs.Of(change.Origin.Topic).Has(EpochFlags.ReconcilePending)))
        {
            ReconcileAfter(member, change.Origin.Topic, change.Origin.Position);
        }

        return shifted;
    }

    private void ReconcileAfter(GroupMember member, string stream, StreamPosition position)
    {
        if (!_reconcileAfter.TryGetValue(member.Name, out var due))
        {
            _reconcileAfter[member.Name] = due = new Dictionary<string, StreamPosition>(StringComparer.Ordinal);
        }

        if (!due.TryGetValue(stream, out var after) || after < position)
        {
            due[stream] = position;
        }
    }

    private Dictionary<string, StreamPosition> Ordered(GroupMember member)
    {
        if (!_ordered.TryGetValue(member.Name, out var ordered))
        {
            _ordered[member.Name] = ordered = new Dictionary<string, StreamPosition>(StringComparer.Ordinal);
        }

        return ordered;
    }

    /// <summary>The member's checkpoint with its epoch state added, written in the group's sink transaction.</summary>
    private Dictionary<string, StreamPosition> WithEpochState(GroupMember member, Dictionary<string, StreamPosition> checkpoint)
    {
        var epochs = EpochsOf(member);
        if (epochs.Streams.Count == 0)
        {
            return checkpoint;
        }

        var withState = new Dictionary<string, StreamPosition>(checkpoint, StringComparer.Ordinal);
        lock (epochs)
        {
            epochs.WriteTo(withState);
        }

        foreach (var (stream, position) in Ordered(member))
        {
            withState[SourceEpochs.ReadPrefix + stream] = position;
        }

        return withState;
    }

    /// <summary>Reconciles each stream whose new epoch's snapshot is applied: the member's checkpoint of the
    /// stream is at or past the record that completed it, so that record and everything the stream held
    /// before it are committed. In a sink transaction of its own, after the group's: the deletes take rows
    /// out that exist in no state of the new source history (and mark them deleted at the epoch's start, so
    /// no old change held back can bring them back); the done flag goes with the member's next checkpoint,
    /// and a crash before that repeats the reconciliation, which deletes nothing more.</summary>
    private async Task ReconcileDueAsync(CancellationToken cancellationToken)
    {
        foreach (var member in _members)
        {
            if (!_reconcileAfter.TryGetValue(member.Name, out var due) || due.Count == 0)
            {
                continue;
            }

            var epochs = EpochsOf(member);
            var stored = Stored(member.Name);
            foreach (var (stream, epoch) in SourceEpochRun.PendingReconciliations(epochs))
            {
                if (due.TryGetValue(stream, out var after) && stored.TryGetValue(stream, out var through) && through >= after)
                {
                    await SourceEpochRun.ReconcileAsync(_sink, member.Target, epochs, stream, epoch, ReporterOf(member), cancellationToken);
                    due.Remove(stream);
                }
            }
        }
    }

    /// <summary>Takes in the bumps declared for any member since the last look, at most once per
    /// <see cref="BumpCheckInterval"/>, so that the changes about to be ordered (and the epoch state stored
    /// with them) follow the declaration instead of overwriting it.</summary>
    private async Task TakeDeclaredBumpsAsync(CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow();
        if (BumpCheckInterval > TimeSpan.Zero && now - _bumpsCheckedAt < BumpCheckInterval)
        {
            return;
        }

        _bumpsCheckedAt = now;
        foreach (var member in _members)
        {
            IReadOnlyDictionary<string, StreamPosition> stored;
            try
            {
                stored = await _sink.LoadCheckpointAsync(member.Name, cancellationToken);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                // Stopping: a declaration waits for the next start, which reads it with the checkpoint.
                return;
            }

            SourceEpochRun.TakeDeclarations(EpochsOf(member), stored, ReporterOf(member));
        }
    }
}
