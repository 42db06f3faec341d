namespace Sync.Compliance.Tests.Steps;

public sealed class CompactionStepTests : StepTests
{
    [Fact]
    public async Task Compaction_after_the_tombstones_removes_the_subjects_raw_history_from_every_planned_topic()
    {
        var scope = await Fixture.ScopeAsync(["1"]);

        var (plan, _, compactions) = await StepFixture.ThroughCompactionAsync(scope);

        Assert.Equal(plan.Topics.Count, compactions.Topics.Count);
        Assert.All(plan.Topics, t =>
        {
            var compaction = compactions.Of(t.Key);
            Assert.Equal(CompactionState.Succeeded, compaction.State);
            Assert.Equal("SUCCESS", compaction.Text);
            Assert.Equal(2, compaction.MessagesRemoved);
        });
        foreach (var (topic, topicPlan) in plan.Topics)
        {
            var residue = await TopicCheck.RunAsync(scope, scope.Logs.Get(topicPlan.Source), topicPlan, topic.Topic, CancellationToken.None);
            Assert.Equal(0, residue.RawMatches);
            Assert.Empty(residue.RawSubjects);
        }
    }

    [Fact]
    public async Task A_dry_run_compacts_nothing_and_says_so()
    {
        var before = await File.ReadAllBytesAsync(Fixture.Changelog);
        var scope = await Fixture.ScopeAsync(["1"], dryRun: true);

        var (plan, _, compactions) = await StepFixture.ThroughCompactionAsync(scope);

        Assert.Empty(compactions.Topics);
        Assert.All(plan.Topics.Keys, t => Assert.Equal("not run (dry run)", compactions.Of(t).Text));
        Assert.Equal(before, await File.ReadAllBytesAsync(Fixture.Changelog));
    }

    [Fact]
    public void A_failure_shows_the_logs_own_status_and_error_and_a_topic_without_a_compaction_was_not_run()
    {
        var failed = TopicCompaction.From(new Sync.Engine.Topics.CompactionOutcome("ERROR", null, "ledger 17 is fenced"));
        var none = new Compactions(new Dictionary<TopicRef, TopicCompaction>(), DryRun: false).Of(new TopicRef("s", "t"));

        Assert.Equal(CompactionState.Failed, failed.State);
        Assert.False(failed.Succeeded);
        Assert.Equal("ERROR: ledger 17 is fenced", failed.Text);
        Assert.Equal(CompactionState.NotRun, none.State);
        Assert.Equal("not run", none.Text);
        Assert.Equal("TIMEOUT: compaction did not finish within 200ms", TopicCompaction.Of(CompactionState.TimedOut, error: "compaction did not finish within 200ms").Text);
    }
}
