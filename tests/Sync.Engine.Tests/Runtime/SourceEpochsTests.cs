using Sync.Testing.Changes;

namespace Sync.Engine.Tests.Runtime;

/// <summary>The epoch rule on a stream's history. Snapshot markers per Debezium version, from
/// debezium/debezium debezium-core/src/main/java/io/debezium/connector/SnapshotRecord.java: 1.x writes
/// true/last/false (the oldest versions a boolean), 2.x adds first, first_in_data_collection,
/// last_in_data_collection; incremental snapshot chunks carry "incremental".</summary>
public sealed class SourceEpochsTests
{
    private static ChangeEvent Marked(ChangeEvent change, string? marker) => new()
    {
        Op = marker is null or "false" or "incremental" ? change.Op : ChangeOp.Read,
        Key = change.Key,
        After = change.After,
        Source = change.Source! with { Snapshot = marker },
        Origin = change.Origin,
    };

    private static long? Order(SourceEpochs epochs, long lsn, string? marker, out EpochTransition transition) =>
        epochs.Apply(Marked(Change.Upsert(("id", 1), lsn, ("name", "a")), marker), out transition).Source!.Lsn;

    /// <summary>A heal replays a stream from the position a rolled-back sink still holds, starting
    /// from the epoch state stored with that position: for any history, stopping anywhere, storing the
    /// state as a checkpoint and going on from it must order every later change exactly as one pass does.</summary>
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    public void Going_on_from_the_state_stored_at_any_point_orders_the_rest_of_the_history_as_one_pass_does(int seed)
    {
        var random = new Random(seed);
        string[] markers = ["false", "false", "false", "true", "first", "last", "incremental", "first_in_data_collection", "last_in_data_collection"];
        var lsn = 1_000L;
        var history = new List<(long Lsn, string Marker)>();
        for (var i = 0; i < 200; i++)
        {
            // Mostly forward; now and then a source that went back in time, by a little or by far.
            lsn = random.Next(20) == 0 ? Math.Max(1, lsn - random.NextInt64(1, 1L << 32)) : lsn + random.Next(1, 50);
            history.Add((lsn, markers[random.Next(markers.Length)]));
        }

        var onePass = new SourceEpochs();
        var expected = history.Select(h => Order(onePass, h.Lsn, h.Marker, out _)).ToList();

        for (var stop = 0; stop <= history.Count; stop += 7)
        {
            var first = new SourceEpochs();
            foreach (var (order, marker) in history.Take(stop))
            {
                Order(first, order, marker, out _);
            }

            var checkpoint = new Dictionary<string, StreamPosition>(StringComparer.Ordinal);
            first.WriteTo(checkpoint);
            var resumed = SourceEpochs.FromCheckpoint(checkpoint);
            var rest = history.Skip(stop).Select(h => Order(resumed, h.Lsn, h.Marker, out _)).ToList();

            Assert.Equal(expected.Skip(stop), rest);
        }
    }

    /// <summary>A backfill from an earlier position (<c>sync backfill --from</c>) or a dead letter reads
    /// changes again that the stored state has already passed: for any history, storing the state with
    /// the position it reached and reading again from any earlier position must order every change as the
    /// first pass did, those of earlier epochs in their own epoch (so none can overwrite a later epoch's
    /// state), and go on through the epochs past the stored position.</summary>
    [Theory]
    [InlineData(11)]
    [InlineData(12)]
    [InlineData(13)]
    [InlineData(14)]
    public void Reading_again_from_any_earlier_position_orders_every_change_as_the_first_pass_did(int seed)
    {
        var random = new Random(seed);
        // Snapshots now and then: fewer epochs than the starts kept (SourceEpochs.MaxHistory).
        string[] markers = [.. Enumerable.Repeat("false", 40), "true", "first", "last", "incremental"];
        var lsn = 1_000L;
        var history = new List<ChangeEvent>();
        for (var i = 0; i < 150; i++)
        {
            lsn = random.Next(15) == 0 ? Math.Max(1, lsn - random.NextInt64(1, 1L << 32)) : lsn + random.Next(1, 50);
            history.Add(Marked(Change.Upsert(("id", 1), lsn, ("name", "a")), markers[random.Next(markers.Length)]).At(i + 1));
        }

        var onePass = new SourceEpochs();
        var expected = history.Select(c => onePass.Apply(c, out _).Source!.Lsn).ToList();
        Assert.InRange(onePass.Of(Change.DefaultTopic).Epoch, 2, SourceEpochs.MaxHistory);

        for (var stop = 10; stop <= history.Count; stop += 35)
        {
            var first = new SourceEpochs();
            history.Take(stop).ToList().ForEach(c => first.Apply(c, out _));
            var checkpoint = new Dictionary<string, StreamPosition>(StringComparer.Ordinal) { [Change.DefaultTopic] = history[stop - 1].Origin.Position };
            first.WriteTo(checkpoint);

            for (var from = 0; from < stop; from += 9)
            {
                var again = SourceEpochs.FromCheckpoint(checkpoint);
                var orders = history.Skip(from).Select(c => again.Apply(c, out _).Source!.Lsn).ToList();
                Assert.Equal(expected.Skip(from), orders);
                Assert.Equal(expected.Skip(from).Take(stop - from), history.Skip(from).Take(stop - from).Select(c => again.InItsEpoch(c).Source!.Lsn));
            }
        }
    }

