namespace Sync.Engine.Runtime;

/// <summary>Source epochs on a shared or key-shared subscription, where each process receives part of
/// each stream, out of the stream's order across keys (key-shared keeps the order per key; shared keeps
/// none once a message is redelivered). No process can compute an epoch from its own view, so:
/// <list type="bullet">
/// <item>The epoch is agreed through the sink: the first process that needs epoch N+1 of a stream (it
/// met a full snapshot record after the current epoch's snapshot, or a declared bump) stores its
/// proposal with a conditional write that keeps the first one (<see cref="Sinks.ISink.AddCheckpointEntriesAsync"/>:
/// <see cref="AgreedPrefix"/> with the offset and start, <see cref="FromPrefix"/> with a position inside
/// the epoch's first part), and every process orders the epoch by what is stored. Every process reads
/// the agreements with each batch, so one that holds no record of the snapshot still learns the epoch.</item>
/// <item>A Debezium snapshot is one block of a topic: every change streamed before it lies before its
/// first record, every change streamed after it after its last (streaming resumes once the snapshot is
/// done). So a position inside the block tells old changes from new ones without knowing the block's
/// bounds: a change outside a snapshot before the agreed position belongs to the old history and is
/// ordered in its old epoch, below the new epoch's start (<c>start - 1</c> at most, whatever its own
/// order); one after it is new.</item>
/// <item>The new start lies <see cref="RegressionTolerance"/> above the highest order the proposer knew
/// (its own, or the one stored by any process), so that a change of the old history still on its way in
/// another process orders below the start as long as it lies less than that above.</item>
/// <item>Reconciliation (the sweep of rows the snapshot did not hold) waits until the subscription's
/// mark-delete position reaches a position at or after the snapshot's end (<see cref="EndPrefix"/>: its
/// <c>last</c> record, or any change streamed in the epoch): then every record of the snapshot and every
/// change of the old history has been applied by some process. The sweep deletes the rows whose version
/// lies below the epoch's start and leaves markers at the start, below every change of the new epoch, so
/// that a record of the new epoch applied later still wins. Any process may sweep; it is idempotent, and
/// <see cref="SweptPrefix"/> records that it was done.</item>
/// </list></summary>
public sealed partial class SourceEpochs
{
    /// <summary>Entries <c>#epoch-agreed/</c> + epoch + <c>/</c> + stream: the agreed offset (ledger) and
    /// start (entry) of an epoch on a shared subscription; written once, by the first proposer.</summary>
    public const string AgreedPrefix = "#epoch-agreed/";

    /// <summary>Entries <c>#epoch-from/</c> + epoch + <c>/</c> + stream: a position inside the epoch's
    /// first part (a record of its snapshot, or where a declared bump took effect); written with the agreement.</summary>
    public const string FromPrefix = "#epoch-from/";

    /// <summary>Entries <c>#epoch-end/</c> + epoch + <c>/</c> + stream: a position at or after the end of
    /// the epoch's snapshot (its last record, or a change streamed in the epoch).</summary>
    public const string EndPrefix = "#epoch-end/";

    /// <summary>Entries <c>#epoch-swept/</c> + epoch + <c>/</c> + stream: the epoch's reconciliation is done
    /// (ledger: the rows it deleted).</summary>
    public const string SweptPrefix = "#epoch-swept/";

    /// <summary>Entries <c>#epoch-applied/</c> + epoch + <c>/</c> + instance + <c>/</c> + stream: the highest
    /// position a process (by <see cref="Instance"/>) applied while the stream was in that epoch, stored with
    /// each of its batches, in the batch's transaction. What survives a crash of the process: if a later
    /// agreement's position lies below it, the process applied a change of the new epoch in the old one,
    /// and only <see cref="RepairedPrefix"/> says it applied it again.</summary>
    public const string AppliedPrefix = "#epoch-applied/";

