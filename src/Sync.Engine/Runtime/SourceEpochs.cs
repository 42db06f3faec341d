namespace Sync.Engine.Runtime;

/// <summary>
/// Source epochs: never-regress compares source orders (PostgreSQL LSNs, packed MySQL or SQL Server
/// coordinates), which hold only while the source database lives on one line of history. A failover to
/// an asynchronous replica, a restore or a move to a new cluster sends the orders back, and a new full
/// snapshot of a stream that was streaming is how Debezium recovers from each. Such a snapshot starts a
/// new epoch of the stream: every order of the epoch gets an offset that puts it above every order of
/// the earlier epochs (<c>offset = highest order seen + 1 + 2^30 - first order of the epoch</c>, never
/// lower than the offset before). The sinks then store and compare the offset order as they always did, so
/// every guard (PostgreSQL, SQLite, Redis, the Elasticsearch external version) follows the epoch
/// without a column or a bit of its own, and the erasure marker (<c>long.MaxValue</c>) stays above
/// every epoch.
/// <para>The state is a function of the stream's history alone (its messages in order), so a backfill
/// from the first message replays the epochs in order and ends in the newest epoch's state; it is
/// stored in the sink with the checkpoint, in the same transaction, as entries named
/// <see cref="StatePrefix"/> + stream, so a restart continues it.</para>
/// <para>Snapshot markers, from Debezium's <c>SnapshotRecord</c> (debezium/debezium,
/// debezium-core/src/main/java/io/debezium/connector/SnapshotRecord.java, written lower case into
/// <c>source.snapshot</c>): 1.x writes <c>true</c>, <c>last</c>, <c>false</c> (and a boolean in
/// the oldest versions); 2.x adds <c>first</c>, <c>first_in_data_collection</c>,
/// <c>last_in_data_collection</c>; incremental snapshot chunks are <c>incremental</c>. A full
/// snapshot record is any of true/first/first_in_data_collection/last_in_data_collection/last; an
/// incremental snapshot runs beside streaming and never starts an epoch.</para>
/// </summary>
public sealed partial class SourceEpochs
{
    /// <summary>Checkpoint entries named <c>#epoch/</c> + stream hold a stream's epoch state
    /// (ledger = offset, entry = highest order, batch index = epoch and flags).</summary>
    public const string StatePrefix = "#epoch/";

    /// <summary>Checkpoint entries named <c>#epoch-start/</c> + stream hold the epoch's first order
    /// and the last declared bump taken into effect.</summary>
    public const string StartPrefix = "#epoch-start/";

    /// <summary>Checkpoint entries named <c>#epoch-low/</c> + stream hold the stream's
    /// <see cref="StreamEpoch.Floor"/> (ledger) and <see cref="StreamEpoch.EpochLow"/> (entry).</summary>
    public const string LowPrefix = "#epoch-low/";

    /// <summary>Checkpoint entries named <c>#epoch-at/</c> + offset + <c>/</c> + stream hold the stream
    /// position of the first message of each epoch (<see cref="MaxHistory"/> most recent), so that a change
    /// read again out of the stream's order (a backfill from an earlier position, a dead letter) is ordered
    /// in its own epoch (<see cref="InItsEpoch"/>).</summary>
    public const string HistoryPrefix = "#epoch-at/";

    /// <summary>Checkpoint entries named <c>#epoch-read/</c> + stream hold the position of the last change
    /// of the stream that moved the stored state, where that is past the stream's checkpoint: a consistency
    /// group orders a change when it reads it and applies it once its transaction is whole, so the state it
    /// stores may be ahead of the checkpoint. A change at or before it, read again after a restart, is
    /// ordered in its own epoch (<see cref="InItsEpoch"/>) instead of moving the state a second time.</summary>
    public const string ReadPrefix = "#epoch-read/";

    /// <summary>How many epoch starts per stream are kept. A change older than the oldest one kept is
    /// ordered with offset 0: older than it really was, which can only make it stale, never bring it back.</summary>
    public const int MaxHistory = 16;

    /// <summary>Checkpoint entries named <c>#epoch-bump/</c> + stream hold the last bump declared with
    /// <c>sync epoch bump</c> (ledger = its id, rising). Only the command writes them and the run only
    /// reads them, so a running materializer that stores its own epoch state never overwrites a
    /// declaration: it takes the declaration in (<see cref="TakeDeclarations"/>) when it reads the entry.</summary>
    public const string BumpPrefix = "#epoch-bump/";