    /// <summary>On a shared or key-shared subscription each process sees part of the stream: a new
    /// snapshot after streaming does not start an epoch from the process's own view but asks for the
    /// processes' agreement, stored in the sink (SourceEpochs.Shared.cs). Where the sink cannot store it,
    /// the transition is refused once, the stream counts as gone back in time, nothing waits to be
    /// reconciled, and the orders stay bare; an ordered reader of the same history starts the epoch.</summary>
    [Fact]
    public void On_a_reader_that_sees_part_of_the_stream_an_epoch_waits_for_an_agreement_and_a_refusal_is_reported_once()
    {
        var shared = new SourceEpochs();
        long?[] history = [Shared(100, "last", out _), Shared(1000, "false", out _)];
        Assert.Equal([100L, 1000L], history);

        // The new snapshot needs epoch 1: the change waits, unordered, with a proposal above everything seen.
        Assert.Equal(950, Shared(950, "first", out var needs));
        Assert.Equal(EpochTransition.NeedsAgreement, needs);
        var proposal = shared.Pending!;
        Assert.Equal(1, proposal.Epoch);
        Assert.Equal(1000 + 1 + SourceEpochs.RegressionTolerance, proposal.Start);
        Assert.Equal(proposal.Start + SourceEpochs.RegressionTolerance, 950 + proposal.Offset);
        Assert.Equal(0, shared.Of(Change.DefaultTopic).Epoch);

        // A sink that cannot store the agreement: no epoch, the orders stay bare, reported once.
        var refused = Refuse(950, "first");
        var again = Refuse(950, "last");
        Assert.Equal(EpochTransition.Refused, refused);
        Assert.Equal(EpochTransition.None, again);
        var state = shared.Of(Change.DefaultTopic);
        Assert.Equal(0, state.Epoch);
        Assert.True(state.Has(EpochFlags.Regressed));
        Assert.False(state.Has(EpochFlags.ReconcilePending));

        var ordered = new SourceEpochs();
        Order(ordered, 100, "last", out _);
        Order(ordered, 1000, "false", out _);
        Order(ordered, 950, "first", out var started);
        Assert.Equal(EpochTransition.Started, started);

        long? Shared(long lsn, string marker, out EpochTransition transition) =>
            shared.Apply(Marked(Change.Upsert(("id", 1), lsn, ("name", "a")), marker), out transition, ordered: false).Source!.Lsn;

        EpochTransition Refuse(long lsn, string marker)
        {
            Assert.Equal(lsn, shared.Refuse(Marked(Change.Upsert(("id", 1), lsn, ("name", "a")), marker), out var transition).Source!.Lsn);
            return transition;
        }
    }

    /// <summary>Two processes of a shared subscription agree on the epoch through the stored entries: the
    /// second takes the first one's agreement (its own proposal differs) and orders the epoch alike; a
    /// change of the old history that reaches it late orders below the epoch's start.</summary>
    [Fact]
    public void Processes_of_a_shared_subscription_order_an_epoch_as_agreed()
    {
        var store = new Dictionary<string, StreamPosition>(StringComparer.Ordinal);
        var first = new SourceEpochs();
        var second = new SourceEpochs();
        Apply(first, Change.Upsert(("id", 1), 1000, ("name", "X")).At(3), "false");
        Apply(second, Change.Upsert(("id", 2), 400, ("name", "b")).At(2), "false");

        var a = Apply(first, Change.Upsert(("id", 1), 950, ("name", "Y")).At(5), "first");
        var lateOld = Apply(second, Change.Upsert(("id", 4), 990, ("name", "lost")).At(4), "false");
        var b = Apply(second, Change.Upsert(("id", 2), 950, ("name", "b")).At(6), "last");

        var agreed = first.Of(Change.DefaultTopic);
        Assert.Equal(1, agreed.Epoch);
        Assert.Equal(agreed, second.Of(Change.DefaultTopic) with { Max = agreed.Max, EpochLow = agreed.EpochLow, Floor = agreed.Floor });
        Assert.Equal(a, b);
        Assert.True(lateOld < agreed.Start);
        Assert.Equal([new SharedSweep(Change.DefaultTopic, 1, agreed.Start, new StreamPosition(0, 6))], second.SweepsDue());

        long Apply(SourceEpochs epochs, ChangeEvent change, string marker)
        {
            epochs.TakeAgreements(store);
            var ordered = epochs.Apply(Marked(change, marker), out var transition, ordered: false);
            if (transition == EpochTransition.NeedsAgreement)
            {
                foreach (var (name, value) in SourceEpochs.EntriesOf(epochs.Pending!))
                {
                    store.TryAdd(name, value);
                }

                epochs.TakeAgreements(store);
                ordered = epochs.Apply(Marked(change, marker), out _, ordered: false);
            }

            var written = new Dictionary<string, StreamPosition>(StringComparer.Ordinal);
            epochs.WriteTo(written);
            foreach (var (name, value) in written)
            {
                store[name] = value;
            }

            return ordered.Source!.Lsn!.Value;
        }
    }