    /// <summary>Entries <c>#epoch-repaired/</c> + epoch + <c>/</c> + instance + <c>@</c> + position + <c>/</c> +
    /// stream: a process applied again in that epoch, after learning of it late, every change up to the
    /// position (the entry's value, also in its name), stored right after the repair. One entry per repaired
    /// range, since a stored entry is never replaced: a later, longer repair of the same instance in the same
    /// epoch stores its own, and the highest of them counts. An entry without <c>@</c> position (written
    /// before ranges were named) counts the same way.</summary>
    public const string RepairedPrefix = "#epoch-repaired/";

    /// <summary>Entries <c>#epoch-lost/</c> + epoch + <c>/</c> + stream: an earlier run of a process applied
    /// changes of that epoch in the one before and stopped before it applied them again (ledger:entry:batch,
    /// the highest such position). Written once; every process reports it while the stream is in that epoch.</summary>
    public const string LostPrefix = "#epoch-lost/";

    private readonly Dictionary<(string Stream, int Epoch), AgreedEpoch> _agreed = [];
    private readonly Dictionary<(string Stream, int Epoch), StreamPosition> _ends = [];
    private readonly HashSet<(string Stream, int Epoch)> _swept = [];

    // Per stream, the highest order stored in the sink's epoch state (by any process), as last read.
    private readonly Dictionary<string, long> _storedMax = new(StringComparer.Ordinal);

    // Per stream, the changes this process applied in its current epoch and the subscription has not
    // acknowledged through yet (as mapped, before their epoch order), oldest first: one past the agreed
    // position of a newer epoch was applied in the old epoch, and is applied again in the new one.
    private readonly Dictionary<string, Queue<ChangeEvent>> _window = new(StringComparer.Ordinal);

    // Per stream, the highest position that fell out of the window unacknowledged (past ReplayWindow).
    private readonly Dictionary<string, StreamPosition> _evictedThrough = new(StringComparer.Ordinal);

    // Changes applied again in the epoch they belong to, waiting for the sink (TakeRepairs).
    private readonly List<EpochRepair> _repairs = [];

    /// <summary>How many changes per stream a process keeps to apply again when it learns, after applying
    /// them, of an epoch agreed by another process that they belong to. Only changes the subscription has
    /// not acknowledged through are kept (the broker bounds those too: Pulsar's
    /// <c>maxUnackedMessagesPerConsumer</c> is 50,000 by default); past this bound the oldest fall out, and a
    /// late epoch that reaches back to them is reported instead of repaired.</summary>
    public const int ReplayWindow = 50_000;

    // Per stream and epoch, the highest position this process applied in it (with what an earlier run of
    // the same instance stored, so that a crash of this run keeps that run's trace).
    private readonly Dictionary<(string Stream, int Epoch), StreamPosition> _applied = [];

    // What an earlier run of this instance stored (AppliedPrefix), not settled yet: its changes past a later
    // agreement's position were applied in the old epoch, and never again unless the trace says it repaired them.
    private readonly Dictionary<(string Stream, int Epoch), StreamPosition> _inherited = [];

    // Every process's trace as last read, per stream, epoch and instance: the highest position it applied
    // in the epoch (AppliedPrefix) and applied again in it (RepairedPrefix); and per stream and epoch the
    // highest position of a stored loss (LostPrefix). What a sweep waits for (AwaitedRepairs).
    private readonly Dictionary<(string Stream, int Epoch, string Instance), StreamPosition> _tracedApplied = [];
    private readonly Dictionary<(string Stream, int Epoch, string Instance), StreamPosition> _tracedRepaired = [];
    private readonly Dictionary<(string Stream, int Epoch), StreamPosition> _lostThrough = [];

    // Repairs lost with an earlier run, found and not taken yet (TakeLostRepairs), and those already reported.
    private readonly List<LostRepair> _lost = [];
    private readonly HashSet<(string Stream, int Epoch)> _lostKnown = [];

    /// <summary>The name of this process among those of the subscription (see <see cref="Inherit"/>); null
    /// for a state that is not a live run's (a heal's replay, a status read), which stores no trace.</summary>
    public string? Instance { get; private set; }

