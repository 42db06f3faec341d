namespace Sync.Cli.Tests;

/// <summary>An erase while <c>sync run</c> is following the changelog sticks.</summary>
public sealed class EraseDuringRunTests : WorkspaceTests
{
    [Fact]
    public async Task Changes_of_an_erased_subject_that_arrive_during_a_run_are_suppressed()
    {
        var changelog = Workspace.Write("data/customers.jsonl", CustomerChangelog.Line(1, "c", "ada", 10) + CustomerChangelog.Line(2, "c", "bob", 11));
        var config = CustomerChangelog.WriteConfig(Workspace, ["secret: 'erase-during-run-secret-0123'", "refreshInterval: 100ms"], sourceOptions: ", follow: true, pollInterval: 20ms");
        var database = Workspace.File("customers.db");

        using var run = SyncProcess.Start(Workspace.Directory, "run", "--config", config);
        var output = run.StandardOutput.ReadToEndAsync();
        await Poll.UntilAsync(() => SqliteTables.Count(database, "SELECT count(*) FROM customers") == 2);

        var erase = await Workspace.Sync("erase", "--config", config, "--subject", "customer", "--key", "1");
        Assert.True(erase.ExitCode == 0, erase.ToString());

        File.AppendAllText(changelog, CustomerChangelog.Line(1, "u", "ada again", 20) + CustomerChangelog.Line(3, "c", "cy", 21));
        await Poll.UntilAsync(() => SqliteTables.Count(database, "SELECT count(*) FROM customers WHERE id = 3") == 1);
        using (var kill = System.Diagnostics.Process.Start("kill", ["-TERM", run.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
        {
            await kill.WaitForExitAsync();
        }

        await run.WaitForExitAsync();
        Assert.Equal(0, run.ExitCode);
        Assert.Equal(["id=2|name=bob", "id=3|name=cy"], SqliteTables.Rows(database, "customers"));
        // read 5 (the erase appended a tombstone), applied 3, suppressed 2 (the tombstone and the late update)
        var summary = await output;
        Assert.True(System.Text.RegularExpressions.Regex.IsMatch(summary, @"customers\s+local/customers\s+5\s+3\s+0\s+0\s+0\s+2\s"), summary);
    }
}