    [Fact]
    public void The_initial_snapshot_and_streaming_keep_the_bare_orders_in_epoch_zero()
    {
        var epochs = new SourceEpochs();

        Assert.Equal(100, Order(epochs, 100, "first", out _));
        Assert.Equal(100, Order(epochs, 100, "last", out var ended));
        Assert.Equal(200, Order(epochs, 200, "false", out _));

        Assert.Equal(EpochTransition.None, ended);
        Assert.Equal(0, epochs.Of(Change.DefaultTopic).Epoch);
    }

    [Theory]
    [InlineData("true", "last")] // Debezium 1.x
    [InlineData("first", "last")] // 2.x, the whole snapshot
    [InlineData("first_in_data_collection", "last_in_data_collection")] // 2.x, one table of several
    public void A_full_snapshot_after_streaming_starts_an_epoch_above_everything_seen_and_its_end_asks_for_reconciliation(string first, string last)
    {
        var epochs = new SourceEpochs();
        Order(epochs, 100, "last", out _);
        Order(epochs, 1000, "false", out _);

        var snapshotted = Order(epochs, 950, first, out var started);
        var ended = Order(epochs, 950, last, out var completed);
        var streamed = Order(epochs, 940, "false", out _);

        Assert.Equal(EpochTransition.Started, started);
        Assert.Equal(EpochTransition.SnapshotCompleted, completed);
        Assert.True(snapshotted > 1000 && ended == snapshotted);
        // A transaction that began before the snapshot and committed after it: still above the old epoch.
        Assert.True(streamed > 1000 && streamed < snapshotted);
        var state = epochs.Of(Change.DefaultTopic);
        Assert.Equal(1, state.Epoch);
        Assert.Equal(1001, state.Start);
        Assert.True(state.Has(EpochFlags.ReconcilePending));
    }

    /// <summary>A failover or restore before anything was streamed: the new snapshot follows a completed one.</summary>
    [Theory]
    [InlineData("first", "last")] // 2.x
    [InlineData("true", "last")] // 1.x, the topic of the snapshot's last table
    [InlineData("first_in_data_collection", "last_in_data_collection")] // 2.x, one table of several
    public void A_snapshot_right_after_a_completed_snapshot_starts_an_epoch(string first, string last)
    {
        var epochs = new SourceEpochs();
        Order(epochs, 100, first, out _);
        Order(epochs, 100, last, out _);

        var snapshotted = Order(epochs, 90, first, out var started);
        Order(epochs, 90, last, out var completed);

        Assert.Equal(EpochTransition.Started, started);
        Assert.Equal(EpochTransition.SnapshotCompleted, completed);
        Assert.True(snapshotted > 100);
        Assert.Equal(1, epochs.Of(Change.DefaultTopic).Epoch);
    }

    [Fact]
    public void A_debezium_1_snapshot_of_another_table_ends_where_its_streaming_begins()
    {
        var epochs = new SourceEpochs();
        Order(epochs, 100, "true", out _);
        Order(epochs, 1000, "false", out _);
        Order(epochs, 950, "true", out _);

        Order(epochs, 960, "false", out var transition);

        Assert.Equal(EpochTransition.SnapshotCompleted, transition);
    }

    [Fact]
    public void An_incremental_snapshot_never_starts_an_epoch()
    {
        var epochs = new SourceEpochs();
        Order(epochs, 1000, "false", out _);

        Assert.Equal(900, Order(epochs, 900, "incremental", out var transition));
        Assert.Equal(EpochTransition.None, transition);
        Assert.Equal(0, epochs.Of(Change.DefaultTopic).Epoch);
    }

