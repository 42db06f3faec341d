using Sync.Engine.Sinks;

namespace Sync.Engine.Runtime;

/// <summary>The rule by which a materializer tells a sink that went back in time (restored from a
/// backup, failed over to a replica that was behind, restarted from an older snapshot or empty)
/// from one that holds what it wrote, and the checkpoint it writes so that the stored one is always
/// a position at or before which everything is applied.
/// <para>Ordered subscriptions (failover, exclusive, a changelog file): one reader per stream, so a
/// batch's positions are a checkpoint, and the stored one equals what this materializer wrote last
/// unless the sink lost it: a stored position behind that, or behind one read back from the sink
/// before (a process that has not written yet, or a failover standby), or none, is the proof of a
/// rollback.</para>
/// <para>Streams shared by several consumers (shared, key-shared): a batch's positions say nothing
/// of the messages before them, which other consumers may still hold. The checkpoint written is
/// the subscription's mark-delete position (every consumer acknowledges only after the sink
/// committed, so everything at or before it is applied), never below what is stored already. Other
/// processes write it too, from an observation made before their batch, which may be a little
/// older than this one's; so the stored position is compared with what this materializer wrote one
/// batch earlier than its last. Another process would have to spend a whole batch of this one's
/// between observing and committing to be taken for a rollback, and even then the replay is only a
/// cost: it starts from a position below which everything is applied.</para>
/// <para>Shared streams on a sink that never lowers a stored position (<see cref="IMonotonicCheckpointSink"/>):
/// the stored position is the greatest of every mark-delete position any process wrote. Each was a
/// position at or before which everything was applied when it was observed, and what is applied only
/// grows, so the greatest of them is one too: the rule above holds. And no peer can take the stored
/// position below one this materializer wrote or read back, so the floor is what it wrote last or
/// read since (as on ordered streams), and the conditional write
/// (<see cref="Sinks.SinkBatch.ExpectedCheckpoint"/>) fails only on a rollback.</para>
/// <para>Not thread-safe: the materializer calls it under its apply lock.</para></summary>
public sealed class SinkCheckpointGuard
{
    /// <summary>The checkpoint entry (not a stream) that marks a heal in progress, so that a
    /// restart, <c>sync status</c> and the other processes of a shared subscription know of it.</summary>
    public const string HealingStream = "sync:healing";

    /// <summary><see cref="HealingStream"/>'s position while a heal runs.</summary>
    public static StreamPosition HealingMark => new(1, 0);

    /// <summary><see cref="HealingStream"/>'s position once the heal caught up.</summary>
    public static StreamPosition HealedMark => new(0, 0);

    private readonly Dictionary<string, StreamPosition> _last = new(StringComparer.Ordinal);
    private readonly Dictionary<string, StreamPosition> _before = new(StringComparer.Ordinal);
    private readonly Dictionary<string, StreamPosition> _held = new(StringComparer.Ordinal);
    private readonly Func<string, bool> _owns;

    /// <param name="sharedStreams">The materializer's streams are shared with other consumers.</param>
    /// <param name="sinkNeverLowers">The sink writes a stream's position only when it is past the stored
    /// one (<see cref="IMonotonicCheckpointSink"/>), so no other process can lower it.</param>
    /// <param name="owns">The streams of the checkpoint that are the materializer's own (default all):
    /// the others move, go back or go away without it losing anything, so the guard keeps no floor for them.</param>
    public SinkCheckpointGuard(bool sharedStreams, bool sinkNeverLowers = false, Func<string, bool>? owns = null)
    {
        SharedStreams = sharedStreams;
        SinkNeverLowers = sinkNeverLowers;
        _owns = owns ?? (_ => true);
    }

    public bool SharedStreams { get; }

    /// <summary>The sink never lowers a stored stream position (see the class remarks).</summary>
    public bool SinkNeverLowers { get; }

    /// <summary>Whether a stored position below one read before can only be a rollback: true on ordered
    /// streams, and on shared ones when the sink never lowers a stored position.</summary>
    public bool StoredNeverDips => !SharedStreams || SinkNeverLowers;

    /// <summary>Per stream, the position the stored checkpoint must not be behind.</summary>
    public IReadOnlyDictionary<string, StreamPosition> Floor => StoredNeverDips ? _held : _before;

    /// <summary>Per stream, the position this materializer wrote last.</summary>
    public IReadOnlyDictionary<string, StreamPosition> Written => _last;

    /// <summary><see cref="HealingStream"/>'s position in a consistency group's own checkpoint while it
    /// heals: the entry counts the sink's rollbacks in a row.</summary>
    public static StreamPosition GroupHealingMark(int rollbacksInARow) => new(HealingMark.Ledger, rollbacksInARow);

    /// <summary>True when the stored checkpoint marks a heal in progress (a materializer's or a group's).</summary>
    public static bool MarksHealing(IReadOnlyDictionary<string, StreamPosition> stored) =>
        stored.TryGetValue(HealingStream, out var mark) && mark.Ledger == HealingMark.Ledger;

    /// <summary>The rollbacks in a row a healing group's mark counts (0 for a materializer's mark).</summary>
    public static long RollbacksOf(IReadOnlyDictionary<string, StreamPosition> stored) =>
        MarksHealing(stored) ? stored[HealingStream].Entry : 0;

    /// <summary>The stored checkpoint without the heal mark and the source epoch state
    /// (<see cref="SourceEpochs"/>): the positions of streams only, of those that <paramref name="owns"/>
    /// names when given.</summary>
    public static Dictionary<string, StreamPosition> PositionsOf(IReadOnlyDictionary<string, StreamPosition> stored, Func<string, bool>? owns = null)
    {
        ArgumentNullException.ThrowIfNull(stored);
        var positions = new Dictionary<string, StreamPosition>(StringComparer.Ordinal);
        foreach (var (stream, position) in stored)
        {
            if (IsStream(stream) && (owns is null || owns(stream)))
            {
                positions[stream] = position;
            }
        }

        return positions;
    }

