namespace Sync.Compliance.Tests.Steps;

public sealed class PurgeBacklogStepTests : StepTests
{
    [Fact]
    public async Task Without_purge_backlog_the_verification_is_passed_on_as_it_is()
    {
        var scope = await Fixture.ScopeAsync(["1"]);
        var verification = (await Fixture.ThroughVerifyAsync(scope, compact: false)).Verification;

        Assert.Same(verification, await new PurgeBacklogStep().RunAsync(new(scope, verification), CancellationToken.None));
    }

    [Fact]
    public async Task Each_topic_with_raw_residue_is_truncated_and_checked_again()
    {
        var scope = await Fixture.ScopeAsync(["1"], purgeBacklog: true);
        var verification = (await Fixture.ThroughVerifyAsync(scope, compact: false)).Verification;
        Assert.All(verification.Topics, t => Assert.True(t.Outcome.RawResidue > 0));

        var purged = await new PurgeBacklogStep().RunAsync(new(scope, verification), CancellationToken.None);

        // A changelog file is never cut: its truncation is not needed, and the raw residue stays.
        Assert.All(purged.Topics, t =>
        {
            Assert.StartsWith("NOT_NEEDED: a changelog file has no backlog", t.Outcome.Truncation, StringComparison.Ordinal);
            Assert.Equal(t.Outcome.RawResidue, t.Outcome.RawResidueAfterTruncation);
            Assert.NotNull(t.Outcome.ResidueUntil);
        });
        Assert.False(purged.IsClean(dryRun: false));
    }
}
