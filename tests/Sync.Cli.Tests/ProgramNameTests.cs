namespace Sync.Cli.Tests;

/// <summary>Help and hints name the program as it was started, and `sync` on PATH is coreutils'
/// (which flushes file systems). The installed .NET tool (cdc-sync): DotnetToolTests.</summary>
public sealed class ProgramNameTests : WorkspaceTests
{
    [Fact]
    public async Task A_launcher_that_starts_dotnet_names_itself_through_SYNC_PROGRAM_NAME()
    {
        var help = await SyncProcess.RunWithEnvironmentAsync(Workspace.Directory, new Dictionary<string, string> { ["SYNC_PROGRAM_NAME"] = "./sync" }, "backfill", "--help");
        var wrong = await SyncProcess.RunWithEnvironmentAsync(Workspace.Directory, new Dictionary<string, string> { ["SYNC_PROGRAM_NAME"] = "./sync" }, "bogus");

        Assert.Contains("Usage:\n  ./sync backfill [options]", help.Output.ReplaceLineEndings("\n"), StringComparison.Ordinal);
        Assert.Contains("Run './sync --help'", wrong.Error, StringComparison.Ordinal);
    }
}
