using FsCheck.Xunit;
using Sync.Testing.Changes;

namespace Sync.Engine.Tests.Runtime;

/// <summary>The rule of source epochs on a shared or key-shared subscription (SourceEpochs.Shared.cs) over
/// random histories and random interleavings of two consumers, against a model sink that keeps the
/// greatest version per key (equal versions re-apply), deletes as versioned markers, and a sweep that
/// deletes every live row below the epoch's start with a marker at the start. A history is an old line
/// (an initial snapshot and streamed changes) and a new one (a full snapshot after a failover or on a new
/// cluster, then streamed changes); a consumer applies its messages in topic order (key-shared: by key;
/// shared: any message to either), agrees on the epoch through a checkpoint store that keeps the first
/// entry written, and sweeps once every message up to the new snapshot's end is applied. The schedule
/// keeps the condition the rule states (docs/operations.md): the old line's end is stored before a
/// consumer applies the new line. A consumer that holds no record of the new snapshot may apply the new
/// line's changes before the other has stored the agreement (the late consumer); it writes them again in
/// the new epoch when it reads the agreement (<see cref="SourceEpochs.TakeRepairs"/>). Then the model ends
/// exactly in the new source's state.</summary>
public sealed class SharedEpochReconciliationProperties
{
    private const string Topic = Change.DefaultTopic;

    /// <param name="markers">How the snapshots are marked, as Debezium writes <c>source.snapshot</c>
    /// (debezium/debezium, debezium-core/src/main/java/io/debezium/connector/SnapshotRecord.java): 0, 2.x
    /// (first, true, last); 1, 1.x on the topic of the snapshot's last table (true, last: 1.x's enum has
    /// TRUE, LAST and FALSE only); 2, 1.x on another table's topic (every record true: the snapshot's
    /// `last` goes to another topic, and the snapshot ends where streaming begins).</param>
    [Property(MaxTest = 400)]
    public bool Two_consumers_end_in_the_new_sources_state(int seed, bool keyShared, bool newCluster, byte markers) =>
        EndsInNewSourcesState(seed, keyShared, newCluster, markers % 3, repairLate: true);

    /// <summary>The schedules above reach the late consumer, and there the sink would end wrong if it did
    /// not write its changes again in the new epoch: so the property can fail.</summary>
    [Fact]
    public void Without_the_repair_a_late_consumer_leaves_the_sink_unequal_to_the_source()
    {
        var broken = Enumerable.Range(0, 300).Count(seed =>
            !EndsInNewSourcesState(seed, keyShared: seed % 2 == 0, newCluster: seed % 3 == 0, seed % 5 % 3, repairLate: false));
        Assert.True(broken > 0, "no schedule applied a change of the new line before the agreement");
        Assert.All(Enumerable.Range(0, 300), seed =>
            Assert.True(EndsInNewSourcesState(seed, keyShared: seed % 2 == 0, newCluster: seed % 3 == 0, seed % 5 % 3, repairLate: true), $"seed {seed}"));
    }

    private static bool EndsInNewSourcesState(int seed, bool keyShared, bool newCluster, int markers, bool repairLate)
    {
        var random = new Random(seed);
        var (topic, expected) = History(random, newCluster, markers);
        var owners = topic.Select(c => keyShared ? (int)(c.Key["id"].AsInt64 % 2) : random.Next(2)).ToArray();
        var model = Run(random, topic, owners, repairLate);
        return model.OrderBy(r => r.Key).SequenceEqual(expected.OrderBy(r => r.Key));
    }

    /// <summary>A random history and the new source's final state (id to name).</summary>
    private static (List<ChangeEvent> Topic, Dictionary<long, string> Final) History(Random random, bool newCluster, int markers)
    {
        var topic = new List<ChangeEvent>();
        var old = new Dictionary<long, string>();
        var baseLsn = newCluster ? 5_000_000_000_000L : 0;
        var ids = Enumerable.Range(1, 6).Select(i => (long)i).ToList();
        var initial = ids.Where(_ => random.Next(3) > 0).ToList();
        if (initial.Count == 0)
        {
            initial.Add(1);
        }

        AddSnapshot(topic, initial.Select(id => (id, $"s{id}")).ToList(), baseLsn + 100, markers);
        var lsn = baseLsn + 200;
        foreach (var id in initial)
        {
            old[id] = $"s{id}";
        }

        // At least one streamed change: the end of the old line's snapshot.
        for (var i = random.Next(1, 8); i > 0; i--)
        {
            lsn += random.Next(1, 50);
            Stream(topic, old, ids[random.Next(ids.Count)], lsn, random);
        }

        // The new line: a failover replays from below the old line's last order; a new cluster far below.
        var snapshotLsn = newCluster ? 30_000_000L : Math.Max(150, lsn - random.Next(1, 300));
        var state = ids.Where(_ => random.Next(3) > 0).ToDictionary(id => id, id => $"n{id}");
        if (state.Count == 0)
        {
            state[2] = "n2";
        }

        AddSnapshot(topic, [.. state.Select(s => (s.Key, s.Value))], snapshotLsn, markers);
        lsn = snapshotLsn;
        // On a topic whose snapshot has no `last`, only a streamed change tells that it is over.
        for (var i = random.Next(markers == 2 ? 1 : 0, 8); i > 0; i--)
        {
            lsn += random.Next(1, 50);
            Stream(topic, state, ids[random.Next(ids.Count)], lsn, random);
        }

        for (var i = 0; i < topic.Count; i++)
        {
            topic[i] = topic[i].At(i + 1);
        }

        return (topic, state);
    }

