using Microsoft.Extensions.Time.Testing;
using Sync.Compliance.Erasure;
using Sync.Compliance.Erasure.Steps;
using Sync.Compliance.Ledger;

namespace Sync.Compliance.Tests.Steps;

public sealed class ReportStepTests : IAsyncLifetime
{
    private readonly StepFixture _fixture = new();
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 25, 12, 0, 0, TimeSpan.Zero));

    public Task InitializeAsync() => _fixture.InitializeAsync();

    public Task DisposeAsync() => _fixture.DisposeAsync();

    [Fact]
    public async Task A_clean_verification_completes_every_key_in_the_ledger()
    {
        var scope = await _fixture.ScopeAsync(["1", "2"]);
        var (requests, plan, sinks, verification) = await RunStepsAsync(scope, compact: true);

        var report = await new ReportStep().RunAsync(new(scope, requests, plan, sinks, verification, _time.GetUtcNow(), _time, new ErasureTimings()), CancellationToken.None);

        Assert.Equal(ErasureVerdict.Complete, report.Verdict);
        Assert.Equal([ErasureVerdict.Complete, ErasureVerdict.Complete], report.Keys.Select(k => k.Verdict));
        Assert.Equal("batch of 2", report.RequestId);
        Assert.Equal(verification.Sinks, report.Sinks);
        Assert.Contains(report.Notes, n => n.StartsWith("source changelog: a changelog file has no retention", StringComparison.Ordinal));
        using var ledger = SuppressionLedger.Open(_fixture.Config.LedgerPath, readOnly: true);
        Assert.All(scope.Keys, k => Assert.Equal(SuppressionLedger.Complete, ledger.Find("customer", scope.Hashes[k])!.Status));
    }

    [Fact]
    public async Task Residue_makes_the_erasure_incomplete_for_the_keys_a_check_still_finds_only()
    {
        var scope = await _fixture.ScopeAsync(["1", "999999"]);
        var (requests, plan, sinks, verification) = await RunStepsAsync(scope, compact: false);

        var report = await new ReportStep().RunAsync(new(scope, requests, plan, sinks, verification, _time.GetUtcNow(), _time, new ErasureTimings()), CancellationToken.None);

        Assert.Equal(ErasureVerdict.Incomplete, report.Verdict);
        Assert.Equal([ErasureVerdict.Incomplete, ErasureVerdict.Complete], report.Keys.Select(k => k.Verdict));
        using var ledger = SuppressionLedger.Open(_fixture.Config.LedgerPath, readOnly: true);
        Assert.Equal(SuppressionLedger.Incomplete, ledger.Find("customer", scope.Hashes["1"])!.Status);
        Assert.Equal(SuppressionLedger.Complete, ledger.Find("customer", scope.Hashes["999999"])!.Status);
    }

    [Fact]
    public async Task Keys_erased_before_with_nothing_left_to_find_are_already_erased()
    {
        var first = await _fixture.ScopeAsync(["1"]);
        var (requests, plan, sinks, verification) = await RunStepsAsync(first, compact: true);
        await new ReportStep().RunAsync(new(first, requests, plan, sinks, verification, _time.GetUtcNow(), _time, new ErasureTimings()), CancellationToken.None);

        var again = await _fixture.ScopeAsync(["1"]);
        (requests, plan, sinks, verification) = await RunStepsAsync(again, compact: true);
        var report = await new ReportStep().RunAsync(new(again, requests, plan, sinks, verification, _time.GetUtcNow(), _time, new ErasureTimings()), CancellationToken.None);

        Assert.Equal(ErasureVerdict.AlreadyErased, report.Verdict);
        Assert.Equal(ErasureVerdict.AlreadyErased, Assert.Single(report.Keys).Verdict);
    }

    [Fact]
    public async Task A_dry_run_is_planned_and_writes_no_ledger()
    {
        var scope = await _fixture.ScopeAsync(["1"], dryRun: true);
        var (requests, plan, sinks, verification) = await RunStepsAsync(scope, compact: true);

        var report = await new ReportStep().RunAsync(new(scope, requests, plan, sinks, verification, _time.GetUtcNow(), _time, new ErasureTimings()), CancellationToken.None);

        Assert.Equal(ErasureVerdict.Planned, report.Verdict);
        Assert.Equal(new KeyOutcome(scope.Hashes["1"], "-", ErasureVerdict.Planned), Assert.Single(report.Keys));
        Assert.False(File.Exists(_fixture.Config.LedgerPath));
    }

    private async Task<(RecordedRequests, ErasurePlan, SinkErasure, Verification)> RunStepsAsync(ErasureScope scope, bool compact)
    {
        var requests = await new RecordRequestsStep().RunAsync(new(scope, _time.GetUtcNow(), _fixture.NewRequestId), CancellationToken.None);
        var plan = await new PlanStep().RunAsync(new(scope), CancellationToken.None);
        var tombstones = await new TombstoneStep().RunAsync(new(scope, plan), CancellationToken.None);
        var compactions = compact
            ? await new CompactionStep().RunAsync(new(scope, plan), CancellationToken.None)
            : new Compactions(new Dictionary<TopicRef, TopicCompaction>(), DryRun: false);
        var sinks = await new SinkEraseStep().RunAsync(new(scope, plan), CancellationToken.None);
        var letters = await new DeadLetterEraseStep().RunAsync(new(scope), CancellationToken.None);
        var verification = await new VerifyStep().RunAsync(new(scope, plan, tombstones, compactions, sinks, letters), CancellationToken.None);
        return (requests, plan, sinks, verification);
    }
}
