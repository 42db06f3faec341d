using Sync.Testing.Changes;

namespace Sync.Engine.Tests.Runtime;

/// <summary>The trace a process of a shared subscription stores with its batches (SourceEpochs.Shared.cs:
/// <see cref="SourceEpochs.AppliedPrefix"/>, <see cref="SourceEpochs.RepairedPrefix"/>), read back by a
/// restarted run of the same instance: a repair lost in a crash is reported, one that was stored is not,
/// and neither are another instance's changes or changes at or before the agreed position. Process "b"
/// holds no record of the new snapshot: it applies a change of the old history (position 5) and one
/// streamed in the new epoch (position 10, a new key), while another process agrees epoch 1 from
/// position 7, a record of the new snapshot.</summary>
public sealed class EpochRepairTraceTests
{
    private static readonly string Topic = Change.DefaultTopic;

    [Fact]
    public void A_restarted_instance_reports_the_repair_its_crashed_run_never_stored()
    {
        var stored = AppliedBy("b", 5, 10);
        Agree(stored, from: 7);

        var lost = Restart("b", stored).TakeLostRepairs();

        var repair = Assert.Single(lost);
        Assert.Equal((Topic, 1, new StreamPosition(0, 10)), (repair.Stream, repair.Epoch, repair.Through));
    }

    [Fact]
    public void A_repair_stored_before_the_crash_is_not_reported()
    {
        var b = Live("b");
        var stored = Apply(b, 5, 10);
        Agree(stored, from: 7);
        b.TakeAgreements(stored);
        var repair = Assert.Single(b.TakeRepairs());
        var entry = b.RepairedEntry(repair)!.Value;
        stored[entry.Key] = entry.Value;

        Assert.Empty(Restart("b", stored).TakeLostRepairs());
    }

    [Fact]
    public void Changes_at_or_before_the_agreed_position_and_another_instances_trace_are_not_reported()
    {
        var stored = AppliedBy("b", 5);
        Agree(stored, from: 7);
        Assert.Empty(Restart("b", stored).TakeLostRepairs());

        var others = AppliedBy("b", 5, 10);
        Agree(others, from: 7);
        Assert.Empty(Restart("c", others).TakeLostRepairs());
    }

    [Fact]
    public void A_trace_the_subscription_acknowledged_through_with_no_agreement_is_settled_and_stops_the_idle_reads()
    {
        var stored = AppliedBy("b", 5, 10);
        var restarted = Restart("b", stored);
        Assert.True(restarted.AwaitsAgreements);

        stored[Topic] = new StreamPosition(0, 12);
        restarted.TakeAgreements(stored);

        Assert.False(restarted.AwaitsAgreements);
        Assert.Empty(restarted.TakeLostRepairs());
    }

    [Fact]
    public void A_stored_loss_is_reported_by_every_later_run_of_any_instance_while_its_epoch_is_the_newest()
    {
        var stored = AppliedBy("b", 5, 10);
        Agree(stored, from: 7);
        var found = Assert.Single(Restart("b", stored).TakeLostRepairs());
        var entry = SourceEpochs.LostEntry(found);
        stored[entry.Key] = entry.Value;

        var reported = Assert.Single(Restart("c", stored).TakeLostRepairs());
        Assert.Equal((found.Stream, found.Epoch, found.Through), (reported.Stream, reported.Epoch, reported.Through));
    }

    /// <summary>The epoch's sweep would delete "b"'s new key (ordered below the start): it waits until the
    /// trace shows "b" applied it again, or a stored loss reaching it ends the wait.</summary>
    [Fact]
    public void A_sweep_waits_for_the_repair_of_a_process_that_applied_changes_of_the_epoch_in_the_old_one()
    {
        var b = Live("b");
        var stored = Apply(b, 5, 10);
        Agree(stored, from: 7);
        var sweeping = Live("a");
        sweeping.TakeAgreements(stored);
        Assert.Equal([("b", new StreamPosition(0, 10))], sweeping.AwaitedRepairs(Topic, 1));

        b.TakeAgreements(stored);
        var entry = b.RepairedEntry(Assert.Single(b.TakeRepairs()))!.Value;
        stored[entry.Key] = entry.Value;
        sweeping.TakeAgreements(stored);
        Assert.Empty(sweeping.AwaitedRepairs(Topic, 1));

        var lostStored = AppliedBy("b", 5, 10);
        Agree(lostStored, from: 7);
        var lost = SourceEpochs.LostEntry(Assert.Single(Restart("b", lostStored).TakeLostRepairs()));
        lostStored[lost.Key] = lost.Value;
        Assert.Empty(Restart("a", lostStored).AwaitedRepairs(Topic, 1));
    }

    [Fact]
    public void A_sweep_does_not_wait_for_changes_at_or_before_the_agreed_position_or_for_a_repair_short_of_the_trace()
    {
        var stored = AppliedBy("b", 5);
        Agree(stored, from: 7);
        Assert.Empty(Restart("a", stored).AwaitedRepairs(Topic, 1));

        var shortRepair = AppliedBy("b", 5, 10);
        Agree(shortRepair, from: 7);
        var eight = new StreamPosition(0, 8);
        shortRepair[$"{SourceEpochs.RepairedPrefix}1/b@{eight}/{Topic}"] = eight;
        Assert.Equal([("b", new StreamPosition(0, 10))], Restart("a", shortRepair).AwaitedRepairs(Topic, 1));
    }

    internal static SourceEpochs Live(string instance)
    {
        var epochs = new SourceEpochs();
        epochs.Inherit(instance, new Dictionary<string, StreamPosition>());
        return epochs;
    }

    internal static Dictionary<string, StreamPosition> AppliedBy(string instance, params long[] positions) => Apply(Live(instance), positions);

    /// <summary>Streamed changes (a new key each) applied at the positions, and the checkpoint their batch stores.</summary>
    private static Dictionary<string, StreamPosition> Apply(SourceEpochs epochs, params long[] positions)
    {
        foreach (var position in positions)
        {
            epochs.Apply(Change.Create(("id", position), 1_000 - position, ("name", "x")).At(position), out _, ordered: false);
        }

        var stored = new Dictionary<string, StreamPosition>(StringComparer.Ordinal);
        epochs.WriteTo(stored);
        return stored;
    }

    internal static void Agree(Dictionary<string, StreamPosition> stored, long from)
    {
        foreach (var (name, value) in SourceEpochs.EntriesOf(new EpochProposal(Topic, 1, 1L << 31, (1L << 31) + 1_000, new StreamPosition(0, from))))
        {
            stored[name] = value;
        }
    }

    internal static SourceEpochs Restart(string instance, Dictionary<string, StreamPosition> stored)
    {
        var epochs = SourceEpochs.FromCheckpoint(stored);
        epochs.Inherit(instance, stored);
        return epochs;
    }
}
