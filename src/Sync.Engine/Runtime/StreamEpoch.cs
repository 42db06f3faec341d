namespace Sync.Engine.Runtime;

/// <summary>Where one stream stands in its source's history (see <see cref="SourceEpochs"/>).</summary>
/// <param name="Epoch">0 until the source first goes back in time; +1 per new full snapshot after
/// streaming, or per declared bump.</param>
/// <param name="Offset">Added to every source order (<see cref="SourceInfo.Lsn"/>) of the stream in
/// this epoch, so that the epoch's changes order above every change of the earlier epochs.</param>
/// <param name="Max">The highest order (offset added) seen on the stream; -1 before any.</param>
/// <param name="Start">The lowest order of this epoch: a row whose stored order is below it was not
/// written in this epoch (snapshot reconciliation deletes it). 0 in epoch 0.</param>
public sealed record StreamEpoch(int Epoch, long Offset, long Max, long Start, EpochFlags Flags)
{
    public static StreamEpoch Initial { get; } = new(0, 0, -1, 0, EpochFlags.None);

    /// <summary>The id of the last declared bump (<see cref="SourceEpochs.BumpPrefix"/>) this state took in; 0 before any.</summary>
    public long Bump { get; init; }

    /// <summary>The lowest order (offset added) seen in this epoch; <see cref="long.MaxValue"/> before any.</summary>
    public long EpochLow { get; init; } = long.MaxValue;

    /// <summary>The lowest order a row the stream wrote may still hold as its live state: the lowest
    /// order ever seen, until an epoch's snapshot completes, which leaves the rows of the earlier epochs
    /// it did not hold to be deleted; from then on the lowest order of that epoch. A sweep that cannot
    /// tell which stream wrote a row compares with it (<see cref="SourceEpochs.SweepLimit"/>).
    /// <see cref="long.MaxValue"/> before any order; 0 when a stored state predates it (unknown).</summary>
    public long Floor { get; init; } = long.MaxValue;

    public bool Has(EpochFlags flag) => (Flags & flag) == flag;

    public StreamEpoch With(EpochFlags flag, bool on) =>
        (on ? Flags | flag : Flags & ~flag) is var flags && flags == Flags ? this : this with { Flags = flags }; // the same state when nothing changes: called once per change

    /// <summary>The three checkpoint entries this state is stored as (see <see cref="SourceEpochs.StatePrefix"/>).</summary>
    internal (StreamPosition State, StreamPosition Start, StreamPosition Low) ToPositions() =>
        (new StreamPosition(Offset, Max, (Epoch << FlagBits) | (int)Flags), new StreamPosition(Start, Bump, 0), new StreamPosition(Floor, EpochLow, 0));

    /// <summary>A state stored before <see cref="Floor"/> existed reads it as 0: every row may be live.</summary>
    internal static StreamEpoch FromPositions(StreamPosition state, StreamPosition? start, StreamPosition? low) =>
        new(state.BatchIndex >> FlagBits, state.Ledger, state.Entry, start?.Ledger ?? 0, (EpochFlags)(state.BatchIndex & ((1 << FlagBits) - 1)))
        {
            Bump = start?.Entry ?? 0,
            Floor = low?.Ledger ?? 0,
            EpochLow = low?.Entry ?? 0,
        };

    /// <summary>Low bits of the stored int that hold <see cref="Flags"/>; the epoch number takes the
    /// other 26 (up to 2^25 - 1 epochs, far past what the 62-bit order allows anyway).</summary>
    private const int FlagBits = 5;
}

/// <summary>What a stream's epoch state remembers besides numbers.</summary>
[Flags]
public enum EpochFlags
{
    None = 0,

    /// <summary>A change outside a snapshot was seen in this epoch: the next full snapshot starts a new epoch.</summary>
    Streaming = 1,

    /// <summary>Full snapshot records are arriving.</summary>
    InSnapshot = 2,

    /// <summary>This epoch's snapshot completed and rows it did not hold wait to be deleted.</summary>
    ReconcilePending = 4,

    /// <summary>An operator declared a bump (<c>sync epoch bump</c>): the next change starts a new epoch.</summary>
    BumpDeclared = 8,

    /// <summary>Source orders dropped far below what was applied, outside a snapshot, in this epoch.</summary>
    Regressed = 16,
}
