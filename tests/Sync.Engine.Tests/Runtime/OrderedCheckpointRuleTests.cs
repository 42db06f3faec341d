namespace Sync.Engine.Tests.Runtime;

/// <summary>On an ordered subscription a checkpoint only goes up, so a sink found behind a checkpoint
/// it was read holding has gone back in time, whether or not this materializer wrote it.</summary>
public sealed class OrderedCheckpointRuleTests
{
    private const string Stream = "persistent://public/default/users";

    [Fact]
    public void A_sink_found_behind_what_it_was_read_holding_went_back_in_time_before_any_write()
    {
        var guard = new SinkCheckpointGuard(sharedStreams: false);
        guard.Held(new Dictionary<string, StreamPosition> { [Stream] = new(0, 7), [SinkCheckpointGuard.HealingStream] = SinkCheckpointGuard.HealedMark });

        Assert.Empty(guard.Written);
        Assert.Empty(guard.FindLosses(new Dictionary<string, StreamPosition> { [Stream] = new(0, 7) }));
        Assert.Equal(new StreamPosition(0, 3), Assert.Single(guard.FindLosses(new Dictionary<string, StreamPosition> { [Stream] = new(0, 3) })).Stored);
        Assert.Null(Assert.Single(guard.FindLosses(new Dictionary<string, StreamPosition>())).Stored);
    }

    [Fact]
    public void What_it_wrote_last_is_the_floor_even_below_what_it_was_read_holding()
    {
        // The subscription was moved back by hand: the batches that follow write lower positions.
        var guard = new SinkCheckpointGuard(sharedStreams: false);
        guard.Held(new Dictionary<string, StreamPosition> { [Stream] = new(0, 7) });
        guard.Committed(new Dictionary<string, StreamPosition> { [Stream] = new(0, 2) });

        Assert.Empty(guard.FindLosses(new Dictionary<string, StreamPosition> { [Stream] = new(0, 2) }));
    }

    [Fact]
    public void On_a_shared_subscription_a_checkpoint_read_back_is_no_floor()
    {
        // Another process may write the checkpoint from an observation older than the one read.
        var guard = new SinkCheckpointGuard(sharedStreams: true);
        guard.Held(new Dictionary<string, StreamPosition> { [Stream] = new(0, 7) });

        Assert.Empty(guard.FindLosses(new Dictionary<string, StreamPosition> { [Stream] = new(0, 5) }));
    }
}
