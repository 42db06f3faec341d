namespace Sync.Cli.Tests;

/// <summary><c>sync init</c> writes, for every source and sink type, a starter config that
/// <c>sync validate</c> accepts and the schema validates, with the schema next to it.</summary>
public sealed class InitCommandTests : WorkspaceTests
{
    public static TheoryData<string, string> Combinations()
    {
        var data = new TheoryData<string, string>();
        foreach (var source in new[] { "file", "pulsar" })
        {
            foreach (var sink in new[] { "postgres", "redis", "sqlite", "elasticsearch" })
            {
                data.Add(source, sink);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Combinations))]
    public async Task The_starter_config_of_every_source_and_sink_passes_validate(string source, string sink)
    {
        var file = Workspace.File($"{source}-{sink}/sync.yaml");

        var init = await Workspace.Sync("init", "--source", source, "--sink", sink, "--output", file);
        var validate = await Workspace.Sync("validate", "--config", file);

        Assert.True(init.ExitCode == 0, init.ToString());
        Assert.True(validate.ExitCode == 0 && validate.Output.Trim() == "ok", validate.ToString() + "\n" + await File.ReadAllTextAsync(file));
        var text = await File.ReadAllTextAsync(file);
        Assert.StartsWith("# yaml-language-server: $schema=sync-config.schema.json\n", text, StringComparison.Ordinal);
        Assert.Equal(
            await File.ReadAllTextAsync(Path.Combine(Sync.Testing.Process.RepoPaths.Root, "docs", "sync-config.schema.json")),
            await File.ReadAllTextAsync(Workspace.File($"{source}-{sink}/sync-config.schema.json")));
        ConfigSchemaTests.AssertValid(text);
    }

    [Fact]
    public async Task An_existing_config_is_kept_unless_force_is_given()
    {
        var file = Workspace.Write("sync.yaml", "# mine\n");

        var refused = await Workspace.Sync("init", "--source", "file", "--sink", "sqlite", "--output", file);
        var kept = await File.ReadAllTextAsync(file);
        var forced = await Workspace.Sync("init", "--source", "file", "--sink", "sqlite", "--output", file, "--force");

        Assert.True(refused.ExitCode == 2, refused.ToString());
        Assert.Contains("exists; use --force", refused.Error, StringComparison.Ordinal);
        Assert.Equal("# mine\n", kept);
        Assert.True(forced.ExitCode == 0, forced.ToString());
        Assert.Contains("type: sqlite", await File.ReadAllTextAsync(file), StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_unknown_sink_type_is_refused_with_the_known_ones()
    {
        var result = await Workspace.Sync("init", "--source", "file", "--sink", "mongodb");

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("'mongodb'", result.Error, StringComparison.Ordinal);
        Assert.Contains("'elasticsearch'", result.Error, StringComparison.Ordinal);
    }
}
