using FsCheck;
using FsCheck.Xunit;
using Sync.Testing.Pulsar;

namespace Sync.Engine.Tests.Runtime;

/// <summary>The consistency group's buffer releases whole source transactions in commit order, whatever
/// the interleaving of the topics, and relaxes only by its documented rules (size limit, missing END,
/// timeout). Shapes as Debezium writes them with <c>provide.transaction.metadata=true</c>: BEGIN and END
/// on <c>&lt;prefix&gt;.transaction</c>, END with <c>event_count</c> and per-table <c>data_collections</c>,
/// a <c>transaction</c> block <c>{id, total_order, data_collection_order}</c> in each change, PostgreSQL
/// ids <c>txId:LSN</c> (debezium/debezium <c>pipeline/txmetadata/AbstractTransactionStructMaker.java</c>,
/// <c>TransactionMonitor.java</c>, <c>debezium-connector-postgres/.../PostgresTransactionMonitor.java</c>;
/// postgresql.adoc "Transaction metadata"). Each table's topic holds its changes in commit order and the
/// transaction topic holds END before the next BEGIN (TransactionMonitor.dataEvent).</summary>
public class TransactionAssemblerTests
{
    private const string Prefix = "persistent://public/default/pg.";
    private const string TxTopic = Prefix + "transaction";
    private static readonly string[] Tables = ["public.orders", "public.order_lines"];

    private readonly ManualTimeProvider _time = new(new DateTimeOffset(2026, 12, 6, 12, 0, 0, TimeSpan.Zero));

    private TransactionAssembler Assembler(int max = 10_000) =>
        new(max, TimeSpan.FromSeconds(30), collection => Tables.Contains(collection), _time);

    private static TransactionBoundary Begin(long tx, long position) =>
        new(TransactionStatus.Begin, $"{tx}:{position * 10}", null, [], null, new Origin { Topic = TxTopic, Position = new StreamPosition(0, position) });

    private static TransactionBoundary End(long tx, long position, params (string Table, long Count)[] counts) =>
        new(TransactionStatus.End, $"{tx}:{(position * 10) + 1}", counts.Sum(c => c.Count), [.. counts.Select(c => new DataCollectionCount(c.Table, c.Count))], null,
            new Origin { Topic = TxTopic, Position = new StreamPosition(0, position) });

    private static ChangeEvent Row(string table, long position, long? tx, long order = 1) => new()
    {
        Op = ChangeOp.Create,
        Key = new Row(["id"], [FieldValue.FromInt64(position)]),
        After = new Row(["id"], [FieldValue.FromInt64(position)]),
        Source = new SourceInfo { Connector = "postgresql", Schema = table.Split('.')[0], Table = table.Split('.')[1], Lsn = position, TxId = tx?.ToString(CultureInfo.InvariantCulture) },
        Origin = new Origin { Topic = Prefix + table, Position = new StreamPosition(0, position) },
        Transaction = tx is { } id ? new TransactionBlock($"{id}:{position}", order, order) : null,
    };

    [Fact]
    public void A_transaction_is_released_whole_once_its_end_and_every_counted_change_arrived()
    {
        var assembler = Assembler();
        assembler.Change(1, Row("public.order_lines", 1, 571));
        assembler.Begin(Begin(571, 1));
        assembler.Change(0, Row("public.orders", 1, 571));
        Assert.Empty(assembler.Release());
        assembler.End(End(571, 2, ("public.orders", 1), ("public.order_lines", 2)));
        Assert.Empty(assembler.Release());

        assembler.Change(1, Row("public.order_lines", 2, 571));
        var released = Assert.Single(assembler.Release());

        Assert.Equal(TransactionRelease.Complete, released.Reason);
        Assert.Equal("571", released.Key);
        Assert.Equal(3, released.Changes.Count);
        Assert.Equal(2, released.Boundaries.Count);
        Assert.Equal(0, assembler.Buffered);
    }

    [Fact]
    public void Tables_the_group_does_not_read_are_not_waited_for()
    {
        var assembler = Assembler();
        assembler.Begin(Begin(7, 1));
        assembler.Change(0, Row("public.orders", 1, 7));
        assembler.End(End(7, 2, ("public.orders", 1), ("public.audit", 5)));

        Assert.Equal(TransactionRelease.Complete, Assert.Single(assembler.Release()).Reason);
    }

