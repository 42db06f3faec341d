namespace Sync.Engine.Runtime;

/// <summary>Why a consistency group applied a set of changes when it did.</summary>
public enum TransactionRelease
{
    /// <summary>Its END arrived and with it every change its <c>event_count</c>s name for the group's tables.</summary>
    Complete,

    /// <summary>Changes without a <c>transaction</c> block (snapshot reads, a connector without
    /// <c>provide.transaction.metadata</c>): each applied as it comes, after what arrived before it.</summary>
    NoMetadata,

    /// <summary>Relaxed: the group held <c>maxTransactionChanges</c> changes, so the oldest transaction's
    /// changes were applied as they stood (a transaction larger than the limit is applied in parts).</summary>
    Oversized,

    /// <summary>Relaxed: a later transaction began on the transaction topic while this one had no END
    /// (a connector restarted mid-transaction), and the later one is complete or waited <c>endTimeout</c>.</summary>
    MissingEnd,

    /// <summary>Relaxed: nothing of the transaction arrived for <c>endTimeout</c> while it was incomplete.</summary>
    Timeout,
}

/// <summary>One change a consistency group holds, with the group member that read it.</summary>
public readonly record struct HeldChange(int Member, ChangeEvent Change);

/// <summary>Changes the group applies together in one sink transaction: a whole source transaction,
/// or part of one where <see cref="Relaxed"/>.</summary>
/// <param name="Key">The transaction (<see cref="TransactionBlock.TransactionKey"/>); null for changes without metadata.</param>
/// <param name="Changes">Its changes in arrival order.</param>
/// <param name="Boundaries">The BEGIN and END records it consumed, for the transaction topic's checkpoint.</param>
/// <param name="Reason">Why now.</param>
public sealed record ReleasedTransaction(string? Key, IReadOnlyList<HeldChange> Changes, IReadOnlyList<Origin> Boundaries, TransactionRelease Reason)
{
    /// <summary>Changes were applied without the rest of their transaction (an empty release, such as a
    /// transaction whose changes were all applied before a restart, relaxes nothing).</summary>
    public bool Relaxed => Changes.Count > 0 && Reason is TransactionRelease.Oversized or TransactionRelease.MissingEnd or TransactionRelease.Timeout;
}

/// <summary>
/// The consistency group's buffer: holds each source transaction's changes, read from the group's
/// topics in any interleaving, until its END record and every change its <c>event_count</c>s name have
/// arrived, and releases whole transactions in commit order (the order of their BEGIN records on the
/// transaction topic, which Debezium writes in the order it streams transactions:
/// debezium/debezium <c>pipeline/txmetadata/TransactionMonitor.java</c> emits END before the next BEGIN).
/// Pure and single-threaded: the runner feeds it and asks what to apply.
/// </summary>
/// <remarks>
/// Rules, in docs/operations.md "Consistency groups":
/// <list type="bullet">
/// <item>A table counts toward completion when the group reads its topic (<paramref name="countsCollection"/>);
/// the END's counts of other tables are not waited for.</item>
/// <item>A change without a transaction block is released after everything that arrived before it.</item>
/// <item>At most <c>maxChanges</c> changes are held: at the limit the oldest transaction's changes are
/// released as they stand (<see cref="TransactionRelease.Oversized"/>), or, when it holds none yet, those of
/// the oldest transaction that holds some; their later changes follow as more parts.</item>
/// <item>When the source ends (a changelog file read to its end), whatever is held is released in order.</item>
/// <item>A transaction whose BEGIN was read and that has no END is released as it stands when the next
/// BEGIN arrived and a transaction after it is complete, or <c>endTimeout</c> after that BEGIN
/// (<see cref="TransactionRelease.MissingEnd"/>); a BEGIN never marks a transaction whose own BEGIN has
/// not been read. An incomplete oldest transaction that receives nothing for <c>endTimeout</c> is
/// released as it stands (<see cref="TransactionRelease.Timeout"/>). Nothing waits forever.</item>
/// <item>Changes whose BEGIN has not arrived are held apart (the transaction topic may be read behind
/// the tables' topics); after <c>endTimeout</c> without their BEGIN they queue as if it had arrived,
/// and move to their BEGIN's place if it comes after all.</item>
/// <item><c>endTimeout</c> counts only while the group has caught up with the transaction topic
/// (<see cref="TransactionTopicCaughtUp"/>): a group behind on it waits for the records still to read.</item>
/// </list>
/// </remarks>
public sealed class TransactionAssembler(int maxChanges, TimeSpan endTimeout, Func<string, bool> countsCollection, TimeProvider time)
{
    private readonly List<Transaction> _order = [];
    private readonly Dictionary<string, Transaction> _byKey = new(StringComparer.Ordinal);
    private readonly LinkedList<Transaction> _unbegun = new();
    private Transaction? _lastBegun;
    private TimeSpan _waitedBefore;
    private DateTimeOffset? _caughtUpSince = time.GetUtcNow();
    private readonly Dictionary<string, bool> _counted = new(StringComparer.Ordinal);
    private readonly Dictionary<string, SortedDictionary<StreamPosition, int>> _held = new(StringComparer.Ordinal);
    private readonly Dictionary<string, StreamPosition> _passed = new(StringComparer.Ordinal);
    private int _head;