    /// <summary>How far below the highest order seen a change outside a snapshot may fall before the
    /// stream counts as gone back in time: 2^30, 1 GiB of PostgreSQL WAL. Changes of a transaction that
    /// committed after others carry lower LSNs than theirs (Debezium streams at commit), so a small drop
    /// is ordinary; a drop past this is a restore or a new cluster.</summary>
    public const long RegressionTolerance = 1L << 30;

    private readonly Dictionary<string, StreamEpoch> _streams = new(StringComparer.Ordinal);

    // Per stream: where each epoch began and its offset, oldest first.
    private readonly Dictionary<string, List<(StreamPosition From, long Offset)>> _history = new(StringComparer.Ordinal);

    // Per stream: the position the loaded state was stored with. A change at or before it was ordered
    // already: it is read again (a backfill from an earlier position) and ordered in its own epoch.
    private readonly Dictionary<string, StreamPosition> _storedThrough = new(StringComparer.Ordinal);

    public IReadOnlyDictionary<string, StreamEpoch> Streams => _streams;

    /// <summary>Whether a checkpoint entry is epoch state rather than a stream's position.</summary>
    public static bool IsEpochEntry(string stream) =>
        stream.StartsWith(StatePrefix, StringComparison.Ordinal) || stream.StartsWith(StartPrefix, StringComparison.Ordinal)
        || stream.StartsWith(BumpPrefix, StringComparison.Ordinal) || stream.StartsWith(LowPrefix, StringComparison.Ordinal)
        || stream.StartsWith(HistoryPrefix, StringComparison.Ordinal) || stream.StartsWith(ReadPrefix, StringComparison.Ordinal) || IsSharedEntry(stream);