    [Fact]
    public void Changes_without_metadata_are_released_after_what_arrived_before_them()
    {
        var assembler = Assembler();
        assembler.Change(0, Row("public.orders", 1, null));
        assembler.Change(0, Row("public.orders", 2, null));
        var released = Assert.Single(assembler.Release());
        Assert.Equal(TransactionRelease.NoMetadata, released.Reason);
        Assert.Equal(2, released.Changes.Count);

        assembler.Begin(Begin(8, 1));
        assembler.Change(0, Row("public.orders", 3, 8));
        assembler.Change(1, Row("public.order_lines", 1, null));
        Assert.Empty(assembler.Release());
    }

    [Fact]
    public void A_transaction_over_the_limit_is_applied_in_parts_marked_relaxed()
    {
        var assembler = Assembler(max: 3);
        assembler.Begin(Begin(9, 1));
        for (var i = 1; i <= 3; i++)
        {
            assembler.Change(0, Row("public.orders", i, 9, i));
        }

        var first = Assert.Single(assembler.Release());
        Assert.Equal(TransactionRelease.Oversized, first.Reason);
        Assert.True(first.Relaxed);
        Assert.Equal(3, first.Changes.Count);

        assembler.Change(0, Row("public.orders", 4, 9, 4));
        assembler.End(End(9, 2, ("public.orders", 4)));
        var rest = Assert.Single(assembler.Release());
        Assert.Equal(TransactionRelease.Complete, rest.Reason);
        Assert.Single(rest.Changes);
    }

    [Fact]
    public void At_the_limit_with_the_oldest_transaction_still_empty_a_later_one_gives_a_part_and_keeps_its_place()
    {
        var assembler = Assembler(max: 2);
        assembler.Begin(Begin(20, 1));
        assembler.Begin(Begin(21, 2));
        assembler.Change(0, Row("public.orders", 1, 21, 1));
        assembler.Change(0, Row("public.orders", 2, 21, 2));

        var part = Assert.Single(assembler.Release());
        Assert.Equal(("21", TransactionRelease.Oversized), (part.Key, part.Reason));

        // 20 is still first: its change and END release it, then 21 completes after it.
        assembler.Change(1, Row("public.order_lines", 1, 20));
        assembler.End(End(20, 3, ("public.order_lines", 1)));
        assembler.End(End(21, 4, ("public.orders", 2)));
        Assert.Equal([("20", TransactionRelease.Complete), ("21", TransactionRelease.Complete)], assembler.Release().Select(r => (r.Key, r.Reason)));
    }

    [Fact]
    public void When_the_source_ends_everything_held_is_released_in_order()
    {
        var assembler = Assembler();
        assembler.Begin(Begin(22, 1));
        assembler.Change(0, Row("public.orders", 1, 22));
        assembler.Change(1, Row("public.order_lines", 1, 23));

        Assert.Equal([("22", TransactionRelease.Timeout), ("23", TransactionRelease.Timeout)], assembler.Drain().Select(r => (r.Key, r.Reason)));
        Assert.Equal(0, assembler.Buffered);
        Assert.False(assembler.HoldsAny);
    }

    [Fact]
    public void A_transaction_without_end_is_released_when_a_later_one_is_complete()
    {
        var assembler = Assembler();
        assembler.Begin(Begin(10, 1));
        assembler.Change(0, Row("public.orders", 1, 10));
        assembler.Begin(Begin(11, 2));
        assembler.Change(0, Row("public.orders", 2, 11));
        Assert.Empty(assembler.Release());

        assembler.End(End(11, 3, ("public.orders", 1)));
        var released = assembler.Release();

        Assert.Equal([TransactionRelease.MissingEnd, TransactionRelease.Complete], released.Select(r => r.Reason));
        Assert.Equal(["10", "11"], released.Select(r => r.Key));
    }

    [Fact]
    public void A_transaction_without_end_is_released_end_timeout_after_a_later_begin()
    {
        var assembler = Assembler();
        assembler.Begin(Begin(12, 1));
        assembler.Change(0, Row("public.orders", 1, 12));
        assembler.Begin(Begin(13, 2));
        _time.Advance(TimeSpan.FromSeconds(29));
        Assert.Empty(assembler.Release());

        _time.Advance(TimeSpan.FromSeconds(1));
        // 13, which received nothing since its BEGIN either, goes by the timeout rule right after.
        Assert.Equal([("12", TransactionRelease.MissingEnd), ("13", TransactionRelease.Timeout)], assembler.Release().Select(r => (r.Key, r.Reason)));
    }

