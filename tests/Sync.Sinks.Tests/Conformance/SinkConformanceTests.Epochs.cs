using Sync.Engine.Runtime;

namespace Sync.Sinks.Tests.Conformance;

/// <summary>Source epochs (<see cref="SourceEpochs"/>) in every sink: a topic whose source went back in
/// time is run through the epoch rule as the materializer does, batch by batch with its checkpoint, and
/// the sink must end in the new history's state. Snapshot markers as Debezium writes them in
/// <c>source.snapshot</c> (debezium/debezium, debezium-core/src/main/java/io/debezium/connector/SnapshotRecord.java).</summary>
public abstract partial class SinkConformanceTests
{
    /// <summary>Whether the sink deletes the rows a new epoch's snapshot did not hold
    /// (<see cref="ISink.ReconcileEpochAsync"/>); a sink that cannot answers null and keeps them.</summary>
    protected virtual bool ReconcilesEpochs => true;

    private static ChangeEvent Snapshot(ChangeEvent change, string marker) => new()
    {
        Op = ChangeOp.Read,
        Key = change.Key,
        After = change.After,
        Source = change.Source! with { Snapshot = marker },
        Origin = change.Origin,
    };

    /// <summary>Applies each batch as the runner does: its changes through the epoch rule, the epoch
    /// state with the checkpoint, and a completed new snapshot's reconciliation after the commit.</summary>
    private static async Task<List<long?>> ApplyEpochsAsync(ISinkHarness harness, TargetSpec target, SourceEpochs epochs, params ChangeEvent[][] batches)
    {
        var reconciled = new List<long?>();
        foreach (var batch in batches)
        {
            // Positions are the LSNs (the builder's default): what matters here is the order of the batches.
            var changes = batch.Select(c => epochs.Apply(c, out _)).ToList();
            var checkpoint = batch.GroupBy(c => c.Origin.Topic).ToDictionary(g => g.Key, g => g.Max(c => c.Origin.Position), StringComparer.Ordinal);
            epochs.WriteTo(checkpoint);
            await harness.Sink.ApplyAsync(new SinkBatch(Materializer, target, Collapser.Collapse(changes), checkpoint), CancellationToken.None);
            foreach (var (stream, epoch) in epochs.Streams.Where(s => s.Value.Has(EpochFlags.ReconcilePending)).ToList())
            {
                reconciled.Add(await harness.Sink.ReconcileEpochAsync(Materializer, target, stream, epoch.Start, CancellationToken.None));
                epochs.Reconciled(stream);
            }
        }

        return reconciled;
    }

    /// <summary>With the markers of both Debezium lines: 2.x first/last; 1.x on the topic of the snapshot's
    /// last table (true/last); 1.x on an earlier table's topic, where every snapshot record is `true` (1.x's
    /// SnapshotRecord has TRUE, LAST and FALSE only and marks `last` only the snapshot's very last record,
    /// debezium/debezium 1.9, debezium-core/src/main/java/io/debezium/connector/SnapshotRecord.java), so the
    /// new snapshot is known by its first record after streamed changes and ends where streaming resumes.</summary>
    [Theory]
    [InlineData("first", "last")]
    [InlineData("true", "last")]
    [InlineData("true", "true")]
    public async Task A_failover_with_a_re_snapshot_ends_in_the_new_primarys_state(string first, string last)
    {
        await using var h = await CreateHarnessAsync();
        var t = h.Target("epoch_failover");

        // Lost in the failover: the create at 980 and the update at 1000. The new primary is
        // snapshotted at 950 and goes on at 960.
        var reconciled = await ApplyEpochsAsync(h, t, new SourceEpochs(),
            [Snapshot(Change.Read(("id", 1), 100, ("name", "a")), first), Snapshot(Change.Read(("id", 2), 100, ("name", "b")), last)],
            [Change.Create(("id", 3), 980, ("name", "lost")), Change.Update(("id", 1), 1000, ("name", "X"))],
            [Snapshot(Change.Read(("id", 1), 950, ("name", "a")), first), Snapshot(Change.Read(("id", 2), 950, ("name", "b")), last)],
            [Change.Update(("id", 1), 960, ("name", "Y"))]);

        if (ReconcilesEpochs)
        {
            Assert.Equal([1L], reconciled);
            Assert.Equal(["id=1|name=Y", "id=2|name=b"], await h.ReadAsync(t));
        }
        else
        {
            Assert.Equal([null], reconciled);
            Assert.Equal(["id=1|name=Y", "id=2|name=b", "id=3|name=lost"], await h.ReadAsync(t));
        }
    }