    /// <summary>Whether a checkpoint entry is a stream's position, not the heal mark, epoch state or the last verification.</summary>
    public static bool IsStream(string entry) => entry != HealingStream && !SourceEpochs.IsEpochEntry(entry) && !Verify.LastVerification.IsEntry(entry);

    /// <summary>Whether the guard keeps a floor for a checkpoint entry: a stream the materializer owns.</summary>
    private bool Keeps(string entry) => IsStream(entry) && _owns(entry);

    /// <summary>The streams whose stored position is behind <see cref="Floor"/> or gone: empty when
    /// the sink holds at least what this materializer knows it wrote.</summary>
    public IReadOnlyList<Loss> FindLosses(IReadOnlyDictionary<string, StreamPosition> stored)
    {
        ArgumentNullException.ThrowIfNull(stored);
        var losses = new List<Loss>();
        foreach (var (stream, floor) in Floor)
        {
            if (!stored.TryGetValue(stream, out var position))
            {
                losses.Add(new Loss(stream, null, floor));
            }
            else if (position < floor)
            {
                losses.Add(new Loss(stream, position, floor));
            }
        }

        return losses;
    }

    /// <summary>The checkpoint to write with a batch. Ordered: the batch's own positions. Shared:
    /// for each stream of the batch, the greater of the stored position and the one acknowledged
    /// through (<see cref="StreamPosition.Start"/> when neither is known, so that the sink shows it
    /// was written to); never a position of the batch itself.</summary>
    /// <param name="batch">Per stream, the last position the batch read.</param>
    /// <param name="stored">The checkpoint read from the sink just before.</param>
    /// <param name="acknowledgedThrough">Per stream, the subscription's mark-delete position, where known.</param>
    public Dictionary<string, StreamPosition> Next(
        IReadOnlyDictionary<string, StreamPosition> batch,
        IReadOnlyDictionary<string, StreamPosition> stored,
        IReadOnlyDictionary<string, StreamPosition> acknowledgedThrough)
    {
        ArgumentNullException.ThrowIfNull(batch);
        ArgumentNullException.ThrowIfNull(stored);
        ArgumentNullException.ThrowIfNull(acknowledgedThrough);
        if (!SharedStreams)
        {
            return new Dictionary<string, StreamPosition>(batch, StringComparer.Ordinal);
        }

        var next = new Dictionary<string, StreamPosition>(StringComparer.Ordinal);
        foreach (var stream in batch.Keys)
        {
            if (!IsStream(stream))
            {
                // Source epoch state goes with the batch as it is: it is no position of a stream.
                next[stream] = batch[stream];
                continue;
            }

            var position = StreamPosition.Start;
            if (stored.TryGetValue(stream, out var held) && held > position)
            {
                position = held;
            }

            if (acknowledgedThrough.TryGetValue(stream, out var acknowledged) && acknowledged > position)
            {
                position = acknowledged;
            }

            next[stream] = position;
        }

        return next;
    }

    /// <summary>The sink committed <paramref name="written"/> (on a sink that never lowers a stored
    /// position, the greater of it and what it held, so a floor above it stays).</summary>
    public void Committed(IReadOnlyDictionary<string, StreamPosition> written)
    {
        ArgumentNullException.ThrowIfNull(written);
        foreach (var (stream, position) in written)
        {
            if (!Keeps(stream))
            {
                continue;
            }

            if (_last.TryGetValue(stream, out var previous))
            {
                _before[stream] = previous;
            }

            _last[stream] = position;
            if (!SinkNeverLowers || !_held.TryGetValue(stream, out var held) || position > held)
            {
                _held[stream] = position;
            }
        }
    }

    /// <summary>The sink was read back holding <paramref name="stored"/>, with no loss found in it.
    /// Ordered streams: what it held is a floor as good as what this materializer wrote, so that a
    /// sink that goes back in time before this materializer wrote anything (during its start, or
    /// while it stands by) is found too. Shared streams: nothing (another process may write the
    /// checkpoint from an older observation, see the class remarks), unless the sink never lowers it.</summary>
    public void Held(IReadOnlyDictionary<string, StreamPosition> stored)
    {
        ArgumentNullException.ThrowIfNull(stored);
        if (!StoredNeverDips)
        {
            return;
        }

        foreach (var (stream, position) in stored)
        {
            if (Keeps(stream) && (!_held.TryGetValue(stream, out var held) || position > held))
            {
                _held[stream] = position;
            }
        }
    }

    /// <summary>After a rollback: what the sink holds now is the floor, until new writes.</summary>
    public void Reset(IReadOnlyDictionary<string, StreamPosition> stored)
    {
        ArgumentNullException.ThrowIfNull(stored);
        _last.Clear();
        _before.Clear();
        _held.Clear();
        foreach (var (stream, position) in stored)
        {
            if (Keeps(stream))
            {
                _last[stream] = position;
                _before[stream] = position;
                _held[stream] = position;
            }
        }
    }

    /// <summary>A stream the sink went back on: its stored position (null: gone) and the floor it fell behind.</summary>
    public sealed record Loss(string Stream, StreamPosition? Stored, StreamPosition Floor)
    {
        public override string ToString() => $"{Stream}: {(Stored is { } stored ? $"checkpoint {stored}" : "no checkpoint")}, had {Floor}";
    }
}
