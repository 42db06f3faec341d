using Sync.Compliance.Ledger;
using Sync.Engine.Ledger;

namespace Sync.Cli.Tests;

/// <summary>Honest verdicts: a key found nowhere is not-found, <c>--require-found</c> refuses it,
/// and a blank key is a usage error.</summary>
public sealed class EraseVerdictTests : WorkspaceTests
{
    private string Ledger => Workspace.File("examples/quickstart-ledger.db");

    [Fact]
    public async Task A_key_found_nowhere_is_not_found_exits_0_and_stays_suppressed_in_the_ledger()
    {
        Assert.Equal(0, (await Workspace.Sync("run", "--config", Workspace.Quickstart)).ExitCode);
        var report = Workspace.File("erasure.json");

        var result = await Workspace.Sync("erase", "--config", Workspace.Quickstart, "--subject", "customer", "--key", "99999", "--report", report);

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("of subject customer, requested by", result.Output, StringComparison.Ordinal);
        Assert.Contains(": not-found", result.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("complete", result.Output.Split('\n')[0], StringComparison.Ordinal);
        var json = JsonDocument.Parse(await File.ReadAllTextAsync(report)).RootElement;
        Assert.Equal("not-found", json.GetProperty("verdict").GetString());
        Assert.Contains(json.GetProperty("notes").EnumerateArray(), n => n.GetString()!.Contains("found nowhere", StringComparison.Ordinal));
        var request = await SingleRequestAsync();
        Assert.Equal(RequestStatus.NotFound, request.Status);
        Assert.True(request.IsActive);
    }

    [Fact]
    public async Task A_found_key_beside_a_missing_one_completes_the_request_and_marks_the_missing_one_not_found()
    {
        Assert.Equal(0, (await Workspace.Sync("run", "--config", Workspace.Quickstart)).ExitCode);

        var result = await Workspace.Sync("erase", "--config", Workspace.Quickstart, "--subject", "customer", "--key", "4", "--key", "99999");

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains(": complete", result.Output, StringComparison.Ordinal);
        Assert.Contains("not-found", result.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Require_found_refuses_a_key_found_nowhere_names_it_and_records_nothing()
    {
        Assert.Equal(0, (await Workspace.Sync("run", "--config", Workspace.Quickstart)).ExitCode);

        var result = await Workspace.Sync("erase", "--config", Workspace.Quickstart, "--subject", "customer", "--key", "4", "--key", "99999", "--require-found");

        Assert.Equal(4, result.ExitCode);
        Assert.Contains("error: --require-found: key 99999 of subject customer was found nowhere", result.Error, StringComparison.Ordinal);
        Assert.Contains("nothing was recorded or erased", result.Error, StringComparison.Ordinal);
        Assert.Contains(SqliteTables.Rows(Workspace.QuickstartDb, "customers"), r => r.StartsWith("id=4|", StringComparison.Ordinal));
        await using var ledger = SqliteSuppressionLedger.Open(Ledger);
        Assert.Empty(await ledger.ListAsync(CancellationToken.None).ToListAsync());
    }

    [Fact]
    public async Task Require_found_erases_keys_that_are_found()
    {
        Assert.Equal(0, (await Workspace.Sync("run", "--config", Workspace.Quickstart)).ExitCode);

        var result = await Workspace.Sync("erase", "--config", Workspace.Quickstart, "--subject", "customer", "--key", "4", "--require-found");

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains(": complete", result.Output, StringComparison.Ordinal);
        Assert.Equal(RequestStatus.Complete, (await SingleRequestAsync()).Status);
    }

    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    public async Task An_empty_or_blank_key_is_a_usage_error_before_anything_is_recorded(string key)
    {
        var result = await Workspace.Sync("erase", "--config", Workspace.Quickstart, "--subject", "customer", "--key", "4", "--key", key);

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("error: --key is empty or blank", result.Error, StringComparison.Ordinal);
        Assert.False(File.Exists(Ledger));
    }

    private async Task<ErasureRequest> SingleRequestAsync()
    {
        await using var ledger = SqliteSuppressionLedger.Open(Ledger);
        return Assert.Single(await ledger.ListAsync(CancellationToken.None).ToListAsync());
    }
}