    /// <summary>The epoch state stored in a checkpoint.</summary>
    public static SourceEpochs FromCheckpoint(IReadOnlyDictionary<string, StreamPosition> checkpoint)
    {
        ArgumentNullException.ThrowIfNull(checkpoint);
        var epochs = new SourceEpochs();
        foreach (var (name, state) in checkpoint)
        {
            if (name.StartsWith(StatePrefix, StringComparison.Ordinal))
            {
                var stream = name[StatePrefix.Length..];
                epochs._streams[stream] = StreamEpoch.FromPositions(
                    state,
                    checkpoint.TryGetValue(StartPrefix + stream, out var start) ? start : null,
                    checkpoint.TryGetValue(LowPrefix + stream, out var low) ? low : null);
            }
            else if (name.StartsWith(HistoryPrefix, StringComparison.Ordinal)
                && name.IndexOf('/', HistoryPrefix.Length) is var slash and > 0
                && long.TryParse(name.AsSpan(HistoryPrefix.Length, slash - HistoryPrefix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out var offset))
            {
                epochs.HistoryOf(name[(slash + 1)..]).Add((state, offset));
            }
            else if (SinkCheckpointGuard.IsStream(name))
            {
                epochs._storedThrough[name] = state;
            }
        }

        foreach (var (name, read) in checkpoint)
        {
            if (name.StartsWith(ReadPrefix, StringComparison.Ordinal)
                && (!epochs._storedThrough.TryGetValue(name[ReadPrefix.Length..], out var through) || through < read))
            {
                epochs._storedThrough[name[ReadPrefix.Length..]] = read;
            }
        }

        foreach (var history in epochs._history.Values)
        {
            history.Sort((a, b) => a.From.CompareTo(b.From));
            if (history.Count > MaxHistory)
            {
                history.RemoveRange(0, history.Count - MaxHistory);
            }
        }

        epochs.TakeDeclarations(checkpoint);
        epochs.TakeAgreements(checkpoint);
        return epochs;
    }

    /// <summary>The position at or before which the stream's changes were ordered already when the state
    /// was loaded (its checkpoint, or <see cref="ReadPrefix"/>'s entry); null when none was stored.</summary>
    public StreamPosition? StoredThrough(string stream) => _storedThrough.TryGetValue(stream, out var through) ? through : null;

    /// <summary>Takes in the bumps declared in a stored checkpoint (<see cref="BumpPrefix"/>) that this
    /// state has not taken yet: each such stream starts a new epoch at its next change. Returns those streams.</summary>
    public IReadOnlyList<string> TakeDeclarations(IReadOnlyDictionary<string, StreamPosition> checkpoint)
    {
        ArgumentNullException.ThrowIfNull(checkpoint);
        var declared = new List<string>();
        foreach (var (name, bump) in checkpoint)
        {
            if (name.StartsWith(BumpPrefix, StringComparison.Ordinal))
            {
                var stream = name[BumpPrefix.Length..];
                if (bump.Ledger > Of(stream).Bump)
                {
                    _streams[stream] = Of(stream).With(EpochFlags.BumpDeclared, true) with { Bump = bump.Ledger };
                    declared.Add(stream);
                }
            }
        }

        return declared;
    }

    /// <summary>The id of the next declaration for a stream, above every one stored or taken.</summary>
    public static long NextBumpId(IReadOnlyDictionary<string, StreamPosition> checkpoint, string stream, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(checkpoint);
        var stored = checkpoint.TryGetValue(BumpPrefix + stream, out var bump) ? bump.Ledger : 0;
        var taken = FromCheckpoint(checkpoint).Of(stream).Bump;
        return Math.Max(Math.Max(stored, taken) + 1, now.ToUnixTimeMilliseconds());
    }

    /// <summary>The change with its order in the epoch its position lies in, by the epoch starts stored
    /// (<see cref="HistoryPrefix"/>), with no move through the epochs (no snapshot starts one here, no
    /// regression is noted): for changes applied again out of the stream's order, such as dead letters
    /// replayed. A change of an earlier epoch compares as it did in that epoch, so it cannot overwrite what
    /// a later epoch wrote. A stream whose state predates the epoch starts uses its current epoch. Null
    /// order past the 62 bits.</summary>
    public ChangeEvent InItsEpoch(ChangeEvent change)
    {
        ArgumentNullException.ThrowIfNull(change);
        if (change.Source?.Lsn is not { } order)
        {
            return change;
        }

        var offset = OffsetAt(change.Origin.Topic, change.Origin.Position);
        return offset == 0 ? change : change.WithLsn(Shift(order, offset));
    }

    /// <summary>The offset of the epoch that <paramref name="position"/> of <paramref name="stream"/> lies in.</summary>
    private long OffsetAt(string stream, StreamPosition position)
    {
        var state = Of(stream);
        if (!_history.TryGetValue(stream, out var history) || history.Count == 0)
        {
            return state.Epoch == 0 ? 0 : state.Offset;
        }

        for (var i = history.Count - 1; i >= 0; i--)
        {
            if (history[i].From <= position)
            {
                return history[i].Offset;
            }
        }

        return 0;
    }

    private List<(StreamPosition From, long Offset)> HistoryOf(string stream)
    {
        if (!_history.TryGetValue(stream, out var history))
        {
            _history[stream] = history = [];
        }

        return history;
    }

    /// <summary>Adds every stream's state to a checkpoint about to be stored.</summary>
    public void WriteTo(IDictionary<string, StreamPosition> checkpoint)
    {
        ArgumentNullException.ThrowIfNull(checkpoint);
        foreach (var (stream, epoch) in _streams)
        {
            var (state, start, low) = epoch.ToPositions();
            checkpoint[StatePrefix + stream] = state;
            checkpoint[StartPrefix + stream] = start;
            checkpoint[LowPrefix + stream] = low;
        }

        foreach (var (stream, history) in _history)
        {
            foreach (var (from, offset) in history)
            {
                checkpoint[string.Create(CultureInfo.InvariantCulture, $"{HistoryPrefix}{offset}/{stream}")] = from;
            }
        }

        WriteSharedTo(checkpoint);
    }

    public StreamEpoch Of(string stream) => _streams.TryGetValue(stream, out var e) ? e : StreamEpoch.Initial;

    /// <summary>Declares that the stream's source went back in time: its next change starts a new
    /// epoch (<c>sync epoch bump</c>).</summary>
    public StreamEpoch Declare(string stream) => _streams[stream] = Of(stream).With(EpochFlags.BumpDeclared, true);

    /// <summary>Marks the stream's pending reconciliation done.</summary>
    public void Reconciled(string stream) => _streams[stream] = Of(stream).With(EpochFlags.ReconcilePending, false);

    /// <summary>A full snapshot record (not an incremental snapshot chunk), by <c>source.snapshot</c>.</summary>
    public static bool IsFullSnapshot(string? marker) => marker is "true" or "first" or "first_in_data_collection" or "last_in_data_collection" or "last";

    /// <summary>The last record of a full snapshot for its stream.</summary>
    private static bool EndsSnapshot(string? marker) => marker is "last" or "last_in_data_collection";

    /// <summary>Moves the change's stream through its epochs and returns the change with its order in
    /// the stream's current epoch, and what happened to the epoch, if anything. A change without a
    /// source order (the <c>json</c> format, a tombstone) is ordered by its position and passes as it is.</summary>
    /// <param name="ordered">The reader sees the stream's whole history in order (failover, exclusive, a
    /// changelog file, a backfill). When false (shared and key-shared subscriptions, where each process
    /// sees part of the stream), an epoch is ordered as the processes agreed it through the sink (see
    /// SourceEpochs.Shared.cs): when one is needed and none is stored yet, the change is left as it is,
    /// <see cref="Pending"/> holds the proposal and the answer is <see cref="EpochTransition.NeedsAgreement"/>;
    /// the caller stores the proposal (<see cref="EntriesOf"/>), takes in what the sink holds
    /// (<see cref="TakeAgreements"/>) and applies the change again.</param>
    public ChangeEvent Apply(ChangeEvent change, out EpochTransition transition, bool ordered = true)
    {
        ArgumentNullException.ThrowIfNull(change);
        transition = EpochTransition.None;
        if (change.Source?.Lsn is not { } order)
        {
            return change;
        }

        var stream = change.Origin.Topic;
        if (_storedThrough.TryGetValue(stream, out var stored) && change.Origin.Position <= stored)
        {
            return InItsEpoch(change);
        }

        if (!ordered)
        {
            return ApplyShared(change, order, _storedMax.TryGetValue(stream, out var storedMax) ? storedMax : -1, out transition);
        }

        var state = Of(stream);
        var marker = change.Source.Snapshot;
        if (IsFullSnapshot(marker))
        {
            if (!state.Has(EpochFlags.InSnapshot))
            {
                // Outside a snapshot with anything seen before: after streaming, or after a snapshot that
                // completed (a new one right after it, with nothing streamed in between, is a new
                // history all the same: a failover or restore before any change was streamed).
                if (state.Has(EpochFlags.Streaming) || state.Has(EpochFlags.BumpDeclared) || state.Max >= 0)
                {
                    state = Begin(state, order);
                    transition = EpochTransition.Started;
                    Began(stream, change.Origin.Position, state.Offset);
                }

                state = state.With(EpochFlags.InSnapshot, true);
            }

            if (EndsSnapshot(marker))
            {
                state = EndSnapshot(state, ref transition);
            }
        }
        else
        {
            if (state.Has(EpochFlags.InSnapshot))
            {
                // Debezium 1.x marks only the snapshot's very last record "last": other tables'
                // snapshots end where their streamed changes begin.
                state = EndSnapshot(state, ref transition);
            }

            if (state.Has(EpochFlags.BumpDeclared))
            {
                state = Begin(state, order);
                transition = EpochTransition.Declared;
                Began(stream, change.Origin.Position, state.Offset);
            }

            state = state.With(EpochFlags.Streaming, true);
        }

        var shifted = Shift(order, state.Offset);
        if (shifted is null)
        {
            transition = EpochTransition.Overflow;
            _streams[stream] = state;
            return change.WithLsn(null);
        }

        if (!IsFullSnapshot(marker) && shifted.Value < state.Max - RegressionTolerance)
        {
            if (!state.Has(EpochFlags.Regressed))
            {
                transition = EpochTransition.Regressed;
            }

            state = state.With(EpochFlags.Regressed, true);
        }

        return Seen(stream, state, change, order, shifted.Value);
    }

    /// <summary>For a sink that cannot tell which stream wrote a row (an Elasticsearch document holds only
    /// its external version), the order below which the rows of a materializer reading
    /// <paramref name="streams"/> may be deleted when <paramref name="stream"/>'s new epoch's snapshot has
    /// completed: below every stream's <see cref="StreamEpoch.Floor"/>, no stream holds a live row, so
    /// such a row is one an epoch's snapshot did not hold (or an older state of it). With one stream
    /// it is the epoch's start, as for the sinks that store the stream. A stream still in its old
    /// history, or inside a new snapshot, keeps its floor low and so holds the sweep back; the last stream
    /// to complete its snapshot sweeps for all of them.</summary>
    public long SweepLimit(string stream, IEnumerable<string> streams)
    {
        ArgumentNullException.ThrowIfNull(streams);
        var all = streams.Append(stream).Distinct(StringComparer.Ordinal).ToList();
        if (all.Count == 1)
        {
            return Of(stream).Start;
        }

        var limit = all.Min(s => Of(s).Floor);
        return limit == long.MaxValue ? 0 : limit;
    }

    /// <summary>A short description of a stream's state for logs and status.</summary>
    public static string Describe(StreamEpoch epoch)
    {
        ArgumentNullException.ThrowIfNull(epoch);
        return string.Create(CultureInfo.InvariantCulture, $"epoch {epoch.Epoch} (offset {epoch.Offset}, highest order {epoch.Max})");
    }

    /// <summary>The epoch starts right above everything seen (<see cref="StreamEpoch.Start"/>), and its
    /// offset lifts its first order <see cref="RegressionTolerance"/> above that start: a transaction
    /// that began before the snapshot and committed after it streams changes with orders below the
    /// snapshot's, and they must still order above the old epoch (and survive reconciliation).</summary>
    private static StreamEpoch Begin(StreamEpoch state, long firstOrder)
    {
        var start = state.Max + 1;
        var offset = start > MaxOrder ? MaxOrder : Math.Max(state.Offset, start + RegressionTolerance - firstOrder);
        // The rows of the earlier epochs stay live (Floor) until this epoch's snapshot completes.
        return new StreamEpoch(state.Epoch + 1, offset, state.Max, start, EpochFlags.None) { Bump = state.Bump, Floor = state.Floor };
    }

    /// <summary>No new epoch where the processes of a shared subscription cannot agree on one (a sink
    /// without <see cref="Sinks.ISink.AddCheckpointEntriesAsync"/>): the change keeps its order in the current
    /// epoch, and the stream is marked gone back in time, once.</summary>
    public ChangeEvent Refuse(ChangeEvent change, out EpochTransition transition)
    {
        ArgumentNullException.ThrowIfNull(change);
        Pending = null;
        var stream = change.Origin.Topic;
        var state = Of(stream);
        var order = change.Source?.Lsn ?? 0;
        transition = state.Has(EpochFlags.Regressed) ? EpochTransition.None : EpochTransition.Refused;
        var shifted = Shift(order, state.Offset);
        _streams[stream] = state.With(EpochFlags.Regressed, true) with
        {
            Max = Math.Max(state.Max, shifted ?? state.Max),
            Floor = Math.Min(state.Floor, shifted ?? state.Floor),
            EpochLow = Math.Min(state.EpochLow, shifted ?? state.EpochLow),
        };
        return shifted == order ? change : change.WithLsn(shifted);
    }

    /// <summary>Stores the stream's state with the order just seen and returns the change with it.</summary>
    private ChangeEvent Seen(string stream, StreamEpoch state, ChangeEvent change, long order, long shifted)
    {
        _streams[stream] = state with
        {
            Max = Math.Max(state.Max, shifted),
            EpochLow = Math.Min(state.EpochLow, shifted),
            Floor = Math.Min(state.Floor, shifted),
        };
        return shifted == order ? change : change.WithLsn(shifted);
    }

    private void Began(string stream, StreamPosition from, long offset)
    {
        var history = HistoryOf(stream);
        history.Add((from, offset));
        if (history.Count > MaxHistory)
        {
            history.RemoveAt(0);
        }
    }

    private static StreamEpoch EndSnapshot(StreamEpoch state, ref EpochTransition transition)
    {
        state = state.With(EpochFlags.InSnapshot, false);
        if (state.Epoch > 0)
        {
            // The snapshot held every live row: those of the earlier epochs it did not hold are not live.
            state = state.With(EpochFlags.ReconcilePending, true) with { Floor = state.EpochLow };
            if (transition == EpochTransition.None)
            {
                transition = EpochTransition.SnapshotCompleted;
            }
        }

        return state;
    }

    /// <summary>The order plus the offset, kept below 2^62 - 1 so that it stays a valid Elasticsearch
    /// external version (ExternalVersions: 2^62 + order) and below the erasure marker; null past that.</summary>
    private static long? Shift(long order, long offset) =>
        offset == 0 ? order : order > MaxOrder - offset ? null : order + offset;

    /// <summary>The highest order an epoch offset may produce.</summary>
    public const long MaxOrder = (1L << 62) - 2;
}

/// <summary>What <see cref="SourceEpochs.Apply"/> did to a stream's epoch.</summary>
public enum EpochTransition
{
    None,

    /// <summary>A full snapshot began after streaming: a new epoch.</summary>
    Started,

    /// <summary>A declared bump took effect: a new epoch.</summary>
    Declared,

    /// <summary>The snapshot of an epoch after the first completed: reconciliation is due.</summary>
    SnapshotCompleted,

    /// <summary>Orders fell far below what was applied, outside a snapshot.</summary>
    Regressed,

    /// <summary>A new epoch would start on a shared or key-shared subscription, but the sink cannot store
    /// the processes' agreement on it, so none starts.</summary>
    Refused,

    /// <summary>On a shared or key-shared subscription, a new epoch is needed and none is agreed yet:
    /// <see cref="SourceEpochs.Pending"/> holds the proposal to store; the change is not ordered yet.</summary>
    NeedsAgreement,

    /// <summary>The order with the epoch's offset does not fit 62 bits; the change has no source order.</summary>
    Overflow,
}
