using Microsoft.Extensions.Time.Testing;

namespace Sync.Compliance.Tests.Steps;

public sealed class ReportStepTests : StepTests
{
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 25, 12, 0, 0, TimeSpan.Zero));

    [Fact]
    public async Task A_clean_verification_completes_every_key_in_the_ledger()
    {
        var scope = await Fixture.ScopeAsync(["1", "2"]);
        var run = await Fixture.ThroughVerifyAsync(scope, compact: true);

        var report = await ReportAsync(scope, run);

        Assert.Equal(ErasureVerdict.Complete, report.Verdict);
        Assert.Equal([ErasureVerdict.Complete, ErasureVerdict.Complete], report.Keys.Select(k => k.Verdict));
        Assert.Equal("batch of 2", report.RequestId);
        Assert.Equal(run.Verification.Sinks, report.Sinks);
        Assert.Contains(report.Notes, n => n.StartsWith("source changelog: a changelog file has no retention", StringComparison.Ordinal));
        await using var ledger = SqliteSuppressionLedger.Open(Fixture.Config.LedgerPath);
        foreach (var key in scope.Keys)
        {
            Assert.Equal(RequestStatus.Complete, (await ledger.FindAsync("customer", scope.Hashes[key], CancellationToken.None))!.Status);
        }
    }

    [Fact]
    public async Task Residue_makes_the_erasure_incomplete_for_the_keys_a_check_still_finds_only()
    {
        var scope = await Fixture.ScopeAsync(["1", "999999"]);
        var run = await Fixture.ThroughVerifyAsync(scope, compact: false);

        var report = await ReportAsync(scope, run);

        Assert.Equal(ErasureVerdict.Incomplete, report.Verdict);
        Assert.Equal([ErasureVerdict.Incomplete, ErasureVerdict.NotFound], report.Keys.Select(k => k.Verdict));
        await using var ledger = SqliteSuppressionLedger.Open(Fixture.Config.LedgerPath);
        Assert.Equal(RequestStatus.Incomplete, (await ledger.FindAsync("customer", scope.Hashes["1"], CancellationToken.None))!.Status);
        Assert.Equal(RequestStatus.NotFound, (await ledger.FindAsync("customer", scope.Hashes["999999"], CancellationToken.None))!.Status);
    }

    [Fact]
    public async Task A_key_found_nowhere_is_not_found_recorded_so_and_noted_beside_a_key_that_completes()
    {
        var scope = await Fixture.ScopeAsync(["1", "999999"]);
        var run = await Fixture.ThroughVerifyAsync(scope, compact: true);

        var report = await ReportAsync(scope, run);

        Assert.Equal(ErasureVerdict.Complete, report.Verdict);
        Assert.Equal([ErasureVerdict.Complete, ErasureVerdict.NotFound], report.Keys.Select(k => k.Verdict));
        Assert.Equal(["1"], run.Verification.Found);
        Assert.Equal(["1"], run.Plan.KeysFound);
        Assert.Contains(report.Notes, n => n.StartsWith($"key {scope.Hashes["999999"]}: found nowhere", StringComparison.Ordinal));
        await using var ledger = SqliteSuppressionLedger.Open(Fixture.Config.LedgerPath);
        var request = (await ledger.FindAsync("customer", scope.Hashes["999999"], CancellationToken.None))!;
        Assert.Equal(RequestStatus.NotFound, request.Status);
        Assert.True(request.IsActive);
    }

    [Fact]
    public async Task Keys_all_found_nowhere_make_the_request_not_found()
    {
        var scope = await Fixture.ScopeAsync(["999998", "999999"]);
        var run = await Fixture.ThroughVerifyAsync(scope, compact: true);

        var report = await ReportAsync(scope, run);

        Assert.Equal(ErasureVerdict.NotFound, report.Verdict);
        Assert.All(report.Keys, k => Assert.Equal(ErasureVerdict.NotFound, k.Verdict));
    }

    [Fact]
    public async Task A_key_found_nowhere_again_stays_not_found()
    {
        var first = await Fixture.ScopeAsync(["999999"]);
        await ReportAsync(first, await Fixture.ThroughVerifyAsync(first, compact: true));

        var again = await Fixture.ScopeAsync(["999999"]);
        var report = await ReportAsync(again, await Fixture.ThroughVerifyAsync(again, compact: true));

        Assert.Equal(ErasureVerdict.NotFound, report.Verdict);
    }

    [Fact]
    public async Task Keys_erased_before_with_nothing_left_to_find_are_already_erased()
    {
        var first = await Fixture.ScopeAsync(["1"]);
        var run = await Fixture.ThroughVerifyAsync(first, compact: true);
        await ReportAsync(first, run);

        var again = await Fixture.ScopeAsync(["1"]);
        run = await Fixture.ThroughVerifyAsync(again, compact: true);
        var report = await ReportAsync(again, run);

        Assert.Equal(ErasureVerdict.AlreadyErased, report.Verdict);
        Assert.Equal(ErasureVerdict.AlreadyErased, Assert.Single(report.Keys).Verdict);
    }

    [Fact]
    public async Task A_dry_run_is_planned_and_writes_no_ledger()
    {
        var scope = await Fixture.ScopeAsync(["1"], dryRun: true);
        var run = await Fixture.ThroughVerifyAsync(scope, compact: true);

        var report = await ReportAsync(scope, run);

        Assert.Equal(ErasureVerdict.Planned, report.Verdict);
        Assert.Equal(new KeyOutcome(scope.Hashes["1"], "-", ErasureVerdict.Planned), Assert.Single(report.Keys));
        Assert.False(File.Exists(Fixture.Config.LedgerPath));
    }

    private Task<ErasureReport> ReportAsync(ErasureScope scope, StepsRun run) =>
        new ReportStep().RunAsync(new(scope, run.Requests, run.Plan, run.Sinks, run.Verification, _time.GetUtcNow(), _time, new ErasureTimings()), CancellationToken.None);
}