    /// <summary>A failover (or a restore) before anything was streamed: the replica lagged the snapshot's
    /// point, so the new snapshot's orders lie below the first one's, and it follows that snapshot with no
    /// change in between. It starts an epoch all the same: its older values replace the lost ones and the row
    /// it does not hold goes. Markers of both Debezium lines: 2.x first/true/last; 1.x true/last (1.x's
    /// SnapshotRecord has TRUE, LAST and FALSE only, debezium/debezium 1.9,
    /// debezium-core/src/main/java/io/debezium/connector/SnapshotRecord.java, and marks `last` only the
    /// snapshot's very last record, here on this table's topic).</summary>
    [Theory]
    [InlineData("first")]
    [InlineData("true")]
    public async Task A_snapshot_right_after_a_snapshot_starts_an_epoch_and_ends_in_the_second_snapshots_state(string firstMarker)
    {
        await using var h = await CreateHarnessAsync();
        var t = h.Target("epoch_twice");

        var reconciled = await ApplyEpochsAsync(h, t, new SourceEpochs(),
            [Snapshot(Change.Read(("id", 1), 100, ("name", "lost")).At(1), firstMarker), Snapshot(Change.Read(("id", 2), 100, ("name", "b")).At(2), "true"), Snapshot(Change.Read(("id", 3), 100, ("name", "lost3")).At(3), "last")],
            [Snapshot(Change.Read(("id", 1), 90, ("name", "a")).At(4), firstMarker), Snapshot(Change.Read(("id", 2), 90, ("name", "b")).At(5), "last")],
            [Change.Update(("id", 2), 95, ("name", "B")).At(6)]);

        if (ReconcilesEpochs)
        {
            Assert.Equal([1L], reconciled);
            Assert.Equal(["id=1|name=a", "id=2|name=B"], await h.ReadAsync(t));
        }
    }

    /// <summary>The failover inside one batch: the old primary's lost changes, the new primary's whole
    /// snapshot and its first streamed change are read together, collapsed and committed at once; the
    /// reconciliation after that commit deletes the row only the lost transaction held.</summary>
    [Fact]
    public async Task A_failover_in_the_middle_of_a_batch_ends_in_the_new_primarys_state()
    {
        await using var h = await CreateHarnessAsync();
        var t = h.Target("epoch_mid_batch");

        var reconciled = await ApplyEpochsAsync(h, t, new SourceEpochs(),
            [Snapshot(Change.Read(("id", 1), 100, ("name", "a")).At(1), "first"), Snapshot(Change.Read(("id", 2), 100, ("name", "b")).At(2), "last"), Change.Update(("id", 2), 200, ("name", "b2")).At(3)],
            [Change.Create(("id", 3), 980, ("name", "lost")).At(4), Change.Update(("id", 1), 1000, ("name", "X")).At(5),
             Snapshot(Change.Read(("id", 1), 950, ("name", "a")).At(6), "first"), Snapshot(Change.Read(("id", 2), 950, ("name", "b2")).At(7), "last"),
             Change.Update(("id", 2), 960, ("name", "B")).At(8)]);

        if (ReconcilesEpochs)
        {
            Assert.Equal([1L], reconciled);
            Assert.Equal(["id=1|name=a", "id=2|name=B"], await h.ReadAsync(t));
        }
    }

    /// <summary>A backfill over a topic that holds two epochs, into the sink that already holds the newest
    /// state: the whole history is ordered again from an empty epoch state, so the old epoch's changes,
    /// the lost one among them, fall below what the new epoch wrote and the row the reconciliation deleted
    /// stays deleted; the sink ends in the newest epoch's state and a later change of it still applies.</summary>
    [Fact]
    public async Task A_backfill_over_a_topic_holding_two_epochs_ends_in_the_newest_epochs_state()
    {
        await using var h = await CreateHarnessAsync();
        var t = h.Target("epoch_backfill");
        ChangeEvent[][] history =
        [
            [Snapshot(Change.Read(("id", 1), 100, ("name", "a")).At(1), "first"), Snapshot(Change.Read(("id", 2), 100, ("name", "b")).At(2), "last")],
            [Change.Create(("id", 3), 980, ("name", "lost")).At(3), Change.Update(("id", 1), 1000, ("name", "X")).At(4)],
            [Snapshot(Change.Read(("id", 1), 950, ("name", "a")).At(5), "first"), Snapshot(Change.Read(("id", 2), 950, ("name", "b")).At(6), "last")],
            [Change.Update(("id", 1), 960, ("name", "Y")).At(7), Change.Delete(("id", 2), 970).At(8)],
        ];
        await ApplyEpochsAsync(h, t, new SourceEpochs(), history);

        var backfill = new SourceEpochs();
        var reconciled = await ApplyEpochsAsync(h, t, backfill, history);
        await ApplyEpochsAsync(h, t, backfill, [Change.Create(("id", 4), 980, ("name", "d")).At(9)]);

        if (ReconcilesEpochs)
        {
            Assert.Equal([0L], reconciled);
            Assert.Equal(["id=1|name=Y", "id=4|name=d"], await h.ReadAsync(t));
        }
        else
        {
            Assert.Equal(["id=1|name=Y", "id=3|name=lost", "id=4|name=d"], await h.ReadAsync(t));
        }
    }

