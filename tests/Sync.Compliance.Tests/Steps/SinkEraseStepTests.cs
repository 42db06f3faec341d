namespace Sync.Compliance.Tests.Steps;

public sealed class SinkEraseStepTests : StepTests
{
    [Fact]
    public async Task The_subjects_rows_are_deleted_by_key_and_by_field_and_the_other_rows_stay()
    {
        var customers = SqliteTables.Rows(Fixture.Workspace.QuickstartDb, "customers");
        var scope = await Fixture.ScopeAsync(["1"]);
        var plan = await new PlanStep().RunAsync(new(scope), CancellationToken.None);

        var erased = await new SinkEraseStep().RunAsync(new(scope, plan), CancellationToken.None);

        Assert.Equal(1, erased.Deleted["customers"]);
        Assert.Equal(1, erased.Deleted["orders"]);
        Assert.Empty(erased.Unmarkable);
        Assert.Empty(erased.CannotMatch);
        Assert.Equal(customers.Where(r => !r.StartsWith("id=1|", StringComparison.Ordinal)), SqliteTables.Rows(Fixture.Workspace.QuickstartDb, "customers"));
        Assert.DoesNotContain(SqliteTables.Rows(Fixture.Workspace.QuickstartDb, "orders"), r => r.Contains("|customer_id=1|", StringComparison.Ordinal));
        foreach (var bound in scope.Bindings)
        {
            Assert.Equal(0, (await SubjectRows.CountAsync(scope.SinkOf(bound), bound, scope.Keys, CancellationToken.None)).Total);
        }
    }

    [Fact]
    public async Task A_dry_run_deletes_no_row()
    {
        var customers = SqliteTables.Rows(Fixture.Workspace.QuickstartDb, "customers");
        var orders = SqliteTables.Rows(Fixture.Workspace.QuickstartDb, "orders");
        var scope = await Fixture.ScopeAsync(["1"], dryRun: true);
        var plan = await new PlanStep().RunAsync(new(scope), CancellationToken.None);

        var erased = await new SinkEraseStep().RunAsync(new(scope, plan), CancellationToken.None);

        Assert.All(erased.Deleted.Values, d => Assert.Equal(0, d));
        Assert.All(erased.ErasureMarkers.Values, m => Assert.Equal(0, m));
        Assert.Equal(customers, SqliteTables.Rows(Fixture.Workspace.QuickstartDb, "customers"));
        Assert.Equal(orders, SqliteTables.Rows(Fixture.Workspace.QuickstartDb, "orders"));
    }
}
