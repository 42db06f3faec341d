using Sync.Testing.Files;
using Snapshooter;
using Snapshooter.Xunit;

namespace Sync.Cli.Tests;

public sealed class HelpTests : IDisposable
{
    private readonly Workspace _workspace = new();

    public void Dispose() => _workspace.Dispose();

    [Theory]
    [InlineData("root")]
    [InlineData("run")]
    [InlineData("backfill")]
    [InlineData("validate")]
    [InlineData("erase")]
    [InlineData("status")]
    [InlineData("dump")]
    [InlineData("audit topics")]
    public async Task Every_command_has_useful_help(string command)
    {
        string[] args = command == "root" ? ["--help"] : [.. command.Split(' '), "--help"];

        var result = await _workspace.Sync(args);

        Assert.Equal(0, result.ExitCode);
        Snapshot.Match(result.Output, SnapshotNameExtension.Create(command.Replace(' ', '_')));
    }

    [Fact]
    public async Task Version_prints_the_version()
    {
        var result = await _workspace.Sync("--version");

        Assert.Equal(0, result.ExitCode);
        Assert.Matches(@"^\d+\.\d+\.\d+", result.Output.Trim());
    }
}
