namespace Sync.Compliance.Tests.Steps;

public sealed class RecordRequestsStepTests : StepTests
{
    private readonly DateTimeOffset _now = new(2026, 11, 25, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public async Task Each_distinct_key_is_recorded_in_progress_by_its_hash_before_anything_else_happens()
    {
        var scope = await Fixture.ScopeAsync(["1", "2", "1"]);

        var recorded = await new RecordRequestsStep().RunAsync(new(scope, _now, Fixture.NewRequestId), CancellationToken.None);

        Assert.Equal(["1", "2"], recorded.Keys.Select(k => k.Key));
        Assert.Equal(["request-1", "request-2"], recorded.Keys.Select(k => k.RequestId));
        Assert.False(recorded.AllErasedBefore);
        await using var ledger = SqliteSuppressionLedger.Open(Fixture.Config.LedgerPath);
        var request = await ledger.FindAsync("customer", scope.Hashes["1"], CancellationToken.None);
        Assert.NotNull(request);
        Assert.Equal(RequestStatus.InProgress, request.Status);
        Assert.Equal("dpo@example.com", request.RequestedBy);
        Assert.Equal(recorded.Keys[0].KeyHash, request.KeyHash);
        Assert.NotEqual("1", request.KeyHash);
    }

    [Fact]
    public async Task A_key_whose_earlier_erasure_completed_is_marked_as_erased_before()
    {
        var scope = await Fixture.ScopeAsync(["1", "2"]);
        var first = await new RecordRequestsStep().RunAsync(new(scope, _now, Fixture.NewRequestId), CancellationToken.None);
        await using (var ledger = SqliteSuppressionLedger.Open(Fixture.Config.LedgerPath))
        {
            await ledger.SetStatusAsync([(first.Keys[0].RequestId, RequestStatus.Complete)], _now, CancellationToken.None);
        }

        var again = await new RecordRequestsStep().RunAsync(new(scope, _now, Fixture.NewRequestId), CancellationToken.None);

        Assert.Equal([true, false], again.Keys.Select(k => k.ErasedBefore));
        Assert.False(again.AllErasedBefore);
    }

    [Fact]
    public async Task A_dry_run_records_nothing()
    {
        var scope = await Fixture.ScopeAsync(["1"], dryRun: true);

        var recorded = await new RecordRequestsStep().RunAsync(new(scope, _now, Fixture.NewRequestId), CancellationToken.None);

        Assert.Equal("-", Assert.Single(recorded.Keys).RequestId);
        Assert.False(File.Exists(Fixture.Config.LedgerPath));
    }
}
