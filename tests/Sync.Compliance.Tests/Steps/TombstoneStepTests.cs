namespace Sync.Compliance.Tests.Steps;

public sealed class TombstoneStepTests : StepTests
{
    [Fact]
    public async Task A_tombstone_per_planned_key_takes_the_subject_out_of_the_compacted_view()
    {
        var scope = await Fixture.ScopeAsync(["1"]);
        var plan = await new PlanStep().RunAsync(new(scope), CancellationToken.None);
        Assert.True(await StepFixture.CompactedMatchesAsync(scope) > 0);

        var tombstones = await new TombstoneStep().RunAsync(new(scope, plan), CancellationToken.None);

        Assert.All(plan.Topics, t => Assert.Equal(t.Value.Keys.Count, tombstones.On(t.Key).Count));
        Assert.Equal(2, tombstones.Positions.Values.Sum(p => p.Count));
        Assert.Equal(0, await StepFixture.CompactedMatchesAsync(scope));
    }

    [Fact]
    public async Task A_dry_run_publishes_nothing()
    {
        var before = await File.ReadAllBytesAsync(Fixture.Changelog);
        var scope = await Fixture.ScopeAsync(["1"], dryRun: true);
        var plan = await new PlanStep().RunAsync(new(scope), CancellationToken.None);

        var tombstones = await new TombstoneStep().RunAsync(new(scope, plan), CancellationToken.None);

        Assert.Empty(tombstones.Positions);
        Assert.All(plan.Topics.Keys, t => Assert.Empty(tombstones.On(t)));
        Assert.Equal(before, await File.ReadAllBytesAsync(Fixture.Changelog));
    }
}