    // Per stream, the lowest position this process applied.
    private readonly Dictionary<string, StreamPosition> _appliedFrom = new(StringComparer.Ordinal);

    /// <summary>The proposal waiting to be stored when <see cref="Apply"/> answers
    /// <see cref="EpochTransition.NeedsAgreement"/>.</summary>
    public EpochProposal? Pending { get; private set; }

    private static bool IsSharedEntry(string name) =>
        name.StartsWith(AgreedPrefix, StringComparison.Ordinal) || name.StartsWith(FromPrefix, StringComparison.Ordinal)
        || name.StartsWith(EndPrefix, StringComparison.Ordinal) || name.StartsWith(SweptPrefix, StringComparison.Ordinal)
        || name.StartsWith(AppliedPrefix, StringComparison.Ordinal) || name.StartsWith(RepairedPrefix, StringComparison.Ordinal)
        || name.StartsWith(LostPrefix, StringComparison.Ordinal);

    private static string Entry(string prefix, int epoch, string instance, string stream) =>
        string.Create(CultureInfo.InvariantCulture, $"{prefix}{epoch}/{instance}/{stream}");

    private static bool TryParse(string name, string prefix, out int epoch, out string instance, out string stream)
    {
        instance = "";
        if (!TryParse(name, prefix, out epoch, out stream) || stream.IndexOf('/', StringComparison.Ordinal) is not (var slash and > 0))
        {
            return false;
        }

        instance = stream[..slash];
        stream = stream[(slash + 1)..];
        return true;
    }

    /// <summary>The name a process goes by in <see cref="AppliedPrefix"/> entries: <c>SYNC_INSTANCE</c> when
    /// set, else the host name, so that a process restarted on its host (a container restarted in its pod)
    /// finds what its crashed run stored.</summary>
    public static string DefaultInstance =>
        (Environment.GetEnvironmentVariable("SYNC_INSTANCE") is { Length: > 0 } named ? named : Environment.MachineName).Replace('/', '_');

    /// <summary>Names this state's process (a live run on a shared subscription) and takes in what an earlier
    /// run of the same instance stored: a change it applied in an epoch that a later agreement claims, and did
    /// not apply again before it stopped, is reported (<see cref="TakeLostRepairs"/>) once the agreement is read.</summary>
    public void Inherit(string instance, IReadOnlyDictionary<string, StreamPosition> checkpoint)
    {
        ArgumentNullException.ThrowIfNull(checkpoint);
        Instance = instance.Replace('/', '_');
        foreach (var (name, value) in checkpoint)
        {
            if (TryParse(name, AppliedPrefix, out var epoch, out var of, out var stream) && of == Instance)
            {
                _inherited[(stream, epoch)] = value;
                _applied[(stream, epoch)] = value;
            }
        }

        TakeAgreements(checkpoint);
    }

    /// <summary>Repairs lost with an earlier run of a process (this instance's, found by <see cref="Inherit"/>,
    /// or any process's, stored as <see cref="LostPrefix"/>) not taken yet. Drains them.</summary>
    public IReadOnlyList<LostRepair> TakeLostRepairs()
    {
        var lost = _lost.ToList();
        _lost.Clear();
        return lost;
    }

    /// <summary>The entry that records a lost repair for every process and later run.</summary>
    public static KeyValuePair<string, StreamPosition> LostEntry(LostRepair lost)
    {
        ArgumentNullException.ThrowIfNull(lost);
        return new(Entry(LostPrefix, lost.Epoch, lost.Stream), lost.Through);
    }

    /// <summary>The entry stored once a repair is applied: this instance applied again in
    /// <paramref name="repair"/>'s epoch every change up to its highest position.</summary>
    public KeyValuePair<string, StreamPosition>? RepairedEntry(EpochRepair repair)
    {
        ArgumentNullException.ThrowIfNull(repair);
        return Instance is null || repair.Changes.Count == 0 ? null : Repaired(repair.Stream, repair.Epoch, repair.Changes.Max(c => c.Origin.Position));
    }

