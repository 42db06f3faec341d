using static Sync.Engine.Tests.Runtime.TransactionAssemblerBeginTests;

namespace Sync.Engine.Tests.Runtime;

/// <summary>A transaction is given up on only for a real reason, not because the group is slow.
/// Debezium writes a BEGIN and an END record per transaction to the transaction topic
/// (https://debezium.io/documentation/reference/stable/connectors/postgresql.html#postgresql-transaction-metadata),
/// in the order it streams transactions, which for PostgreSQL is commit order (logical decoding sends a
/// transaction when it commits), and it ends one transaction before it begins the next
/// (debezium/debezium <c>pipeline/txmetadata/TransactionMonitor.java</c>). So a BEGIN tells that every
/// transaction whose BEGIN came before it, and that has no END yet, never gets one; it tells nothing of a
/// transaction whose BEGIN has not been read. Records as in <see cref="TransactionAssemblerBeginTests"/>.</summary>
public class TransactionAssemblerWaitTests
{
    private static readonly TimeSpan EndTimeout = TimeSpan.FromSeconds(30);

    private readonly Sync.Testing.Pulsar.ManualTimeProvider _time = new(new DateTimeOffset(2026, 12, 7, 4, 0, 0, TimeSpan.Zero));

    private TransactionAssembler Assembler() => new(10_000, EndTimeout, collection => collection == "public.orders", _time);

    [Fact]
    public void A_later_transaction_queued_before_its_begin_is_not_superseded_by_the_begin_of_an_earlier_one()
    {
        var assembler = Assembler();
        // Transaction 8's changes (the tables' topic read ahead) wait for its BEGIN longer than endTimeout;
        // a change within endTimeout keeps the timeout rule away.
        assembler.Change(0, Row(81, 8));
        _time.Advance(TimeSpan.FromSeconds(20));
        assembler.Change(0, Row(82, 8));
        _time.Advance(TimeSpan.FromSeconds(11));
        Assert.Empty(assembler.Release());

        // Then the transaction topic catches up: 7 comes first in commit order, then 8, both with their END.
        var released = new List<ReleasedTransaction>();
        assembler.Begin(Begin(7, 1));
        released.AddRange(assembler.Release());
        assembler.Change(0, Row(71, 7));
        released.AddRange(assembler.Release());
        assembler.End(End(7, 2, 1));
        released.AddRange(assembler.Release());
        assembler.Begin(Begin(8, 3));
        released.AddRange(assembler.Release());
        assembler.End(End(8, 4, 2));
        released.AddRange(assembler.Release());

        Assert.Equal([("7", TransactionRelease.Complete, 1), ("8", TransactionRelease.Complete, 2)], released.Select(r => (r.Key, r.Reason, r.Changes.Count)));
    }

    [Fact]
    public void Changes_long_before_their_begin_while_the_transaction_topic_is_behind_are_applied_whole_in_commit_order()
    {
        var assembler = Assembler();
        assembler.TransactionTopicCaughtUp = false;
        var released = new List<ReleasedTransaction>();
        // The tables' topic runs ahead: every change of transactions 1..50 arrives first, while the clock
        // moves far past endTimeout and BEGINs (and ENDs) of the earliest transactions trickle in.
        for (var tx = 1; tx <= 50; tx++)
        {
            assembler.Change(0, Row(tx * 10, tx));
            assembler.Change(0, Row((tx * 10) + 1, tx));
            _time.Advance(TimeSpan.FromSeconds(7));
            if (tx % 10 == 0)
            {
                var early = tx / 10;
                assembler.Begin(Begin(early, (early * 2) - 1));
                assembler.End(End(early, early * 2, 2));
            }

            released.AddRange(assembler.Release());
        }

        for (var tx = 6; tx <= 50; tx++)
        {
            assembler.Begin(Begin(tx, (tx * 2) - 1));
            released.AddRange(assembler.Release());
            _time.Advance(TimeSpan.FromSeconds(7));
            assembler.End(End(tx, tx * 2, 2));
            released.AddRange(assembler.Release());
        }

        Assert.DoesNotContain(released, r => r.Relaxed);
        Assert.Equal(Enumerable.Range(1, 50).Select(tx => tx.ToString(CultureInfo.InvariantCulture)), released.Select(r => r.Key));
        Assert.All(released, r => Assert.Equal(2, r.Changes.Count));
    }

    [Fact]
    public void A_missing_end_is_still_resolved_by_the_next_begin_while_the_transaction_topic_is_behind()
    {
        var assembler = Assembler();
        assembler.TransactionTopicCaughtUp = false;
        // The connector restarted in transaction 3: BEGIN and one of its changes, never its END, then 4.
        assembler.Begin(Begin(3, 1));
        assembler.Change(0, Row(31, 3));
        Assert.Empty(assembler.Release());
        assembler.Begin(Begin(4, 2));
        assembler.Change(0, Row(41, 4));
        assembler.End(End(4, 3, 1));

        Assert.Equal([("3", TransactionRelease.MissingEnd), ("4", TransactionRelease.Complete)], assembler.Release().Select(r => (r.Key, r.Reason)));
    }

    [Fact]
    public void A_silent_transaction_topic_counts_toward_endTimeout_only_while_the_group_has_caught_up_with_it()
    {
        var assembler = Assembler();
        assembler.Begin(Begin(5, 1));
        assembler.Change(0, Row(51, 5));
        assembler.Change(0, Row(61, 6));

        // Behind on the transaction topic: no wait counts, however long.
        assembler.TransactionTopicCaughtUp = false;
        _time.Advance(TimeSpan.FromMinutes(10));
        Assert.Empty(assembler.Release());

        // Caught up, and nothing more comes: transaction 5 (no END) and 6 (no BEGIN) are resolved.
        assembler.TransactionTopicCaughtUp = true;
        _time.Advance(EndTimeout - TimeSpan.FromSeconds(1));
        Assert.Empty(assembler.Release());
        _time.Advance(TimeSpan.FromSeconds(1));
        var first = assembler.Release();
        _time.Advance(EndTimeout);
        var released = first.Concat(assembler.Release()).ToList();

        Assert.Equal([("5", TransactionRelease.Timeout), ("6", TransactionRelease.Timeout)], released.Select(r => (r.Key, r.Reason)));
        Assert.Equal(0, assembler.Buffered);
    }
}