    private static void AddSnapshot(List<ChangeEvent> topic, List<(long Id, string Name)> rows, long lsn, int markers)
    {
        for (var i = 0; i < rows.Count; i++)
        {
            // A one-row snapshot's record is its last (Debezium 2.x's RelationalSnapshotChangeEventSource marks
            // the snapshot's last record `last` before it looks at whether it is the first).
            var marker = markers switch
            {
                0 => i == rows.Count - 1 ? "last" : i == 0 ? "first" : "true",
                1 => i == rows.Count - 1 ? "last" : "true",
                _ => "true",
            };
            var read = Change.Read(("id", rows[i].Id), lsn, ("name", rows[i].Name));
            topic.Add(new ChangeEvent { Op = ChangeOp.Read, Key = read.Key, After = read.After, Source = read.Source! with { Snapshot = marker }, Origin = read.Origin });
        }
    }

    private static void Stream(List<ChangeEvent> topic, Dictionary<long, string> state, long id, long lsn, Random random)
    {
        if (state.ContainsKey(id) && random.Next(4) == 0)
        {
            topic.Add(Change.Delete(("id", id), lsn));
            state.Remove(id);
        }
        else
        {
            var name = $"v{lsn}";
            topic.Add(state.ContainsKey(id) ? Change.Update(("id", id), lsn, ("name", name)) : Change.Create(("id", id), lsn, ("name", name)));
            state[id] = name;
        }
    }

    /// <summary>Runs the two consumers over the topic and returns the model sink's live rows.</summary>
    private static Dictionary<long, string> Run(Random random, List<ChangeEvent> topic, int[] owners, bool repairLate = true)
    {
        var store = new Dictionary<string, StreamPosition>(StringComparer.Ordinal);
        var sink = new Dictionary<long, (long Version, string? Name)>();
        var processes = new[] { new SourceEpochs(), new SourceEpochs() };
        var queues = new[] { new Queue<int>(), new Queue<int>() };
        for (var i = 0; i < topic.Count; i++)
        {
            queues[owners[i]].Enqueue(i);
        }

        var newLine = topic.FindIndex(c => SourceEpochs.IsFullSnapshot(c.Source!.Snapshot) && topic.Take(topic.IndexOf(c)).Any(o => !SourceEpochs.IsFullSnapshot(o.Source!.Snapshot)));
        var applied = new bool[topic.Count];
        while (queues.Any(q => q.Count > 0))
        {
            var p = random.Next(2);
            if (queues[p].Count == 0 || !MayApply(p, queues[p].Peek()))
            {
                p = 1 - p;
            }

            if (queues[p].Count == 0 || !MayApply(p, queues[p].Peek()))
            {
                throw new InvalidOperationException("the schedule cannot keep the rule's conditions");
            }

            var index = queues[p].Dequeue();
            var epochs = processes[p];
            epochs.TakeAgreements(store);
            var change = epochs.Apply(topic[index], out var transition, ordered: false);
            if (transition == EpochTransition.NeedsAgreement)
            {
                foreach (var (name, value) in SourceEpochs.EntriesOf(epochs.Pending!))
                {
                    store.TryAdd(name, value);
                }

                epochs.TakeAgreements(store);
                change = epochs.Apply(topic[index], out _, ordered: false);
            }

            Write(change);
            Repair(epochs);
            var written = new Dictionary<string, StreamPosition>(StringComparer.Ordinal);
            epochs.WriteTo(written);
            foreach (var (name, value) in written)
            {
                store[name] = value;
            }

            applied[index] = true;
            var markDelete = applied.TakeWhile(a => a).Count();
            foreach (var sweeping in processes)
            {
                sweeping.TakeAgreements(store);
                Repair(sweeping);
                foreach (var sweep in sweeping.SweepsDue().Where(s => markDelete >= s.End.Entry))
                {
                    foreach (var (id, row) in sink.Where(r => r.Value.Name is not null && r.Value.Version < sweep.Start).ToList())
                    {
                        sink[id] = (sweep.Start, null);
                    }

                    store.TryAdd(SourceEpochs.SweptEntry(sweep.Stream, sweep.Epoch, 0).Key, default);
                    sweeping.Swept(sweep.Stream, sweep.Epoch);
                }
            }
        }

        return sink.Where(r => r.Value.Name is not null).ToDictionary(r => r.Key, r => r.Value.Name!);

        void Write(ChangeEvent change)
        {
            var version = change.Source!.Lsn!.Value;
            var key = change.Key["id"].AsInt64;
            if (!sink.TryGetValue(key, out var held) || version >= held.Version)
            {
                sink[key] = (version, change.Op == ChangeOp.Delete ? null : change.After!["name"].AsText);
            }
        }

        // What the run does with the changes a consumer applied in the old epoch before it learned the
        // new one (the late consumer: it holds no record of the new snapshot and applied a change of
        // the new line before the other stored the agreement): they are written again in the new epoch.
        void Repair(SourceEpochs epochs)
        {
            if (repairLate)
            {
                foreach (var change in epochs.TakeRepairs().SelectMany(r => r.Changes))
                {
                    Write(change);
                }
            }
        }

        // The rule's condition: the old line's end is stored before the new line is applied. A consumer
        // without a record of the new snapshot may apply the new line's changes before the agreement.
        bool MayApply(int process, int index) =>
            index < newLine || store.Keys.Any(k => k.StartsWith(SourceEpochs.EndPrefix + "0/", StringComparison.Ordinal));
    }
}
