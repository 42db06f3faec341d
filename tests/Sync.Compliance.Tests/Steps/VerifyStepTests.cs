namespace Sync.Compliance.Tests.Steps;

public sealed class VerifyStepTests : StepTests
{
    [Fact]
    public async Task After_every_step_ran_no_check_finds_the_subject()
    {
        var scope = await Fixture.ScopeAsync(["1"]);

        var (_, plan, _, verification) = await Fixture.ThroughVerifyAsync(scope);

        Assert.True(verification.IsClean(dryRun: false));
        Assert.Empty(verification.Residue);
        Assert.Equal(plan.Topics.Keys.Select(t => t.Topic).Order(StringComparer.Ordinal), verification.Topics.Select(t => t.Outcome.Topic));
        Assert.All(verification.Topics, t => Assert.Equal((0L, 0L, "SUCCESS", 1), (t.Outcome.CompactedViewMatches, t.Outcome.RawResidue, t.Outcome.Compaction, t.Outcome.TombstonePositions.Count)));
        Assert.All(verification.Sinks, s => Assert.Equal((1L, 1L, 0L), (s.RowsBefore, s.Deleted, s.Remaining)));
    }

    [Fact]
    public async Task Without_tombstones_compaction_or_sink_erase_every_check_still_finds_the_subject()
    {
        var scope = await Fixture.ScopeAsync(["1"]);
        var plan = await new PlanStep().RunAsync(new(scope), CancellationToken.None);
        var none = new Dictionary<string, long>(StringComparer.Ordinal) { ["customers"] = 0, ["orders"] = 0 };

        var verification = await new VerifyStep().RunAsync(
            new(scope, plan, new PublishedTombstones(new Dictionary<TopicRef, IReadOnlyList<string>>()), StepFixture.NoCompactions, new SinkErasure(none, none, new Dictionary<string, string?>(), []), new DeadLetterErasure([])),
            CancellationToken.None);

        Assert.False(verification.IsClean(dryRun: false));
        Assert.Equal("1", Assert.Single(verification.Residue));
        Assert.All(verification.Topics, t =>
        {
            Assert.True(t.Outcome.CompactedViewMatches > 0);
            Assert.True(t.Outcome.RawResidue > 0);
            Assert.Equal("not run", t.Outcome.Compaction);
            Assert.NotNull(t.Outcome.ResidueUntil);
            Assert.Equal("1", Assert.Single(t.RawSubjects));
        });
        Assert.All(verification.Sinks, s => Assert.Equal((1L, 0L, 1L, 0L), (s.RowsBefore, s.Deleted, s.Remaining, s.RemovedByMaterializers)));
    }
}