    /// <summary>How many changes are held.</summary>
    public int Buffered { get; private set; }

    /// <summary>True while any message read (a change or a boundary) is held, not yet applied.</summary>
    public bool HoldsAny => _held.Values.Any(h => h.Count > 0);

    /// <summary>Whether the group has read everything on the transaction topic (true until told otherwise).
    /// <c>endTimeout</c> counts only while it has: a group that is behind on the transaction topic is slow,
    /// not missing records, and waits for them however long that takes.</summary>
    public bool TransactionTopicCaughtUp
    {
        get => _caughtUpSince is not null;
        set
        {
            var now = time.GetUtcNow();
            if (value && _caughtUpSince is null)
            {
                _caughtUpSince = now;
            }
            else if (!value && _caughtUpSince is { } since)
            {
                _waitedBefore += now - since;
                _caughtUpSince = null;
            }
        }
    }

    /// <summary>The clock of <c>endTimeout</c>: time spent caught up with the transaction topic.</summary>
    private TimeSpan Waited => _waitedBefore + (_caughtUpSince is { } since ? time.GetUtcNow() - since : TimeSpan.Zero);

    /// <summary>A BEGIN record arrived: the transaction takes its place in commit order.</summary>
    public void Begin(TransactionBoundary boundary)
    {
        var transaction = TakeBoundary(boundary);
        if (!transaction.Begun)
        {
            Queue(transaction);
        }
        else if (!transaction.BeginRead && _order.IndexOf(transaction, _head) is var queuedAt and >= 0)
        {
            // Queued without its BEGIN (endTimeout passed while caught up): its BEGIN gives its real place.
            _order.RemoveAt(queuedAt);
            _order.Add(transaction);
        }

        transaction.BeginRead = true;

        // The transaction of the previous BEGIN, if it has no END, never gets one: Debezium writes BEGIN and
        // END in commit order and ends a transaction before it begins the next. That is the only one to
        // mark (the ones before it were marked by the BEGINs after them); a transaction whose BEGIN has
        // not been read has no place in commit order yet, and this BEGIN may belong to an earlier one.
        if (_lastBegun is { End: null } previous && previous != transaction)
        {
            previous.SupersededAt ??= Waited;
        }

        _lastBegun = transaction;
    }

    /// <summary>An END record arrived, with the transaction's counts.</summary>
    public void End(TransactionBoundary boundary) => TakeBoundary(boundary).End = boundary;

    /// <summary>What a BEGIN and an END record both do: hold the record's position until its
    /// transaction is applied, and note the record and the time on its transaction.</summary>
    private Transaction TakeBoundary(TransactionBoundary boundary)
    {
        ArgumentNullException.ThrowIfNull(boundary);
        Hold(boundary.Origin);
        var transaction = Find(boundary.TransactionKey);
        transaction.Boundaries.Add(boundary.Origin);
        transaction.Touched = Waited;
        return transaction;
    }

    /// <summary>A change arrived from member <paramref name="member"/>.</summary>
    public void Change(int member, ChangeEvent change)
    {
        ArgumentNullException.ThrowIfNull(change);
        Hold(change.Origin);
        Transaction transaction;
        if (change.Transaction is { } block)
        {
            transaction = Find(block.TransactionKey);
            Count(transaction, change);
        }
        else if (_order.Count > _head && _order[^1].Key is null)
        {
            transaction = _order[^1];
        }
        else
        {
            transaction = new Transaction(null, Waited);
            Queue(transaction);
        }

        transaction.Changes.Add(new HeldChange(member, change));
        transaction.Touched = Waited;
        Buffered++;
    }

    /// <summary>A change of a transaction that the sink already holds (replayed at or before a member's
    /// checkpoint after a restart): it counts toward its transaction's completion and is not applied again.</summary>
    public void Applied(ChangeEvent change)
    {
        ArgumentNullException.ThrowIfNull(change);
        if (change.Transaction is { } block)
        {
            Count(Find(block.TransactionKey), change);
        }
    }

