using static Sync.Engine.Tests.Runtime.EpochRepairTraceTests;

namespace Sync.Engine.Tests.Runtime;

/// <summary>What a restarted instance needs to read the range its crashed run lost again from the topic
/// (MaterializerRunner.LostRepairs.cs), with the histories of <see cref="EpochRepairTraceTests"/>: process
/// "b" applied positions 5 and 10 in the old epoch, and another process agreed epoch 1 from position 7.</summary>
public sealed class LostRepairReplayTraceTests
{
    [Fact]
    public void A_loss_found_in_the_instances_own_trace_carries_the_range_to_read_again()
    {
        var stored = AppliedBy("b", 5, 10);
        Agree(stored, from: 7);

        var lost = Assert.Single(Restart("b", stored).TakeLostRepairs());

        Assert.Equal(new StreamPosition(0, 7), lost.From);
        Assert.Equal(new StreamPosition(0, 10), lost.Through);
    }

    [Fact]
    public void Once_the_range_was_applied_again_and_stored_a_later_restart_finds_nothing_lost()
    {
        var stored = AppliedBy("b", 5, 10);
        Agree(stored, from: 7);
        var restarted = Restart("b", stored);
        var lost = Assert.Single(restarted.TakeLostRepairs());

        var entry = restarted.RepairedEntry(lost)!.Value;
        Assert.StartsWith(SourceEpochs.RepairedPrefix + "1/b@0:10:-1/", entry.Key, StringComparison.Ordinal);
        stored[entry.Key] = entry.Value;

        Assert.Empty(Restart("b", stored).TakeLostRepairs());
    }

    /// <summary>A stored entry is never replaced (the sink's conditional add keeps the first), so a second,
    /// longer loss of the same instance in the same epoch stores an entry of its own; once it is stored,
    /// no later restart replays either range again.</summary>
    [Fact]
    public void A_second_longer_loss_once_repaired_and_stored_is_not_replayed_at_later_starts()
    {
        var stored = AppliedBy("b", 5, 10);
        Agree(stored, from: 7);
        var first = Restart("b", stored);
        Assert.True(stored.TryAdd(first.RepairedEntry(Assert.Single(first.TakeLostRepairs()))!.Value.Key, new StreamPosition(0, 10)));
        foreach (var (name, value) in AppliedBy("b", 5, 10, 15).Where(e => e.Key.StartsWith(SourceEpochs.AppliedPrefix, StringComparison.Ordinal)))
        {
            stored[name] = value;
        }

        var second = Restart("b", stored);
        var longer = Assert.Single(second.TakeLostRepairs());
        Assert.Equal(new StreamPosition(0, 15), longer.Through);
        var entry = second.RepairedEntry(longer)!.Value;
        Assert.True(stored.TryAdd(entry.Key, entry.Value), "the longer repair's entry has the first one's name, so the sink would keep the first");

        Assert.Empty(Restart("b", stored).TakeLostRepairs());
    }

    [Fact]
    public void A_loss_stored_as_impossible_to_replay_is_reported_without_a_range()
    {
        var stored = AppliedBy("b", 5, 10);
        Agree(stored, from: 7);
        var entry = SourceEpochs.LostEntry(Assert.Single(Restart("b", stored).TakeLostRepairs()));
        stored[entry.Key] = entry.Value;

        var reported = Assert.Single(Restart("c", stored).TakeLostRepairs());

        Assert.Null(reported.From);
    }
}