    [Fact]
    public void An_incomplete_transaction_that_receives_nothing_is_released_after_the_timeout()
    {
        var assembler = Assembler();
        assembler.Begin(Begin(14, 1));
        assembler.Change(0, Row("public.orders", 1, 14));
        assembler.End(End(14, 2, ("public.orders", 2)));
        _time.Advance(TimeSpan.FromSeconds(29));
        Assert.Empty(assembler.Release());

        _time.Advance(TimeSpan.FromSeconds(1));
        var released = Assert.Single(assembler.Release());
        Assert.Equal(TransactionRelease.Timeout, released.Reason);
        Assert.True(released.Relaxed);
    }

    [Fact]
    public void A_stream_checkpoint_never_passes_a_held_change()
    {
        var assembler = Assembler();
        assembler.Begin(Begin(15, 1));
        assembler.Change(0, Row("public.orders", 1, 15));
        assembler.End(End(15, 2, ("public.orders", 1)));
        assembler.Begin(Begin(16, 3));
        assembler.Change(0, Row("public.orders", 2, 16));
        Assert.Single(assembler.Release());

        var checkpoint = assembler.Checkpointable();

        Assert.Equal(new StreamPosition(0, 1), checkpoint[Prefix + "public.orders"]);
        // The transaction topic may pass END 15 (position 2) but not BEGIN 16 (position 3).
        Assert.Equal(new StreamPosition(0, 2), checkpoint[TxTopic]);
    }

    [Fact]
    public void Changes_already_applied_before_a_restart_count_toward_completion()
    {
        var assembler = Assembler();
        assembler.Begin(Begin(17, 1));
        assembler.Applied(Row("public.orders", 1, 17));
        assembler.Change(1, Row("public.order_lines", 1, 17));
        assembler.End(End(17, 2, ("public.orders", 1), ("public.order_lines", 1)));

        var released = Assert.Single(assembler.Release());
        Assert.Equal(TransactionRelease.Complete, released.Reason);
        Assert.Single(released.Changes);
    }

    /// <summary>Random transactions over two tables, emitted as Debezium emits them, read through any
    /// interleaving of the three topics that keeps each topic's order: every release is one whole
    /// transaction, in commit order, and nothing is left.</summary>
    [Property(MaxTest = 300)]
    public bool Any_interleaving_releases_whole_transactions_in_commit_order(PositiveInt[] sizes, int seed)
    {
        var random = new Random(seed);
        var transactions = sizes.Take(20).Select(s => s.Get % 6).ToList();
        var streams = new List<Queue<Action<TransactionAssembler>>> { new(), new(), new() };
        var expected = new List<(string Key, int Count)>();
        long txPosition = 0, orders = 0, lines = 0;
        for (var t = 0; t < transactions.Count; t++)
        {
            var tx = 1000 + t;
            var onOrders = transactions[t] == 0 ? 0 : random.Next(transactions[t] + 1);
            var onLines = transactions[t] - onOrders;
            var begin = Begin(tx, ++txPosition);
            streams[0].Enqueue(a => a.Begin(begin));
            for (var i = 0; i < onOrders; i++)
            {
                var change = Row("public.orders", ++orders, tx, i + 1);
                streams[1].Enqueue(a => a.Change(0, change));
            }

            for (var i = 0; i < onLines; i++)
            {
                var change = Row("public.order_lines", ++lines, tx, onOrders + i + 1);
                streams[2].Enqueue(a => a.Change(1, change));
            }

            var counts = new List<(string, long)>();
            if (onOrders > 0)
            {
                counts.Add(("public.orders", onOrders));
            }

            if (onLines > 0)
            {
                counts.Add(("public.order_lines", onLines));
            }

            var end = End(tx, ++txPosition, [.. counts]);
            streams[0].Enqueue(a => a.End(end));
            expected.Add((tx.ToString(CultureInfo.InvariantCulture), transactions[t]));
        }

        var assembler = Assembler();
        var released = new List<ReleasedTransaction>();
        while (streams.Any(s => s.Count > 0))
        {
            var open = streams.Where(s => s.Count > 0).ToList();
            open[random.Next(open.Count)].Dequeue()(assembler);
            released.AddRange(assembler.Release());
        }

        return released.All(r => r.Reason == TransactionRelease.Complete)
            && released.Select(r => (r.Key!, r.Changes.Count)).SequenceEqual(expected)
            && assembler.Buffered == 0
            && assembler.Checkpointable().Count == (orders > 0 ? 1 : 0) + (lines > 0 ? 1 : 0) + (transactions.Count > 0 ? 1 : 0);
    }
}
