namespace Sync.Cli.Tests;

public sealed class EraseCommandTests : WorkspaceTests
{
    [Fact]
    public async Task The_quickstart_erase_step_erases_a_customer_writes_the_report_and_exits_0()
    {
        Assert.Equal(0, (await Workspace.Sync("run", "--config", Workspace.Quickstart)).ExitCode);
        var report = Workspace.File("erasure.json");

        var result = await Workspace.Sync("erase", "--config", Workspace.Quickstart, "--subject", "customer", "--key", "4", "--report", report, "--requested-by", "dpo@example.com");

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("of subject customer, requested by dpo@example.com: complete", result.Output, StringComparison.Ordinal);
        var json = JsonDocument.Parse(await File.ReadAllTextAsync(report)).RootElement;
        Assert.Equal("complete", json.GetProperty("verdict").GetString());
        Assert.DoesNotContain("Dijkstra", await File.ReadAllTextAsync(report), StringComparison.Ordinal);
        Assert.DoesNotContain("Dijkstra", result.Output, StringComparison.Ordinal);
        Assert.DoesNotContain(SqliteTables.Rows(Workspace.QuickstartDb, "customers"), r => r.StartsWith("id=4|", StringComparison.Ordinal));

        var again = await Workspace.Sync("erase", "--config", Workspace.Quickstart, "--subject", "customer", "--key", "4");
        Assert.Equal(0, again.ExitCode);
        Assert.Contains("already-erased", again.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Keys_can_come_from_a_file()
    {
        Assert.Equal(0, (await Workspace.Sync("run", "--config", Workspace.Quickstart)).ExitCode);
        var keys = Workspace.Write("keys.txt", "1\n\n2\n");

        var result = await Workspace.Sync("erase", "--config", Workspace.Quickstart, "--subject", "customer", "--keys-from", keys);

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal(["id=4", "id=5"], SqliteTables.Rows(Workspace.QuickstartDb, "customers").Select(r => r.Split('|')[0]));
    }

    [Theory]
    [InlineData(new[] { "--subject", "employee", "--key", "1" }, "subject employee is not configured (known: customer)")]
    [InlineData(new[] { "--subject", "customer" }, "give the subject's key with --key, or a file of keys with --keys-from")]
    [InlineData(new[] { "--subject", "customer", "--keys-from", "nope.txt" }, "nope.txt does not exist")]
    public async Task Bad_usage_exits_2_and_says_what_is_wrong(string[] args, string message)
    {
        var result = await Workspace.Sync(["erase", "--config", Workspace.Quickstart, .. args]);

        Assert.Equal(2, result.ExitCode);
        Assert.Contains(message, result.Error, StringComparison.Ordinal);
    }
}
