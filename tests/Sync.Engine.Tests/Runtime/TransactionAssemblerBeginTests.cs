namespace Sync.Engine.Tests.Runtime;

/// <summary>A BEGIN marks every earlier transaction still without END as never getting one (Debezium
/// ends a transaction before it begins the next: debezium/debezium <c>pipeline/txmetadata/TransactionMonitor.java</c>),
/// however many BEGINs came between and however the earlier one was queued. Shapes as in
/// <see cref="TransactionAssemblerTests"/>.</summary>
public class TransactionAssemblerBeginTests
{
    private const string Prefix = "persistent://public/default/pg.";
    private const string TxTopic = Prefix + "transaction";

    private readonly Sync.Testing.Pulsar.ManualTimeProvider _time = new(new DateTimeOffset(2026, 12, 7, 3, 0, 0, TimeSpan.Zero));

    private TransactionAssembler Assembler() => new(10_000, TimeSpan.FromSeconds(30), collection => collection == "public.orders", _time);

    internal static TransactionBoundary Begin(long tx, long position) =>
        new(TransactionStatus.Begin, $"{tx}:{position * 10}", null, [], null, new Origin { Topic = TxTopic, Position = new StreamPosition(0, position) });

    internal static TransactionBoundary End(long tx, long position, long count) =>
        new(TransactionStatus.End, $"{tx}:{(position * 10) + 1}", count, [new DataCollectionCount("public.orders", count)], null,
            new Origin { Topic = TxTopic, Position = new StreamPosition(0, position) });

    internal static ChangeEvent Row(long position, long tx) => new()
    {
        Op = ChangeOp.Create,
        Key = new Row(["id"], [FieldValue.FromInt64(position)]),
        After = new Row(["id"], [FieldValue.FromInt64(position)]),
        Source = new SourceInfo { Connector = "postgresql", Schema = "public", Table = "orders", Lsn = position, TxId = tx.ToString(CultureInfo.InvariantCulture) },
        Origin = new Origin { Topic = Prefix + "public.orders", Position = new StreamPosition(0, position) },
        Transaction = new TransactionBlock($"{tx}:{position}", 1, 1),
    };

    [Fact]
    public void A_transaction_queued_before_its_own_begin_is_still_superseded_by_the_next_begin()
    {
        var assembler = Assembler();
        assembler.Change(0, Row(1, 20));
        _time.Advance(TimeSpan.FromSeconds(20));
        assembler.Change(0, Row(2, 20));
        _time.Advance(TimeSpan.FromSeconds(11));
        // Its BEGIN did not come within endTimeout of its first change: it queues as if it had (and it
        // received a change within endTimeout, so it is not released by the timeout rule).
        Assert.Empty(assembler.Release());

        assembler.Begin(Begin(20, 1));
        assembler.Begin(Begin(21, 2));
        assembler.Change(0, Row(3, 21));
        assembler.End(End(21, 3, 1));

        Assert.Equal([("20", TransactionRelease.MissingEnd), ("21", TransactionRelease.Complete)], assembler.Release().Select(r => (r.Key, r.Reason)));
    }

    [Fact]
    public void Many_whole_transactions_held_together_are_released_whole_in_order()
    {
        var assembler = Assembler();
        // Every BEGIN and END first (the transaction topic read far ahead), then the changes.
        for (var tx = 1; tx <= 3000; tx++)
        {
            assembler.Begin(Begin(tx, (tx * 2) - 1));
            assembler.End(End(tx, tx * 2, 1));
        }

        Assert.Empty(assembler.Release());
        for (var tx = 3000; tx >= 1; tx--)
        {
            assembler.Change(0, Row(tx, tx));
        }

        var released = assembler.Release();

        Assert.Equal(3000, released.Count);
        Assert.All(released, r => Assert.Equal(TransactionRelease.Complete, r.Reason));
        Assert.Equal(Enumerable.Range(1, 3000).Select(tx => tx.ToString(CultureInfo.InvariantCulture)), released.Select(r => r.Key));
    }

    [Fact]
    public void A_begun_transaction_without_end_is_superseded_after_many_complete_ones()
    {
        var assembler = Assembler();
        assembler.Begin(Begin(1, 1));
        assembler.Change(0, Row(1, 1));
        for (var tx = 2; tx <= 50; tx++)
        {
            assembler.Begin(Begin(tx, (tx * 2) - 1));
            assembler.End(End(tx, tx * 2, 0));
        }

        var released = assembler.Release();

        Assert.Equal(("1", TransactionRelease.MissingEnd), (released[0].Key, released[0].Reason));
        Assert.Equal(50, released.Count);
    }
}