    /// <summary>The entry stored once the changes an earlier run of this instance lost are applied again
    /// from the topic (<see cref="LostRepair.From"/> through <see cref="LostRepair.Through"/>).</summary>
    public KeyValuePair<string, StreamPosition>? RepairedEntry(LostRepair lost)
    {
        ArgumentNullException.ThrowIfNull(lost);
        return Instance is null ? null : Repaired(lost.Stream, lost.Epoch, lost.Through);
    }

    private KeyValuePair<string, StreamPosition> Repaired(string stream, int epoch, StreamPosition through) =>
        new(Entry(RepairedPrefix, epoch, Instance + "@" + through, stream), through);

    /// <summary>The instance a <see cref="RepairedPrefix"/> entry names, without the range it carries.</summary>
    private static string WithoutRange(string instance) =>
        instance.LastIndexOf('@') is var at and >= 0 && IsPosition(instance[(at + 1)..]) ? instance[..at] : instance;

    private static bool IsPosition(string text)
    {
        try
        {
            StreamPosition.Parse(text);
            return true;
        }
        catch (FormatException)
        {
            return false;
        }
    }

    /// <summary>Settles what an earlier run of this instance stored, against the agreements and the stored
    /// positions just read.</summary>
    private void SettleInherited(IReadOnlyDictionary<string, StreamPosition> checkpoint)
    {
        foreach (var ((stream, epoch), through) in _lostThrough)
        {
            if (epoch == NewestAgreed(stream) && _lostKnown.Add((stream, epoch)))
            {
                _lost.Add(new LostRepair(stream, epoch, through));
            }
        }

        foreach (var ((stream, epoch), through) in _inherited.ToList())
        {
            if (_agreed.TryGetValue((stream, epoch + 1), out var agreed))
            {
                _inherited.Remove((stream, epoch));
                var repaired = _tracedRepaired.TryGetValue((stream, epoch + 1, Instance!), out var again) && again >= through;
                if (through > agreed.From && !repaired && epoch + 1 == NewestAgreed(stream) && _lostKnown.Add((stream, epoch + 1)))
                {
                    // Replayable from the topic: the messages after the agreed position up to where the run reached.
                    _lost.Add(new LostRepair(stream, epoch + 1, through) { From = agreed.From });
                }
            }
            else if (checkpoint.TryGetValue(stream, out var acknowledged) && acknowledged >= through)
            {
                // Every message up to there was applied, so an epoch claiming one of them would be agreed
                // in this read already: none will.
                _inherited.Remove((stream, epoch));
            }
        }
    }

    private int NewestAgreed(string stream) =>
        _agreed.Keys.Where(k => k.Stream == stream).Select(k => k.Epoch).DefaultIfEmpty(0).Max();

    private static string Entry(string prefix, int epoch, string stream) =>
        string.Create(CultureInfo.InvariantCulture, $"{prefix}{epoch}/{stream}");

