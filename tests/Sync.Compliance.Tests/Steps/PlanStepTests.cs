using Sync.Compliance.Erasure.Steps;
using Sync.Testing.Files;

namespace Sync.Compliance.Tests.Steps;

public sealed class PlanStepTests : IAsyncLifetime
{
    private readonly StepFixture _fixture = new();

    public Task InitializeAsync() => _fixture.InitializeAsync();

    public Task DisposeAsync() => _fixture.DisposeAsync();

    [Fact]
    public async Task The_plan_finds_the_subjects_keys_per_topic_and_counts_its_rows_without_changing_anything()
    {
        var before = await File.ReadAllBytesAsync(_fixture.Changelog);
        var scope = await _fixture.ScopeAsync(["1"]);

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
        Assert.Equal(before, await File.ReadAllBytesAsync(_fixture.Changelog));
        Assert.Contains(SqliteTables.Rows(_fixture.Workspace.QuickstartDb, "customers"), r => r.StartsWith("id=1|", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_key_no_message_names_gives_an_empty_plan()
    {
        var scope = await _fixture.ScopeAsync(["999999"]);

        var plan = await new PlanStep().RunAsync(new(scope), CancellationToken.None);

        Assert.Empty(plan.Topics);
        Assert.All(plan.RowsBefore.Values, rows => Assert.Equal(0, rows));
        Assert.All(plan.TombstonedRows.Values, Assert.Empty);
    }
}