    [Fact]
    public async Task The_row_written_last_before_a_failover_is_deleted_and_its_replay_stays_stale()
    {
        await using var h = await CreateHarnessAsync();
        var t = h.Target("epoch_last_lost");
        var epochs = new SourceEpochs();

        // The create at 1000 is the highest order the old epoch applied (the epoch starts right above it)
        // and was lost in the failover; the new snapshot holds only id 1.
        var reconciled = await ApplyEpochsAsync(h, t, epochs,
            [Snapshot(Change.Read(("id", 1), 100, ("name", "a")), "last")],
            [Change.Create(("id", 2), 1000, ("name", "lost"))],
            [Snapshot(Change.Read(("id", 1), 950, ("name", "a2")), "last")]);
        var replayed = await ApplyAsync(h, t, Change.Create(("id", 2), 1000, ("name", "lost")).At(1));

        if (ReconcilesEpochs)
        {
            Assert.Equal([1L], reconciled);
            Assert.Equal(["id=1|name=a2"], await h.ReadAsync(t));
            Assert.Equal(1, replayed.Stale);
        }
    }

    [Fact]
    public async Task A_move_to_a_new_cluster_replaces_old_rows_and_a_replayed_old_change_stays_stale()
    {
        await using var h = await CreateHarnessAsync();
        var t = h.Target("epoch_move");
        var epochs = new SourceEpochs();

        await ApplyEpochsAsync(h, t, epochs,
            [Snapshot(Change.Read(("id", 1), 5_000_000_000_000, ("name", "old1")), "first"), Snapshot(Change.Read(("id", 2), 5_000_000_000_000, ("name", "old2")), "last")],
            [Change.Update(("id", 2), 5_000_000_001_000, ("name", "old2b"))],
            [Snapshot(Change.Read(("id", 1), 30_000_000, ("name", "new1")), "first"), Snapshot(Change.Read(("id", 2), 30_000_000, ("name", "new2")), "last")],
            [Change.Update(("id", 1), 30_000_100, ("name", "new1b"))]);
        // A redelivered change of the old cluster, at its own order, below the new epoch.
        var late = await ApplyAsync(h, t, Change.Update(("id", 2), 5_000_000_001_000, ("name", "old2b")).At(1));

        Assert.Equal(["id=1|name=new1b", "id=2|name=new2"], await h.ReadAsync(t));
        Assert.Equal(1, late.Stale);
        Assert.Equal(1, epochs.Of(Change.DefaultTopic).Epoch);
    }

    [Fact]
    public async Task A_subject_erased_in_the_old_epoch_stays_erased_when_the_new_snapshot_holds_it_again()
    {
        await using var h = await CreateHarnessAsync();
        var t = h.Target("epoch_erased");
        var epochs = new SourceEpochs();
        await ApplyEpochsAsync(h, t, epochs,
            [Snapshot(Change.Read(("id", 1), 100, ("name", "ada")), "first"), Snapshot(Change.Read(("id", 2), 100, ("name", "bob")), "last")],
            [Change.Update(("id", 1), 200, ("name", "ada2"))]);

        Assert.Equal(1, await h.Sink.EraseAsync(t, new SubjectMatch("id", FieldValue.FromInt64(1)), CancellationToken.None));
        await ApplyEpochsAsync(h, t, epochs,
            [Snapshot(Change.Read(("id", 1), 50, ("name", "ada")), "first"), Snapshot(Change.Read(("id", 2), 50, ("name", "bob")), "last")],
            [Change.Update(("id", 1), 60, ("name", "ada3"))]);

        Assert.Equal(["id=2|name=bob"], await h.ReadAsync(t));
    }

    [Fact]
    public async Task The_epoch_state_is_stored_with_the_checkpoint_and_survives_a_restart()
    {
        await using var h = await CreateHarnessAsync();
        var t = h.Target("epoch_restart");
        await ApplyEpochsAsync(h, t, new SourceEpochs(),
            [Snapshot(Change.Read(("id", 1), 100, ("name", "a")), "last")],
            [Change.Update(("id", 1), 1000, ("name", "X"))],
            [Snapshot(Change.Read(("id", 1), 950, ("name", "b")), "last")]);

        await h.RestartAsync();
        var stored = await h.Sink.LoadCheckpointAsync(Materializer, CancellationToken.None);
        var epochs = SourceEpochs.FromCheckpoint(stored);
        Assert.Equal([Change.DefaultTopic], SinkCheckpointGuard.PositionsOf(stored).Keys);
        Assert.Equal(1, epochs.Of(Change.DefaultTopic).Epoch);
        await ApplyEpochsAsync(h, t, epochs, [Change.Update(("id", 1), 960, ("name", "Y"))]);

        Assert.Equal(["id=1|name=Y"], await h.ReadAsync(t));
    }

