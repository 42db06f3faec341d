namespace Sync.Sinks.Tests.Healing;

/// <summary>The rollback tests of a sink whose <c>onEmptySink</c> default is <c>stop</c> (PostgreSQL,
/// SQLite): one that lost everything stops the materializer and names <c>sync backfill</c>.</summary>
public abstract class StoppingSinkRollbackTests : SinkRollbackTests
{
    [Fact]
    public async Task A_database_that_lost_everything_stops_the_materializer_and_names_sync_backfill()
    {
        await using var run = Start(Config("failover"));
        await PublishFirstPartAsync();
        await UntilSinkHoldsModelAsync();

        await EmptyAsync();
        run.PassCheckInterval();
        var outcome = (await run.Outcome).Single();

        var failure = Assert.IsType<SinkEmptiedException>(outcome.Failure);
        Assert.Contains("sync backfill --materializer users", failure.Message, StringComparison.Ordinal);
        Assert.Empty(await RowsAsync());
        Assert.Equal(1, run.Counters.Rollbacks);
    }
}