    private static bool TryParse(string name, string prefix, out int epoch, out string stream)
    {
        epoch = 0;
        stream = "";
        if (!name.StartsWith(prefix, StringComparison.Ordinal) || name.IndexOf('/', prefix.Length) is not (var slash and > 0)
            || !int.TryParse(name.AsSpan(prefix.Length, slash - prefix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out epoch))
        {
            return false;
        }

        stream = name[(slash + 1)..];
        return true;
    }

    /// <summary>Takes in the agreements, snapshot ends and sweeps stored in a checkpoint; a stream whose
    /// agreed epoch is newer than its state moves to it. Returns the streams that move to an epoch whose
    /// agreed position this process had already passed with a change applied in the old epoch (it
    /// learned of the epoch too late for that change).</summary>
    public IReadOnlyList<(string Stream, int Epoch)> TakeAgreements(IReadOnlyDictionary<string, StreamPosition> checkpoint)
    {
        ArgumentNullException.ThrowIfNull(checkpoint);
        var from = new Dictionary<(string, int), StreamPosition>();
        foreach (var (name, value) in checkpoint)
        {
            if (TryParse(name, FromPrefix, out var epoch, out var stream))
            {
                from[(stream, epoch)] = value;
            }
        }

        foreach (var (name, value) in checkpoint)
        {
            if (name.StartsWith(StatePrefix, StringComparison.Ordinal))
            {
                var of = name[StatePrefix.Length..];
                _storedMax[of] = Math.Max(_storedMax.TryGetValue(of, out var max) ? max : -1, value.Entry);
            }
            else if (TryParse(name, AgreedPrefix, out var epoch, out var stream) && from.TryGetValue((stream, epoch), out var first))
            {
                _agreed[(stream, epoch)] = new AgreedEpoch(epoch, value.Ledger, value.Entry, first);
            }
            else if (TryParse(name, EndPrefix, out epoch, out stream))
            {
                NoteEnd(stream, epoch, value);
            }
            else if (TryParse(name, SweptPrefix, out epoch, out stream))
            {
                _swept.Add((stream, epoch));
            }
            else if (TryParse(name, AppliedPrefix, out epoch, out var instance, out stream))
            {
                Raise(_tracedApplied, (stream, epoch, instance), value);
            }
            else if (TryParse(name, RepairedPrefix, out epoch, out instance, out stream))
            {
                Raise(_tracedRepaired, (stream, epoch, WithoutRange(instance)), value);
            }
            else if (TryParse(name, LostPrefix, out epoch, out stream))
            {
                Raise(_lostThrough, (stream, epoch), value);
            }
        }

        var late = new List<(string, int)>();
        foreach (var stream in _agreed.Keys.Select(k => k.Stream).Distinct(StringComparer.Ordinal).ToList())
        {
            var newest = _agreed.Where(a => a.Key.Stream == stream).Max(a => a.Key.Epoch);
            if (newest > Of(stream).Epoch)
            {
                var agreed = _agreed[(stream, newest)];
                if (_evictedThrough.TryGetValue(stream, out var evicted) && evicted > agreed.From)
                {
                    late.Add((stream, newest));
                }

                var past = _window.TryGetValue(stream, out var window) ? window.Where(c => c.Origin.Position > agreed.From).ToList() : [];
                Adopt(stream, agreed);
                if (past.Count > 0)
                {
                    _repairs.Add(new EpochRepair(stream, newest, [.. past.Select(Reorder)]));
                }
            }
        }

        SettleInherited(checkpoint);

        // Every message up to the stored position is acknowledged, so applied, and an agreement on a
        // snapshot before it was stored before its record was applied: this read holds every epoch that
        // a change up to there can belong to.
        foreach (var (stream, window) in _window)
        {
            if (checkpoint.TryGetValue(stream, out var through))
            {
                while (window.TryPeek(out var oldest) && oldest.Origin.Position <= through)
                {
                    window.Dequeue();
                }
            }
        }

        return late;
    }

    /// <summary>The changes this process applied in an older epoch than the one agreed for them, found by
    /// <see cref="TakeAgreements"/>, with their order in the agreed epoch, for the sink. Drains them.</summary>
    public IReadOnlyList<EpochRepair> TakeRepairs()
    {
        var repairs = _repairs.ToList();
        _repairs.Clear();
        return repairs;
    }

    /// <summary>A change of the window applied again, in the epoch just adopted.</summary>
    private ChangeEvent Reorder(ChangeEvent original)
    {
        var change = Apply(original, out var transition, ordered: false);
        if (transition == EpochTransition.NeedsAgreement)
        {
            // A record of a snapshot newer still: it is ordered in the newest epoch known, and its own
            // agreement is proposed when it is read again.
            Pending = null;
            return InItsEpoch(original);
        }

        return change;
    }

    private void Remember(ChangeEvent original)
    {
        var stream = original.Origin.Topic;
        if (!_window.TryGetValue(stream, out var window))
        {
            _window[stream] = window = new Queue<ChangeEvent>();
        }

        window.Enqueue(original);
        if (window.Count > ReplayWindow)
        {
            var evicted = window.Dequeue().Origin.Position;
            if (!_evictedThrough.TryGetValue(stream, out var through) || evicted > through)
            {
                _evictedThrough[stream] = evicted;
            }
        }
    }

    /// <summary>The entries that store a proposal (<see cref="Sinks.ISink.AddCheckpointEntriesAsync"/>),
    /// the agreement first so that a racing proposer stores nothing.</summary>
    public static IReadOnlyList<KeyValuePair<string, StreamPosition>> EntriesOf(EpochProposal proposal)
    {
        ArgumentNullException.ThrowIfNull(proposal);
        return
        [
            new(Entry(AgreedPrefix, proposal.Epoch, proposal.Stream), new StreamPosition(proposal.Offset, proposal.Start, 0)),
            new(Entry(FromPrefix, proposal.Epoch, proposal.Stream), proposal.From),
        ];
    }

    /// <summary>The entry that records a stream's epoch as swept.</summary>
    public static KeyValuePair<string, StreamPosition> SweptEntry(string stream, int epoch, long removed) =>
        new(Entry(SweptPrefix, epoch, stream), new StreamPosition(removed, 0, 0));

    /// <summary>The sweeps due once the subscription's mark-delete position reaches their end: per stream,
    /// its current epoch when agreed, its snapshot's end known, and not swept yet.</summary>
    public IReadOnlyList<SharedSweep> SweepsDue()
    {
        var due = new List<SharedSweep>();
        foreach (var (stream, state) in _streams)
        {
            if (state.Epoch > 0 && _agreed.TryGetValue((stream, state.Epoch), out var agreed)
                && _ends.TryGetValue((stream, state.Epoch), out var end) && !_swept.Contains((stream, state.Epoch)))
            {
                due.Add(new SharedSweep(stream, state.Epoch, agreed.Start, end));
            }
        }

        return due;
    }

    /// <summary>The processes (by instance) that applied changes past <paramref name="epoch"/>'s agreed position
    /// in the epoch before, having learned the epoch late, and have not applied them again in it yet, as the
    /// trace last read says, each with the highest such position. The epoch's sweep waits for them: those
    /// changes are ordered below the epoch's start, so the sweep would delete their rows (rows the source
    /// holds) until the repair wrote them back. A stored loss reaching that position ends the wait: it is
    /// reported, and no repair will come. Empty once the epoch is swept. Read after the subscription
    /// acknowledged through the snapshot's end, the trace holds every such change up to there (each batch
    /// stores it before its acknowledgement).</summary>
    public IReadOnlyList<(string Instance, StreamPosition Through)> AwaitedRepairs(string stream, int epoch)
    {
        if (!_agreed.TryGetValue((stream, epoch), out var agreed) || _swept.Contains((stream, epoch)))
        {
            return [];
        }

        var lost = _lostThrough.TryGetValue((stream, epoch), out var through) ? through : StreamPosition.Start;
        return
        [
            .. _tracedApplied
                .Where(t => t.Key.Stream == stream && t.Key.Epoch == epoch - 1 && t.Value > agreed.From && t.Value > lost
                    && !(_tracedRepaired.TryGetValue((stream, epoch, t.Key.Instance), out var again) && again >= t.Value))
                .OrderBy(t => t.Key.Instance, StringComparer.Ordinal)
                .Select(t => (t.Key.Instance, t.Value)),
        ];
    }

    private static void Raise<TKey>(Dictionary<TKey, StreamPosition> highest, TKey key, StreamPosition value)
        where TKey : notnull
    {
        if (!highest.TryGetValue(key, out var known) || value > known)
        {
            highest[key] = value;
        }
    }

    /// <summary>Whether a stream's current epoch is agreed and not swept yet (its end may still be unknown here).</summary>
    public bool HasSweepsPending() =>
        _streams.Any(s => s.Value.Epoch > 0 && _agreed.ContainsKey((s.Key, s.Value.Epoch)) && !_swept.Contains((s.Key, s.Value.Epoch)));

    /// <summary>Whether this process holds changes it applied that an epoch not agreed yet may still claim
    /// (<see cref="ReplayWindow"/>), or repairs not taken yet: it keeps reading the agreements while idle.</summary>
    public bool AwaitsAgreements => _repairs.Count > 0 || _inherited.Count > 0 || _window.Values.Any(w => w.Count > 0);

    /// <summary>Notes a stream's epoch as swept.</summary>
    public void Swept(string stream, int epoch) => _swept.Add((stream, epoch));

    /// <summary><see cref="Apply"/> on a reader that sees part of the stream.</summary>
    private ChangeEvent ApplyShared(ChangeEvent change, long order, long storedMax, out EpochTransition transition)
    {
        transition = EpochTransition.None;
        Pending = null;
        var stream = change.Origin.Topic;
        var position = change.Origin.Position;
        var state = Of(stream);
        var marker = change.Source!.Snapshot;
        var snapshot = IsFullSnapshot(marker);

        var agreedCurrent = _agreed.TryGetValue((stream, state.Epoch), out var current) ? current : null;

        // A record of an earlier snapshot (at or before the end of the epoch before the current one)
        // or a change streamed before the current epoch's first part: the old history, on its way late.
        if (agreedCurrent is not null && position < agreedCurrent.From
            && (!snapshot || (_ends.TryGetValue((stream, state.Epoch - 1), out var previousEnd) && position <= previousEnd)))
        {
            var old = InItsEpoch(change).Source?.Lsn ?? order;
            var below = Math.Min(old, agreedCurrent.Start - 1);
            return below == order ? change : change.WithLsn(below);
        }

        // A full snapshot record after the current epoch's snapshot is over, or the first record of a
        // snapshot that has anything of the stream before it, or any change after a declared bump,
        // needs the next epoch; other records belong to the current epoch's snapshot.
        var knownEnd = _ends.TryGetValue((stream, state.Epoch), out var end);
        var startsNew = state.Has(EpochFlags.BumpDeclared)
            || (snapshot && knownEnd && position > end)
            || (marker is "first" or "first_in_data_collection" && !knownEnd
                && (agreedCurrent is not null ? position > agreedCurrent.From : HasHistoryBefore(stream, position)));
        if (startsNew)
        {
            if (!_agreed.TryGetValue((stream, state.Epoch + 1), out var agreed))
            {
                var start = Math.Max(state.Max, storedMax) + 1 + RegressionTolerance;
                Pending = start > MaxOrder
                    ? null
                    : new EpochProposal(stream, state.Epoch + 1, Math.Max(state.Offset, start + RegressionTolerance - order), start, position);
                transition = Pending is null ? EpochTransition.Overflow : EpochTransition.NeedsAgreement;
                return change;
            }

            Adopt(stream, agreed);
            state = Of(stream);
            transition = snapshot ? EpochTransition.Started : EpochTransition.Declared;
        }

        if (!_appliedFrom.TryGetValue(stream, out var from) || position < from)
        {
            _appliedFrom[stream] = position;
        }

        if (snapshot)
        {
            if (EndsSnapshot(marker))
            {
                NoteEnd(stream, state.Epoch, position);
            }
        }
        else
        {
            // Streaming resumes after the snapshot: this change lies past the epoch's snapshot.
            NoteEnd(stream, state.Epoch, position);
        }

        Remember(change);
        if (!_applied.TryGetValue((stream, state.Epoch), out var applied) || position > applied)
        {
            _applied[(stream, state.Epoch)] = position;
        }

        var shifted = Shift(order, state.Offset);
        if (shifted is null)
        {
            transition = EpochTransition.Overflow;
            return change.WithLsn(null);
        }

        if (!snapshot && shifted.Value < state.Max - RegressionTolerance && !state.Has(EpochFlags.Regressed))
        {
            transition = EpochTransition.Regressed;
            state = state.With(EpochFlags.Regressed, true);
        }

        return Seen(stream, state, change, order, shifted.Value);
    }

    /// <summary>Whether anything of the stream lies before <paramref name="position"/>: this process applied
    /// a message before it, or the sink holds a position of the stream (at or before which all is applied).</summary>
    private bool HasHistoryBefore(string stream, StreamPosition position) =>
        (_appliedFrom.TryGetValue(stream, out var from) && from < position) || _storedThrough.ContainsKey(stream);

    private void NoteEnd(string stream, int epoch, StreamPosition position)
    {
        // Any position at or after the snapshot's end will do; the lowest known lets the sweep run soonest.
        if (!_ends.TryGetValue((stream, epoch), out var known) || position < known)
        {
            _ends[(stream, epoch)] = position;
        }
    }

    private void Adopt(string stream, AgreedEpoch agreed)
    {
        var state = Of(stream);
        if (agreed.Epoch <= state.Epoch)
        {
            return;
        }

        _streams[stream] = new StreamEpoch(agreed.Epoch, agreed.Offset, state.Max, agreed.Start, EpochFlags.None)
        {
            Bump = state.Bump,
            Floor = state.Floor,
        };
        // What was applied at or before the agreed position belongs to the old epoch; what lies past it
        // is applied again, and remembered again, in the new one.
        _window.Remove(stream);
        _evictedThrough.Remove(stream);
        Began(stream, agreed.From, agreed.Offset);
    }

    private void WriteSharedTo(IDictionary<string, StreamPosition> checkpoint)
    {
        foreach (var ((stream, epoch), end) in _ends)
        {
            // The current epoch's and the one before (which tells records of the earlier snapshot).
            if (epoch >= Of(stream).Epoch - 1)
            {
                checkpoint[Entry(EndPrefix, epoch, stream)] = end;
            }
        }

        if (Instance is not null)
        {
            foreach (var ((stream, epoch), applied) in _applied)
            {
                if (epoch == Of(stream).Epoch)
                {
                    checkpoint[Entry(AppliedPrefix, epoch, Instance, stream)] = applied;
                }
            }
        }
    }
}

/// <summary>An epoch of a stream as agreed among the processes of a shared subscription.</summary>
/// <param name="From">A position inside the epoch's first part: changes outside a snapshot before it
/// belong to the earlier epochs.</param>
public sealed record AgreedEpoch(int Epoch, long Offset, long Start, StreamPosition From);

/// <summary>A process's proposal for the next epoch of a stream (see <see cref="SourceEpochs.EntriesOf"/>).</summary>
public sealed record EpochProposal(string Stream, int Epoch, long Offset, long Start, StreamPosition From);

/// <summary>Changes of <paramref name="Stream"/> that a process applied in an older epoch before it learned
/// that they belong to <paramref name="Epoch"/>, agreed by another process, with their order in it.</summary>
public sealed record EpochRepair(string Stream, int Epoch, IReadOnlyList<ChangeEvent> Changes);

/// <summary>Changes of <paramref name="Stream"/> that an earlier run of a process applied in the epoch before
/// <paramref name="Epoch"/> though they belong to it, and did not apply again before it stopped (crash, deploy):
/// up to <paramref name="Through"/>, they may be older than their keys' state, or swept.</summary>
public sealed record LostRepair(string Stream, int Epoch, StreamPosition Through)
{
    /// <summary>The epoch's agreed position, after which the lost changes lie: the run that found the loss
    /// replays the topic from there through <see cref="Through"/>. Null for a loss stored as
    /// <see cref="SourceEpochs.LostPrefix"/>, which a replay could not repair.</summary>
    public StreamPosition? From { get; init; }
}

/// <summary>A reconciliation on a shared subscription, due once the mark-delete position reaches <paramref name="End"/>.</summary>
public sealed record SharedSweep(string Stream, int Epoch, long Start, StreamPosition End);
