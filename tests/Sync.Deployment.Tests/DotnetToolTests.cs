using System.Reflection;
using System.Xml.Linq;
using Sync.Testing.Process;

namespace Sync.Deployment.Tests;

/// <summary>sync as a .NET tool: packed from the build the tests already made, installed from that
/// package alone (a NuGet config that lists only the local folder, so nothing is fetched), and run
/// under its command name.</summary>
public sealed class DotnetToolTests : IDisposable
{
    private readonly string _work = Directory.CreateTempSubdirectory("sync-tool-").FullName;

    public void Dispose() => Directory.Delete(_work, recursive: true);

    [Fact]
    public void The_tool_command_is_not_the_coreutils_sync()
    {
        var project = XDocument.Load(Path.Combine(RepoPaths.Root, "src", "Sync.Cli", "Sync.Cli.csproj"));
        string Property(string name) => project.Descendants(name).Single().Value;

        Assert.Equal("true", Property("PackAsTool"));
        Assert.Equal("cdc-sync", Property("ToolCommandName"));
        Assert.Equal("cdc-sync", Property("PackageId"));
    }

    [Fact]
    public async Task The_packed_tool_installs_from_the_local_package_and_prints_the_version_of_the_build()
    {
        var packages = Path.Combine(_work, "packages");
        var pack = await Dotnet(
            "pack", Path.Combine(RepoPaths.Root, "src", "Sync.Cli", "Sync.Cli.csproj"),
            "--no-build", "--no-restore", "-c", Configuration, $"-p:ArtifactsPath={ArtifactsPath}", "-o", packages, "--nologo");
        Assert.True(pack.ExitCode == 0, pack.ToString());
        var package = Path.GetFileNameWithoutExtension(Assert.Single(Directory.GetFiles(packages, "cdc-sync.*.nupkg")));
        var version = package["cdc-sync.".Length..];

        var config = Path.Combine(_work, "nuget.config");
        await File.WriteAllTextAsync(config, $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <packageSources>
                <clear />
                <add key="local" value="{packages}" />
              </packageSources>
            </configuration>
            """);
        var tools = Path.Combine(_work, "tools");
        var install = await Dotnet("tool", "install", "cdc-sync", "--tool-path", tools, "--configfile", config, "--version", version);
        Assert.True(install.ExitCode == 0, install.ToString());

        var tool = await SyncProcess.RunAsync(Path.Combine(tools, "cdc-sync"), ["--version"], _work, TimeSpan.FromMinutes(1));
        var built = await SyncProcess.RunAsync(_work, "--version");

        Assert.True(tool.ExitCode == 0, tool.ToString());
        Assert.StartsWith(version, tool.Output.Trim(), StringComparison.Ordinal);
        Assert.Equal(built.Output.Trim(), tool.Output.Trim());

        // Help and hints name the command as installed: `sync --help` would run coreutils' sync.
        var help = await SyncProcess.RunAsync(Path.Combine(tools, "cdc-sync"), ["run", "--help"], _work, TimeSpan.FromMinutes(1));
        var wrong = await SyncProcess.RunAsync(Path.Combine(tools, "cdc-sync"), ["run", "--no-such-option"], _work, TimeSpan.FromMinutes(1));
        Assert.Contains("Usage:\n  cdc-sync run [options]", help.Output.ReplaceLineEndings("\n"), StringComparison.Ordinal);
        Assert.Equal(2, wrong.ExitCode);
        Assert.Contains("Run 'cdc-sync --help' to see the commands and options.", wrong.Error, StringComparison.Ordinal);
    }

    /// <summary>The configuration the tests were built with; the CLI next to them was built with it too.</summary>
    private static string Configuration =>
        typeof(DotnetToolTests).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()!.Configuration;

    /// <summary>The artifacts folder of this build (<c>ARTIFACTS/bin/PROJECT/PIVOT/</c>), so that pack
    /// finds the CLI's build output wherever the build put it.</summary>
    private static string ArtifactsPath =>
        Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, "..", "..", ".."));

    private Task<ProcessResult> Dotnet(params string[] args) =>
        SyncProcess.RunAsync("dotnet", args, _work, TimeSpan.FromMinutes(5));
}
