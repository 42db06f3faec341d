using System.Runtime.InteropServices;

namespace Sync.Sinks.Postgres;

/// <summary>
/// How a shadow table of <c>backfill --shadow</c> is being loaded. A shadow has one writer, in log
/// order, and no reader until the swap, so while its batches keep one shape (the same columns and key,
/// an LSN on every change, no truncate, no unavailable column) their changes are only held in memory as
/// the newest change per key (<see cref="Held"/>), written to a staging log with binary COPY when
/// <see cref="MaxHeldKeys"/> keys are held and at the build; the shadow is built from the log set-wise
/// (the newest change per key, deletes as delete markers), or, when nothing reached the log and every
/// column has a binary form of its own (<see cref="ShadowLoadColumns"/>), straight from what is held
/// (<see cref="ShadowLoadState.WrittenDirect"/>); its primary key and indexes are created
/// once, when the log is <see cref="Built"/>: before the swap, or before anything else reads or changes
/// the shadow, or when a batch does not fit the shape. From then on the shadow takes the guarded path
/// like any target. Held by the sink, not by a connection, so that it outlives a discarded connection;
/// a change made in a transaction that rolls back is undone with <see cref="Restore"/>.
/// </summary>
/// <remarks>A batch's checkpoint is written with the batch even while its changes are only held: an
/// interrupted shadow backfill never resumes from that checkpoint (<c>BeginShadowAsync</c> drops the
/// shadow, its log and its checkpoint, and the backfill reads from the start), and within one process
/// the held changes outlive any reconnect, because they live here.</remarks>
internal sealed class ShadowLoad(string shadowId, string log, int maxHeldKeys)
{
    /// <summary>Undoes of the open transaction: a key and the change it held before (null: none).</summary>
    private readonly List<(string Key, ChangeEvent? Before)> _undo = [];

    /// <summary>The shadow table's id (<see cref="PostgresTarget.Id"/>).</summary>
    public string ShadowId { get; } = shadowId;

    /// <summary>The staging log, an unlogged table in the state schema.</summary>
    public string Log { get; } = log;

    /// <summary>How many keys are held before they are written to the log.</summary>
    public int MaxHeldKeys { get; } = maxHeldKeys;

    /// <summary>Per key text, the newest change not yet in the log (highest LSN; the later of equal ones).</summary>
    public Dictionary<string, HeldChange> Held { get; } = new(StringComparer.Ordinal);

    /// <summary>The most keys held at once (bench and tests).</summary>
    public int PeakHeld { get; private set; }

    /// <summary>True when the open transaction wrote the held changes to the log: they are let go once it commits.</summary>
    public bool HeldWritten { get; set; }

    /// <summary>What the load has done so far.</summary>
    public ShadowLoadState State { get; set; } = ShadowLoadState.Empty;

    /// <summary>True once the shadow was built from the log (or the load never started): batches take the guarded path.</summary>
    public bool Built => State.Built;

    /// <summary>Holds <paramref name="change"/> as its key's newest change unless the held one has a
    /// higher LSN (the guarded path's order: an equal LSN re-applies, so the later arrival wins).</summary>
    public void Hold(ChangeEvent change)
    {
        var key = change.KeyText;
        var lsn = change.Source!.Lsn!.Value;

        // One lookup per change, and the held change's LSN kept in the map: with a million keys held,
        // every further object a change reaches is likely a cache miss.
        ref var held = ref CollectionsMarshal.GetValueRefOrAddDefault(Held, key, out var exists);
        if (exists && lsn < held.Lsn)
        {
            return;
        }

        _undo.Add((key, exists ? held.Change : null));
        held = new HeldChange(lsn, change);
        PeakHeld = Math.Max(PeakHeld, Held.Count);
    }

    /// <summary>Begins a transaction's changes to the load; returns what <see cref="Restore"/> goes back to.</summary>
    public ShadowLoadState Save()
    {
        _undo.Clear();
        HeldWritten = false;
        return State;
    }

    /// <summary>The transaction committed: what it wrote to the log is no longer held.</summary>
    public void Commit()
    {
        _undo.Clear();
        if (HeldWritten)
        {
            Held.Clear();
            Held.TrimExcess();
            HeldWritten = false;
        }
    }

    /// <summary>The transaction rolled back: the held changes and the state are as before it.</summary>
    public void Restore(ShadowLoadState saved)
    {
        for (var i = _undo.Count - 1; i >= 0; i--)
        {
            var (key, before) = _undo[i];
            if (before is null)
            {
                Held.Remove(key);
            }
            else
            {
                Held[key] = new HeldChange(before.Source!.Lsn!.Value, before);
            }
        }

        _undo.Clear();
        HeldWritten = false;
        State = saved;
    }
}

/// <summary>A held change and its LSN.</summary>
internal readonly record struct HeldChange(long Lsn, ChangeEvent Change)
{
    /// <summary>The version the build from the log would give the key: the held LSN, the change's stream and position.</summary>
    public ChangeVersion Version => new(Lsn, Change.Origin.Topic, Change.Origin.Position);
}

/// <summary>The shape the staged changes share, and what the build needs to know.</summary>
/// <param name="Names">The upserts' column names, in order.</param>
/// <param name="KeyNames">The key's column names, in order.</param>
/// <param name="Types">The shadow table's type of each column of <paramref name="Names"/>.</param>
/// <param name="Indexes">The DDL that re-creates the shadow's primary key and indexes, dropped while the log fills.</param>
internal sealed record ShadowLoadShape(string[] Names, string[] KeyNames, PostgresColumnType[] Types, IReadOnlyList<string> Indexes);

/// <param name="Shape">Null until the first batch fixed it.</param>
/// <param name="Appended">Changes in the log (also the next change's sequence number).</param>
/// <param name="Built">The shadow was built; the log is gone.</param>
/// <param name="WriteOuts">How many times held changes were appended to the log: after one, the log holds each key once.</param>
/// <param name="WrittenDirect">The held changes went straight into the shadow, not through the log (see <see cref="ShadowLoadColumns"/>).</param>
internal sealed record ShadowLoadState(ShadowLoadShape? Shape, long Appended, bool Built, int WriteOuts, bool WrittenDirect = false)
{
    public static ShadowLoadState Empty { get; } = new(null, 0, false, 0);
}