    /// <summary>A message of <paramref name="stream"/> that holds nothing to apply (skipped, dead-lettered):
    /// the stream's checkpoint may pass it as soon as nothing before it is held.</summary>
    public void Passed(string stream, StreamPosition position) => Advance(stream, position);

    /// <summary>What can be applied now, in order.</summary>
    public IReadOnlyList<ReleasedTransaction> Release()
    {
        var now = Waited;
        var released = new List<ReleasedTransaction>();
        QueueUnbegun(now, force: false);
        while (true)
        {
            if (_head >= _order.Count)
            {
                if (Buffered > 0 && Buffered >= maxChanges && _unbegun.Count > 0)
                {
                    QueueUnbegun(now, force: true);
                    continue;
                }

                break;
            }

            var head = _order[_head];
            var reason = ReasonToRelease(head, now);
            if (reason is null)
            {
                break;
            }

            if (reason == TransactionRelease.Oversized && head.Changes.Count == 0)
            {
                // The oldest transaction's changes have not arrived while later ones filled the buffer:
                // the oldest later transaction that holds changes gives a part, keeping every place.
                var holder = _order.Skip(_head + 1).Concat(_unbegun).First(t => t.Changes.Count > 0);
                released.Add(Take(holder, reason.Value));
                continue;
            }

            released.Add(Take(head, reason.Value));
        }

        return released;
    }

    /// <summary>Everything held, in order, as it stands (<see cref="TransactionRelease.Timeout"/> for what is
    /// incomplete): for a source that has ended, where nothing more of any transaction can come.</summary>
    public IReadOnlyList<ReleasedTransaction> Drain()
    {
        var released = new List<ReleasedTransaction>(Release());
        foreach (var transaction in _order.Skip(_head).Concat(_unbegun).ToList())
        {
            released.Add(Take(transaction, IsComplete(transaction) ? TransactionRelease.Complete : TransactionRelease.Timeout));
        }

        return released;
    }

    /// <summary>Per stream, the position a checkpoint may hold: the newest released (or passed) message
    /// with no held message before it.</summary>
    public IReadOnlyDictionary<string, StreamPosition> Checkpointable()
    {
        var result = new Dictionary<string, StreamPosition>(StringComparer.Ordinal);
        foreach (var (stream, position) in _passed)
        {
            if (!_held.TryGetValue(stream, out var held) || held.Count == 0 || held.First().Key > position)
            {
                result[stream] = position;
            }
        }

        return result;
    }

    private TransactionRelease? ReasonToRelease(Transaction head, TimeSpan now)
    {
        if (head.Key is null)
        {
            return TransactionRelease.NoMetadata;
        }

        if (IsComplete(head))
        {
            return TransactionRelease.Complete;
        }

        if (Buffered >= maxChanges)
        {
            return TransactionRelease.Oversized;
        }

        if (head.End is null && head.SupersededAt is { } superseded
            && (now - superseded >= endTimeout || _order.Skip(_head + 1).Any(t => t.Key is not null && IsComplete(t))))
        {
            return TransactionRelease.MissingEnd;
        }

        return now - head.Touched >= endTimeout ? TransactionRelease.Timeout : null;
    }

    private ReleasedTransaction Take(Transaction head, TransactionRelease reason)
    {
        var changes = head.Changes.ToList();
        foreach (var held in changes)
        {
            Release(held.Change.Origin);
        }

        Buffered -= changes.Count;
        head.Changes.Clear();
        var boundaries = head.Boundaries.ToList();
        head.Boundaries.Clear();
        foreach (var boundary in boundaries)
        {
            Release(boundary);
        }

        // A part of an open transaction (oversized, not complete yet) keeps its place for the rest.
        if (reason != TransactionRelease.Oversized || IsComplete(head))
        {
            if (_order.IndexOf(head, _head) == _head)
            {
                _head++;
            }
            else
            {
                _order.Remove(head);
                Unqueue(head);
            }

            if (head.Key is not null)
            {
                _byKey.Remove(head.Key);
            }

            if (_head > 64 && _head * 2 > _order.Count)
            {
                _order.RemoveRange(0, _head);
                _head = 0;
            }
        }

        return new ReleasedTransaction(head.Key, changes, boundaries, reason);
    }

    private bool IsComplete(Transaction transaction)
    {
        if (transaction.End is not { } end)
        {
            return false;
        }

        foreach (var collection in end.DataCollections)
        {
            if (Counts(collection.DataCollection) && transaction.Received.GetValueOrDefault(collection.DataCollection) < collection.EventCount)
            {
                return false;
            }
        }

        return true;
    }