    [Fact]
    public async Task A_declared_bump_makes_the_next_change_newer_than_everything_applied()
    {
        await using var h = await CreateHarnessAsync();
        var t = h.Target("epoch_declared");
        var epochs = new SourceEpochs();
        await ApplyEpochsAsync(h, t, epochs,
            [Snapshot(Change.Read(("id", 1), 5_000_000_000_000, ("name", "a")), "last")],
            [Change.Update(("id", 1), 5_000_000_001_000, ("name", "X"))],
            [Change.Update(("id", 1), 30_000_000, ("name", "restored"))]);
        Assert.True(epochs.Of(Change.DefaultTopic).Has(EpochFlags.Regressed));
        Assert.Equal(["id=1|name=X"], await h.ReadAsync(t));

        epochs.Declare(Change.DefaultTopic);
        await ApplyEpochsAsync(h, t, epochs, [Change.Update(("id", 1), 30_000_100, ("name", "Y"))]);

        Assert.Equal(["id=1|name=Y"], await h.ReadAsync(t));
        Assert.False(epochs.Of(Change.DefaultTopic).Has(EpochFlags.Regressed));
    }

    /// <summary>A partitioned topic (two streams into one target, as Pulsar names its partitions) whose
    /// source fails over: partition 1 held the old primary's last, lost, transaction (order 1000, above
    /// everything partition 0 carried), and partition 0 completes its new snapshot last. Each stream's
    /// epoch starts above its own history; the rows lost in either partition are deleted, whichever
    /// completes first, and the sink ends equal to the new primary. The snapshot markers of a table
    /// split over partitions: <c>first</c> on the table's first record, <c>last</c> on its last, so a
    /// partition without the last record ends its snapshot at its first streamed change (as with
    /// Debezium 1.x, SourceEpochs).</summary>
    [Fact]
    public async Task A_failover_of_a_partitioned_topic_deletes_the_lost_rows_of_every_partition()
    {
        await using var h = await CreateHarnessAsync();
        var t = h.Target("epoch_partitions");
        const string P0 = Change.DefaultTopic + "-partition-0", P1 = Change.DefaultTopic + "-partition-1";
        ChangeEvent On0(ChangeEvent c) => c.OnTopic(P0);
        ChangeEvent On1(ChangeEvent c) => c.OnTopic(P1);
        var epochs = new SourceEpochs();

        var reconciled = await ApplyEpochsAsync(h, t, epochs,
            [On0(Snapshot(Change.Read(("id", 1), 100, ("name", "a")), "first")), On1(Snapshot(Change.Read(("id", 2), 100, ("name", "b")), "true")),
             On0(Snapshot(Change.Read(("id", 3), 100, ("name", "c")), "true")), On1(Snapshot(Change.Read(("id", 4), 100, ("name", "d")), "last"))],
            [On0(Change.Create(("id", 5), 980, ("name", "lost in 0"))), On1(Change.Update(("id", 2), 990, ("name", "lost b")))],
            [On1(Change.Create(("id", 6), 1000, ("name", "lost in 1"))), On0(Change.Update(("id", 3), 400, ("name", "c2")))],
            // The new primary, snapshotted at 950: partition 1 holds the snapshot's last record and completes first.
            [On0(Snapshot(Change.Read(("id", 1), 950, ("name", "a")), "first")), On1(Snapshot(Change.Read(("id", 2), 950, ("name", "b")), "true"))],
            [On0(Snapshot(Change.Read(("id", 3), 950, ("name", "c2")), "true")), On1(Snapshot(Change.Read(("id", 4), 950, ("name", "d")), "last"))],
            [On1(Change.Update(("id", 4), 960, ("name", "d2")))],
            [On0(Change.Update(("id", 1), 970, ("name", "a2")))]);

        if (ReconcilesEpochs)
        {
            Assert.Equal(2, reconciled.Count);
            Assert.Equal(2L, reconciled.Sum());
            Assert.Equal(["id=1|name=a2", "id=2|name=b", "id=3|name=c2", "id=4|name=d2"], await h.ReadAsync(t));
        }

        // A replay of the old history, at its own orders, brings nothing back.
        var late = await ApplyAsync(h, t, On1(Change.Create(("id", 6), 1000, ("name", "lost in 1")).At(1)), On0(Change.Create(("id", 5), 980, ("name", "lost in 0")).At(2)));
        Assert.Equal(2, late.Stale);
        if (ReconcilesEpochs)
        {
            Assert.Equal(["id=1|name=a2", "id=2|name=b", "id=3|name=c2", "id=4|name=d2"], await h.ReadAsync(t));
        }
    }
}
