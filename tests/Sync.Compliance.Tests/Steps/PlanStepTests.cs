namespace Sync.Compliance.Tests.Steps;

public sealed class PlanStepTests : StepTests
{
    [Fact]
    public async Task The_plan_finds_the_subjects_keys_per_topic_and_counts_its_rows_without_changing_anything()
    {
        var before = await File.ReadAllBytesAsync(Fixture.Changelog);
        var scope = await Fixture.ScopeAsync(["1"]);

        var plan = await new PlanStep().RunAsync(new(scope), CancellationToken.None);

        Assert.Equal(["db1.public.customers", "db2.sales.orders"], plan.Topics.Keys.Select(t => t.Topic[(t.Topic.LastIndexOf('/') + 1)..]).Order(StringComparer.Ordinal));
        var customers = Assert.Single(plan.Topics, t => t.Key.Topic.EndsWith("db1.public.customers", StringComparison.Ordinal)).Value;
        Assert.Single(customers.Keys);
        Assert.Empty(customers.Scrubs);
        Assert.Equal("customers", Assert.Single(customers.Materializers));
        Assert.Equal("1", Assert.Single(customers.Subjects));
        Assert.Equal(1, plan.RowsBefore["customers"]);
        Assert.Equal(1, plan.RowsBefore["orders"]);
        Assert.Single(plan.TombstonedRows["customers"]);
        Assert.Equal(before, await File.ReadAllBytesAsync(Fixture.Changelog));
        Assert.Contains(SqliteTables.Rows(Fixture.Workspace.QuickstartDb, "customers"), r => r.StartsWith("id=1|", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_key_no_message_names_gives_an_empty_plan()
    {
        var scope = await Fixture.ScopeAsync(["999999"]);

        var plan = await new PlanStep().RunAsync(new(scope), CancellationToken.None);

        Assert.Empty(plan.Topics);
        Assert.All(plan.RowsBefore.Values, rows => Assert.Equal(0, rows));
        Assert.All(plan.TombstonedRows.Values, Assert.Empty);
    }
}