    private bool Counts(string collection)
    {
        if (!_counted.TryGetValue(collection, out var counts))
        {
            _counted[collection] = counts = countsCollection(collection);
        }

        return counts;
    }

    private static void Count(Transaction transaction, ChangeEvent change)
    {
        var collection = CollectionOf(change);
        transaction.Received[collection] = transaction.Received.GetValueOrDefault(collection) + 1;
    }

    /// <summary>The table as Debezium names it in <c>data_collections</c>: <c>DataCollectionId.toString()</c>,
    /// <c>schema.table</c> for PostgreSQL and SQL Server's schema-qualified ids, <c>db.table</c> for MySQL
    /// (debezium/debezium <c>pipeline/txmetadata/TransactionContext.event</c>, <c>relational/TableId.java</c>).</summary>
    public static string CollectionOf(ChangeEvent change)
    {
        ArgumentNullException.ThrowIfNull(change);
        var source = change.Source;
        var container = string.IsNullOrEmpty(source?.Schema) ? source?.Db : source.Schema;
        return container is null ? source?.Table ?? change.Origin.Topic : $"{container}.{source!.Table}";
    }

    private Transaction Find(string key)
    {
        if (!_byKey.TryGetValue(key, out var transaction))
        {
            transaction = new Transaction(key, Waited);
            _byKey[key] = transaction;
            transaction.Unbegun = _unbegun.AddLast(transaction);
        }

        return transaction;
    }

    private void Queue(Transaction transaction)
    {
        transaction.Begun = true;
        Unqueue(transaction);
        _order.Add(transaction);
    }

    /// <summary>Transactions whose BEGIN did not come within <c>endTimeout</c> (counted while caught up with
    /// the transaction topic) of their first record queue as if it had (oldest first); with
    /// <paramref name="force"/>, the oldest one at once. The list is in the order the transactions were
    /// first seen, so it is looked at only up to the first one that has not waited that long: with the
    /// tables' topics ahead of the transaction topic it holds thousands, and this runs at every release.</summary>
    private void QueueUnbegun(TimeSpan now, bool force)
    {
        while (_unbegun.First is { } node && (force || now - node.Value.Created >= endTimeout))
        {
            Queue(node.Value);
            if (force)
            {
                return;
            }
        }
    }

    /// <summary>Takes a transaction off the list of those seen before their BEGIN, in constant time:
    /// when the tables' topics run ahead of the transaction topic, thousands wait there, and a search
    /// of the list per BEGIN was the largest cost left in a group's profile.</summary>
    private void Unqueue(Transaction transaction)
    {
        if (transaction.Unbegun is { } node)
        {
            _unbegun.Remove(node);
            transaction.Unbegun = null;
        }
    }

    private void Hold(Origin origin)
    {
        if (!_held.TryGetValue(origin.Topic, out var held))
        {
            _held[origin.Topic] = held = [];
        }

        held[origin.Position] = held.GetValueOrDefault(origin.Position) + 1;
    }

    private void Release(Origin origin)
    {
        if (_held.TryGetValue(origin.Topic, out var held) && held.TryGetValue(origin.Position, out var count))
        {
            if (count <= 1)
            {
                held.Remove(origin.Position);
            }
            else
            {
                held[origin.Position] = count - 1;
            }
        }

        Advance(origin.Topic, origin.Position);
    }

    private void Advance(string stream, StreamPosition position)
    {
        if (!_passed.TryGetValue(stream, out var passed) || passed < position)
        {
            _passed[stream] = position;
        }
    }

    /// <param name="created">On the clock of <c>endTimeout</c> (<see cref="Waited"/>), as every time here.</param>
    private sealed class Transaction(string? key, TimeSpan created)
    {
        public string? Key { get; } = key;

        /// <summary>Queued in commit order (its BEGIN read, or endTimeout passed without it).</summary>
        public bool Begun { get; set; }

        /// <summary>Its BEGIN record was read.</summary>
        public bool BeginRead { get; set; }

        /// <summary>Its place in the list of transactions seen before their BEGIN, while it is there.</summary>
        public LinkedListNode<Transaction>? Unbegun { get; set; }

        public TransactionBoundary? End { get; set; }

        public List<HeldChange> Changes { get; } = [];

        public List<Origin> Boundaries { get; } = [];

        public Dictionary<string, long> Received { get; } = new(StringComparer.Ordinal);

        public TimeSpan Created { get; } = created;

        public TimeSpan Touched { get; set; } = created;

        public TimeSpan? SupersededAt { get; set; }
    }
}