    [Fact]
    public void Orders_falling_far_below_outside_a_snapshot_are_reported_once_and_a_declared_bump_clears_it()
    {
        var epochs = new SourceEpochs();
        Order(epochs, 5_000_000_000_000, "false", out _);
        Order(epochs, 4_999_999_999_000, "false", out var small);

        Order(epochs, 30_000_000, "false", out var fell);
        Order(epochs, 30_000_100, "false", out var again);
        epochs.Declare(Change.DefaultTopic);
        var declared = Order(epochs, 30_000_200, "false", out var bumped);

        Assert.Equal(EpochTransition.None, small);
        Assert.Equal(EpochTransition.Regressed, fell);
        Assert.Equal(EpochTransition.None, again);
        Assert.Equal(EpochTransition.Declared, bumped);
        Assert.True(declared > 5_000_000_000_000);
        Assert.False(epochs.Of(Change.DefaultTopic).Has(EpochFlags.Regressed));
    }

    [Fact]
    public void The_state_round_trips_through_the_checkpoint_entries_which_the_positions_leave_out()
    {
        var epochs = new SourceEpochs();
        Order(epochs, 100, "last", out _);
        Order(epochs, 1000, "false", out _);
        Order(epochs, 950, "first", out _);
        var checkpoint = new Dictionary<string, StreamPosition> { [Change.DefaultTopic] = new(0, 7) };

        epochs.WriteTo(checkpoint);
        var restored = SourceEpochs.FromCheckpoint(checkpoint);

        Assert.Equal(epochs.Of(Change.DefaultTopic), restored.Of(Change.DefaultTopic));
        Assert.Equal([Change.DefaultTopic], SinkCheckpointGuard.PositionsOf(checkpoint).Keys);
        Assert.Equal(Order(epochs, 960, "false", out _), Order(restored, 960, "false", out _));
    }

    [Fact]
    public void An_order_that_does_not_fit_62_bits_with_its_offset_loses_its_order_rather_than_wrapping()
    {
        var epochs = new SourceEpochs();
        Order(epochs, (1L << 62) - 10, "false", out _);

        Assert.Null(Order(epochs, 5, "last", out var transition));
        Assert.Equal(EpochTransition.Overflow, transition);
    }

    /// <summary>A sink that cannot tell which stream wrote a row (Elasticsearch) sweeps below
    /// <see cref="SourceEpochs.SweepLimit"/> when a stream's new snapshot completes. For any interleaving
    /// of two streams' histories (snapshots, streaming, drops by a little or by far), no row a stream
    /// still holds live lies below it: live means the key's last change, unless a later epoch of that stream
    /// completed a snapshot that did not hold the key.</summary>
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    [InlineData(6)]
    public void No_live_row_of_any_stream_lies_below_the_sweep_limit_of_a_shared_target(int seed)
    {
        var random = new Random(seed);
        string[] streams = ["t-partition-0", "t-partition-1"];
        string[] markers = ["false", "false", "false", "false", "first", "true", "last", "incremental", "last_in_data_collection"];
        var lsn = streams.ToDictionary(s => s, _ => 1_000L);
        // Per row: its order and the epoch of its stream that wrote it; per stream: the epoch whose snapshot completed.
        var rows = new Dictionary<(string Stream, int Key), (long Order, int Epoch)>();
        var completed = new Dictionary<string, int>();
        var epochs = new SourceEpochs();
        var sweeps = 0;
        for (var i = 0; i < 400; i++)
        {
            var stream = streams[random.Next(streams.Length)];
            lsn[stream] = random.Next(25) == 0 ? Math.Max(1, lsn[stream] - random.NextInt64(1, 1L << 32)) : lsn[stream] + random.Next(1, 50);
            var key = random.Next(8);
            var change = Marked(Change.Upsert(("id", key), lsn[stream], ("name", "a")), markers[random.Next(markers.Length)]).OnTopic(stream);
            var order = epochs.Apply(change, out _).Source!.Lsn;
            var state = epochs.Of(stream);
            if (state.Has(EpochFlags.ReconcilePending))
            {
                completed[stream] = state.Epoch;
            }

            if (order is { } written)
            {
                rows[(stream, key)] = (written, state.Epoch);
            }

            foreach (var (pending, _) in epochs.Streams.Where(s => s.Value.Has(EpochFlags.ReconcilePending)).ToList())
            {
                var limit = epochs.SweepLimit(pending, streams);
                var live = rows.Where(r => !(completed.TryGetValue(r.Key.Stream, out var done) && r.Value.Epoch < done));
                Assert.All(live, r => Assert.True(r.Value.Order >= limit, $"the live row {r.Key} at {r.Value.Order} lies below the sweep limit {limit} of {pending}"));
                foreach (var stale in rows.Where(r => r.Value.Order < limit).Select(r => r.Key).ToList())
                {
                    rows.Remove(stale);
                }

                epochs.Reconciled(pending);
                sweeps++;
            }
        }

        Assert.True(sweeps > 0);
    }
}
