using Sync.Compliance.Erasure.Steps;

namespace Sync.Compliance.Tests.Steps;

public sealed class PurgeBacklogStepTests : IAsyncLifetime
{
    private readonly StepFixture _fixture = new();

    public Task InitializeAsync() => _fixture.InitializeAsync();

    public Task DisposeAsync() => _fixture.DisposeAsync();

    [Fact]
    public async Task Without_purge_backlog_the_verification_is_passed_on_as_it_is()
    {
        var scope = await _fixture.ScopeAsync(["1"]);
        var verification = await VerifyWithoutCompactionAsync(scope);

        Assert.Same(verification, await new PurgeBacklogStep().RunAsync(new(scope, verification), CancellationToken.None));
    }

    [Fact]
    public async Task Each_topic_with_raw_residue_is_truncated_and_checked_again()
    {
        var scope = await _fixture.ScopeAsync(["1"], purgeBacklog: true);
        var verification = await VerifyWithoutCompactionAsync(scope);
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

    private static async Task<Verification> VerifyWithoutCompactionAsync(ErasureScope scope)
    {
        var plan = await new PlanStep().RunAsync(new(scope), CancellationToken.None);
        var tombstones = await new TombstoneStep().RunAsync(new(scope, plan), CancellationToken.None);
        var sinks = await new SinkEraseStep().RunAsync(new(scope, plan), CancellationToken.None);
        return await new VerifyStep().RunAsync(new(scope, plan, tombstones, new Compactions(new Dictionary<TopicRef, TopicCompaction>(), DryRun: false), sinks, new DeadLetterErasure([])), CancellationToken.None);
    }
}
