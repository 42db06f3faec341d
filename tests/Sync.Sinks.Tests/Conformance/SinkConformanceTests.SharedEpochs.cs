using Sync.Engine.Runtime;

namespace Sync.Sinks.Tests.Conformance;

/// <summary>Source epochs on a shared or key-shared subscription in every sink (SourceEpochs.Shared.cs):
/// two processes each apply their part of one topic, in every order of interleaving given, agree on the
/// epoch through the sink (<see cref="ISink.AddCheckpointEntriesAsync"/>) and sweep once the
/// subscription's mark-delete position (here: every message up to it applied) passes the new snapshot's
/// end; the sink must end in the new history's state. Snapshot markers as Debezium writes them in
/// <c>source.snapshot</c> (debezium/debezium, debezium-core/src/main/java/io/debezium/connector/SnapshotRecord.java).</summary>
public abstract partial class SinkConformanceTests
{
    /// <summary>Whether the sink stores the processes' agreement on an epoch; one that cannot refuses the epoch.</summary>
    protected virtual bool AgreesOnEpochs => true;

    /// <summary>The failover of the table, in topic order: the old primary's snapshot and its last
    /// transactions (the create of id 3 and the update of id 1 to X, both lost), then the new primary's
    /// snapshot at 950 (ids 1 and 2) and an update of id 1 to Y. Key-shared: odd ids go to process 1.</summary>
    private static ChangeEvent[] FailoverTopic() =>
    [
        Snapshot(Change.Read(("id", 1), 100, ("name", "a")), "first").At(1),
        Snapshot(Change.Read(("id", 2), 100, ("name", "b")), "last").At(2),
        Change.Create(("id", 3), 980, ("name", "lost")).At(3),
        Change.Update(("id", 1), 1000, ("name", "X")).At(4),
        Snapshot(Change.Read(("id", 1), 950, ("name", "a")), "first").At(5),
        Snapshot(Change.Read(("id", 2), 950, ("name", "b")), "last").At(6),
        Change.Update(("id", 1), 960, ("name", "Y")).At(7),
    ];

    public static TheoryData<string> Interleavings => new() { "0000000111111", "1111111000000", "0101010101010", "1010101010101", "0011001100110", "1100110011001" };

    [Theory]
    [MemberData(nameof(Interleavings))]
    public async Task A_failover_with_a_re_snapshot_read_by_two_key_shared_processes_ends_in_the_new_primarys_state(string interleaving)
    {
        await using var h = await CreateHarnessAsync();
        var t = h.Target("epoch_shared_failover");

        var swept = await ApplySharedAsync(h, t, FailoverTopic(), change => (int)(change.Key["id"].AsInt64 % 2), interleaving);

        if (AgreesOnEpochs)
        {
            Assert.Equal(1L, swept);
            Assert.Equal(["id=1|name=Y", "id=2|name=b"], await h.ReadAsync(t));
        }
        else
        {
            // No epoch: the lost update of id 1 (1000) stays above the new primary's changes.
            Assert.Equal(0L, swept);
            Assert.Contains("id=1|name=X", await h.ReadAsync(t));
        }
    }

    [Theory]
    [MemberData(nameof(Interleavings))]
    public async Task A_move_to_a_new_cluster_read_by_two_shared_processes_ends_in_the_new_clusters_state(string interleaving)
    {
        await using var h = await CreateHarnessAsync();
        var t = h.Target("epoch_shared_move");

        // The old cluster: 20 rows created at LSN 5·10^12. The new one: a snapshot at 3·10^7 that holds
        // 15 of them with new values, then 5 updates. Shared: messages go round-robin, keys included.
        var topic = new List<ChangeEvent>();
        for (var id = 1; id <= 20; id++)
        {
            topic.Add(Change.Create(("id", id), 5_000_000_000_000L + id, ("name", $"old{id}")).At(topic.Count + 1));
        }

        for (var id = 1; id <= 15; id++)
        {
            topic.Add(Snapshot(Change.Read(("id", id), 30_000_000L, ("name", $"new{id}")), id == 1 ? "first" : id == 15 ? "last" : "true").At(topic.Count + 1));
        }

        for (var id = 1; id <= 5; id++)
        {
            topic.Add(Change.Update(("id", id), 30_000_100L + id, ("name", $"upd{id}")).At(topic.Count + 1));
        }

        var expected = Enumerable.Range(1, 15).Select(id => id <= 5 ? $"id={id}|name=upd{id}" : $"id={id}|name=new{id}").Order(StringComparer.Ordinal).ToList();
        var index = 0;
        var owner = topic.ToDictionary(c => c.Origin.Position, _ => index++ % 2);

        var swept = await ApplySharedAsync(h, t, [.. topic], change => owner[change.Origin.Position], interleaving);

        if (AgreesOnEpochs)
        {
            Assert.Equal(5L, swept);
            Assert.Equal(expected, (await h.ReadAsync(t)).Order(StringComparer.Ordinal).ToList());
        }
    }

