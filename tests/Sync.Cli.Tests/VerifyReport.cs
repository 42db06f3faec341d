namespace Sync.Cli.Tests;

/// <summary>What <c>sync verify --json</c> reports for the config's first materializer.</summary>
internal static class VerifyReport
{
    /// <summary>Runs <c>sync verify --json</c> and asserts that it found drift (exit 3) among
    /// <paramref name="keys"/> keys, with exactly these counts per class, in the report's order.</summary>
    public static async Task AssertDriftAsync(Workspace workspace, string config, long keys, params (string Class, long Count)[] classes)
    {
        var verify = await workspace.Sync("verify", "--config", config, "--json");

        Assert.True(verify.ExitCode == 3, verify.ToString());
        using var json = JsonDocument.Parse(verify.Output);
        var result = json.RootElement.GetProperty("materializers")[0];
        Assert.Equal(keys, result.GetProperty("keys").GetInt64());
        Assert.Equal<(string, long)>(classes, [.. result.GetProperty("classes").EnumerateObject().Select(c => (c.Name, c.Value.GetProperty("count").GetInt64()))]);
    }
}
