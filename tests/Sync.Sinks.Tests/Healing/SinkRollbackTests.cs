namespace Sync.Sinks.Tests.Healing;

/// <summary>A sink that goes back in time while <c>sync run</c> keeps running (or while it is stopped)
/// ends in the exact state of the changelog, in failover and key-shared modes, with one process or
/// two, and says so (a warning, the rollback and replay counters, the healing state).</summary>
public abstract class SinkRollbackTests : SinkRollbackFixture
{
    [Theory]
    [InlineData("failover")]
    [InlineData("exclusive")]
    [InlineData("key-shared")]
    [InlineData("shared")]
    public async Task A_sink_restored_to_an_earlier_copy_is_healed_while_idle(string subscriptionType)
    {
        var config = Config(subscriptionType);
        await using var run = Start(config);
        await RollBackAfterSecondPartAsync();

        await run.HealWhileIdleAsync();

        await AssertHealedOnceAsync(run);
        Assert.True(run.Counters.Replayed > 0);
        Assert.Equal(MaterializerState.Running, run.State);
        Assert.Contains(run.Warnings, w => w.Contains("went back in time", StringComparison.Ordinal) && w.Contains("users", StringComparison.Ordinal));
        Assert.DoesNotContain(await StatusAsync(config), s => s.Healing);

        // The live subscription went on: what comes next lands too.
        await PublishThirdPartAsync();
        await UntilSinkHoldsModelAsync();
    }

    [Theory]
    [InlineData("failover")]
    [InlineData("key-shared")]
    public async Task A_sink_restored_to_an_earlier_copy_is_healed_by_the_next_batch(string subscriptionType)
    {
        await using var run = Start(Config(subscriptionType));
        await RollBackAfterSecondPartAsync();

        // No clock moves: the batch reads the checkpoint back before it is applied.
        await PublishThirdPartAsync();
        await run.UntilHealedAsync();

        await UntilSinkHoldsModelAsync();
        Assert.Equal(1, run.Counters.Rollbacks);
    }

    // Key-shared too: the sinks never lower a stored position under the condition
    // (IMonotonicCheckpointSink), so another process cannot take it back and the condition holds there.
    [Theory]
    [InlineData("failover")]
    [InlineData("key-shared")]
    public async Task A_sink_restored_while_a_batch_is_on_its_way_is_healed(string subscriptionType)
    {
        var restoring = new RestoreBeforeNextBatch(RestoreAsync);
        await using var run = Start(Config(subscriptionType), restoring);
        await PublishAroundAnAcknowledgedSnapshotAsync();
        restoring.Arm();

        // The batch reads the checkpoint back (nothing lost yet); the copy is put back under it
        // before the sink writes the batch and its checkpoint.
        await PublishThirdPartAsync();
        await run.UntilHealedAsync();

        await UntilSinkHoldsModelAsync();
        Assert.True(restoring.Fired);
        Assert.Equal(1, run.Counters.Rollbacks);
    }

    // The copy is put back after the run's first checkpoint read, which is a floor on key-shared
    // subscriptions too, for the reason above.
    [Theory]
    [InlineData("failover")]
    [InlineData("key-shared")]
    public async Task A_sink_restored_while_a_run_starts_is_healed(string subscriptionType)
    {
        var config = Config(subscriptionType);
        await PublishAroundASnapshotAndStopAsync(config);

        // The next run reads the checkpoint at its start and before its first batch, and the copy
        // is put back only then: as a Redis restarted from an older snapshot while sync starts.
        var restoring = new RestoreBeforeNextBatch(RestoreAsync);
        restoring.Arm();
        await using var next = await StartAgainAndCatchUpAsync(config, restoring);
        Assert.True(restoring.Fired);
    }

    [Fact]
    public async Task Two_key_shared_processes_heal_a_restored_sink_without_fighting()
    {
        var config = Config("key-shared");
        await using var first = Start(config);
        await using var second = Start(config);
        await RollBackAfterSecondPartAsync();

        await UntilEitherHealedAsync(first, second);

        await UntilSinkHoldsModelAsync();
        await PublishThirdPartAsync();
        await UntilSinkHoldsModelAsync();
        Assert.False(first.Outcome.IsCompleted, first.Outcome.IsCompleted ? (await first.Outcome).Single().Failure?.ToString() : null);
        Assert.False(second.Outcome.IsCompleted, second.Outcome.IsCompleted ? (await second.Outcome).Single().Failure?.ToString() : null);
        Assert.DoesNotContain(await StatusAsync(config), s => s.Healing);
    }

    [Theory]
    [InlineData("failover")]
    [InlineData("key-shared")]
    public async Task A_sink_restored_while_no_run_watched_is_healed_at_the_next_start(string subscriptionType)
    {
        var config = Config(subscriptionType);
        await PublishAroundASnapshotAndStopAsync(config);

        await RestoreAsync();
        await using var next = await StartAgainAndCatchUpAsync(config);
    }
}
