using Snapshooter;
using Snapshooter.Xunit;

namespace Sync.Cli.Tests;

public sealed class HelpTests : WorkspaceTests
{
    [Theory]
    [InlineData("root")]
    [InlineData("run")]
    [InlineData("backfill")]
    [InlineData("validate")]
    [InlineData("check")]
    [InlineData("config schema")]
    [InlineData("init")]
    [InlineData("erase")]
    [InlineData("status")]
    [InlineData("dump")]
    [InlineData("dlq")]
    [InlineData("dlq replay")]
    [InlineData("dlq list")]
    [InlineData("publish")]
    [InlineData("audit topics")]
    [InlineData("epoch")]
    [InlineData("epoch bump")]
    [InlineData("healthcheck")]
    [InlineData("ledger")]
    [InlineData("ledger list")]
    [InlineData("ledger show")]
    [InlineData("ledger revoke")]
    [InlineData("ledger export")]
    [InlineData("ledger copy")]
    [InlineData("ledger verify")]
    public async Task Every_command_has_useful_help(string command)
    {
        string[] args = command == "root" ? ["--help"] : [.. command.Split(' '), "--help"];

        var result = await Workspace.Sync(args);

        Assert.Equal(0, result.ExitCode);
        Snapshot.Match(result.Output, SnapshotNameExtension.Create(command.Replace(' ', '_')));
    }

    [Fact]
    public async Task Version_prints_the_version()
    {
        var result = await Workspace.Sync("--version");

        Assert.Equal(0, result.ExitCode);
        Assert.Matches(@"^\d+\.\d+\.\d+", result.Output.Trim());
    }

    // Shell completion: System.CommandLine answers the [suggest:POSITION] "LINE" directive that
    // dotnet-suggest sends on each Tab, one completion per line.
    [Fact]
    public async Task Completion_after_the_program_name_offers_every_command()
    {
        var result = await Workspace.Sync("[suggest:5]", "sync ");

        Assert.Equal(0, result.ExitCode);
        var offered = result.Output.Split('\n', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        var commands = Sync.Cli.SyncCli.Build(TextWriter.Null, TextWriter.Null).Subcommands.Select(c => c.Name).ToList();
        Assert.NotEmpty(commands);
        Assert.Subset(offered.ToHashSet(StringComparer.Ordinal), commands.ToHashSet(StringComparer.Ordinal));
    }

    [Fact]
    public async Task Completion_inside_a_command_offers_that_commands_options_only()
    {
        var result = await Workspace.Sync("[suggest:12]", "sync erase -");

        Assert.Equal(0, result.ExitCode);
        var offered = result.Output.Split('\n', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        Assert.Contains("--subject", offered);
        Assert.Contains("--keys-from", offered);
        Assert.DoesNotContain("--materializer", offered);
        Assert.DoesNotContain("run", offered);
    }

    [Fact]
    public async Task Completion_of_an_option_value_offers_its_allowed_values()
    {
        var result = await Workspace.Sync("[suggest:22]", "sync run --log-level ");

        Assert.Equal(0, result.ExitCode);
        var offered = result.Output.Split('\n', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(Enum.GetNames<Microsoft.Extensions.Logging.LogLevel>().Order(StringComparer.Ordinal), offered.Order(StringComparer.Ordinal));
    }
}