    /// <summary>The late-process race: process 0 (even ids) holds no record of the new primary's snapshot
    /// and applies three changes streamed after it (a create of a new id, a create of an id the old primary
    /// lost at a higher LSN, and a create of an id the snapshot no longer holds) before process 1 has read
    /// the snapshot and stored the agreement. It learns the epoch afterwards and applies them again in it;
    /// without that, the first and last would be swept as rows of the old history and the middle one would
    /// stay skipped below the lost 990.</summary>
    [Fact]
    public async Task A_process_that_applied_the_new_primarys_changes_before_the_epoch_was_agreed_applies_them_again_in_it()
    {
        await using var h = await CreateHarnessAsync();
        var t = h.Target("epoch_shared_late");
        ChangeEvent[] topic =
        [
            Snapshot(Change.Read(("id", 1), 100, ("name", "a")), "first").At(1),
            Snapshot(Change.Read(("id", 2), 100, ("name", "b")), "last").At(2),
            Change.Create(("id", 3), 980, ("name", "lost3")).At(3),
            Change.Create(("id", 6), 990, ("name", "lost6")).At(4),
            Change.Update(("id", 1), 1000, ("name", "X")).At(5),
            Snapshot(Change.Read(("id", 1), 950, ("name", "a")), "first").At(6),
            Snapshot(Change.Read(("id", 5), 950, ("name", "e")), "last").At(7),
            Change.Create(("id", 4), 960, ("name", "new4")).At(8),
            Change.Create(("id", 6), 965, ("name", "new6")).At(9),
            Change.Create(("id", 2), 970, ("name", "again2")).At(10),
            Change.Update(("id", 1), 975, ("name", "Y")).At(11),
        ];

        // Process 0 applies the old primary's ids 2 and 6, process 1 its ids 1 and 3 (which stores the old
        // history's end), process 0 the new primary's 4, 6 and 2, and only then process 1 the new snapshot.
        var swept = await ApplySharedAsync(h, t, topic, change => (int)(change.Key["id"].AsInt64 % 2), "00111000111");

        if (AgreesOnEpochs)
        {
            Assert.Equal(["id=1|name=Y", "id=2|name=again2", "id=4|name=new4", "id=5|name=e", "id=6|name=new6"], (await h.ReadAsync(t)).Order(StringComparer.Ordinal).ToList());
            Assert.True(swept >= 1, "the sweep deletes the lost id 3");
        }
    }

    /// <summary>Runs two processes over one topic as a shared subscription does: each applies its own
    /// messages in topic order, one batch per message, with the agreements read from the sink before each
    /// and the epoch state stored with each; <paramref name="interleaving"/> says which process moves at
    /// each step (a process with nothing left passes). After every step each process sweeps a due epoch
    /// once every message up to the snapshot's end is applied (the mark-delete position). Returns the
    /// rows the sweeps deleted. A process that learns an epoch after applying changes that belong to it
    /// writes them again, as the run does (<see cref="SourceEpochs.TakeRepairs"/>).</summary>
    private static async Task<long> ApplySharedAsync(ISinkHarness harness, TargetSpec target, ChangeEvent[] topic, Func<ChangeEvent, int> ownerOf, string interleaving)
    {
        var processes = new[] { new SourceEpochs(), new SourceEpochs() };
        var queues = new[] { new Queue<ChangeEvent>(topic.Where(c => ownerOf(c) == 0)), new Queue<ChangeEvent>(topic.Where(c => ownerOf(c) == 1)) };
        var applied = new HashSet<StreamPosition>();
        var swept = 0L;
        var steps = interleaving.Select(c => c - '0').Concat(Enumerable.Repeat(0, topic.Length)).Concat(Enumerable.Repeat(1, topic.Length));
        foreach (var p in steps)
        {
            if (queues[p].Count > 0)
            {
                var epochs = processes[p];
                var change = queues[p].Dequeue();
                epochs.TakeAgreements(await harness.Sink.LoadCheckpointAsync(Materializer, CancellationToken.None));
                await RepairAsync(epochs);
                var ordered = epochs.Apply(change, out var transition, ordered: false);
                if (transition == EpochTransition.NeedsAgreement)
                {
                    var stored = await harness.Sink.AddCheckpointEntriesAsync(Materializer, SourceEpochs.EntriesOf(epochs.Pending!), CancellationToken.None);
                    if (stored is null)
                    {
                        ordered = epochs.Refuse(change, out _);
                    }
                    else
                    {
                        epochs.TakeAgreements(await harness.Sink.LoadCheckpointAsync(Materializer, CancellationToken.None));
                        await RepairAsync(epochs);
                        ordered = epochs.Apply(change, out transition, ordered: false);
                        Assert.NotEqual(EpochTransition.NeedsAgreement, transition);
                    }
                }

                var checkpoint = new Dictionary<string, StreamPosition>(StringComparer.Ordinal);
                epochs.WriteTo(checkpoint);
                await harness.Sink.ApplyAsync(new SinkBatch(Materializer, target, [ordered], checkpoint), CancellationToken.None);
                applied.Add(change.Origin.Position);
            }

            var markDelete = topic.Select(c => c.Origin.Position).TakeWhile(applied.Contains).DefaultIfEmpty(StreamPosition.Start).Last();
            foreach (var epochs in processes)
            {
                epochs.TakeAgreements(await harness.Sink.LoadCheckpointAsync(Materializer, CancellationToken.None));
                await RepairAsync(epochs);
                foreach (var sweep in epochs.SweepsDue().Where(s => markDelete >= s.End))
                {
                    var removed = await harness.Sink.ReconcileEpochAsync(Materializer, target, sweep.Stream, sweep.Start, CancellationToken.None) ?? 0;
                    await harness.Sink.AddCheckpointEntriesAsync(Materializer, [SourceEpochs.SweptEntry(sweep.Stream, sweep.Epoch, removed)], CancellationToken.None);
                    epochs.Swept(sweep.Stream, sweep.Epoch);
                    swept += removed;
                }
            }
        }

        return swept;

        async Task RepairAsync(SourceEpochs epochs)
        {
            var repairs = epochs.TakeRepairs().SelectMany(r => r.Changes).ToList();
            if (repairs.Count > 0)
            {
                await harness.Sink.ApplyAsync(new SinkBatch(Materializer, target, repairs, new Dictionary<string, StreamPosition>(StringComparer.Ordinal)), CancellationToken.None);
            }
        }
    }
}
