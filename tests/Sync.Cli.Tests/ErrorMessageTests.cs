using System.Text.RegularExpressions;

namespace Sync.Cli.Tests;

/// <summary>Every error the CLI prints is a sentence: no .NET resource key stands in for the text.
/// With the switch System.Resources.UseSystemResourceKeys on, each framework message is its key and
/// arguments joined by commas (dotnet/runtime, src/libraries/Common/src/System/SR.cs, UsingResourceKeys
/// and Format), so the CLI leaves it off.</summary>
public sealed partial class ErrorMessageTests : WorkspaceTests
{
    private const string Topic = "persistent://public/default/db1.public.users";

    [Fact]
    public async Task Error_paths_print_sentences_naming_what_and_where_and_never_a_resource_key()
    {
        Workspace.Write("data/users.jsonl", string.Join('\n',
            $$$$$"""{"topic":"{{{{{Topic}}}}}","key":{"id":1},"value":{"op":"c","after":{"id":1,"ok":tru}}}""",
            $$$$$"""{"topic":"{{{{{Topic}}}}}","key":{"id":2},"value":{"op":"c","after":{"id":2}}}}""",
            $$"""{"topic":"{{Topic}}","key":{"id":3},"value":{"op":"c","after":{"id":3}""") + "\n");
        var badLines = Workspace.WriteFileToSqliteConfig("data/users.jsonl", "users.db", name: "lines.yaml", rest: $"""
            materializers:
              users: {"{"} source: changelog, topics: ['{Topic}'], sink: local, table: users {"}"}
            """);
        var badValues = Workspace.WriteFileToSqliteConfig("data/users.jsonl", "users.db", name: "values.yaml", sourceOptions: ", pollInterval: soon", rest: """
            materializers:
              users: { source: changelog, topicPattern: '[unclosed', sink: local, table: users, batchSize: many }
            """);
        var badYaml = Workspace.Write("broken.yaml", "sources:\n  a: [1, 2\nsinks: {}\n");
        var directoryChangelog = Workspace.WriteFileToSqliteConfig("data", "other.db", name: "directory.yaml", rest: """
            materializers:
              users: { source: changelog, topics: [t], sink: local, table: users }
            """);
        System.IO.Directory.CreateDirectory(Workspace.File("config-dir.yaml"));

        var runs = new (string What, ProcessResult Result)[]
        {
            ("missing config", await Workspace.Sync("validate", "--config", "missing.yaml")),
            ("config that is a directory", await Workspace.Sync("run", "--config", "config-dir.yaml")),
            ("bad values", await Workspace.Sync("validate", "--config", badValues)),
            ("bad YAML", await Workspace.Sync("run", "--config", badYaml)),
            ("changelog that is a directory", await Workspace.Sync("run", "--config", directoryChangelog)),
            ("bad JSON lines", await Workspace.Sync("run", "--config", badLines)),
            ("dead letters of bad JSON", await Workspace.Sync("dlq", "list", "--config", badLines, "--materializer", "users")),
            ("bad option value", await Workspace.Sync("run", "--config", badLines, "--metrics-port", "abc")),
        };

        foreach (var (what, result) in runs)
        {
            Assert.True(result.ExitCode != 0 || what == "dead letters of bad JSON", $"{what}: {result}");
            var keys = ResourceKey().Matches(result.Output + result.Error).Select(m => m.Value).ToList();
            Assert.True(keys.Count == 0, $"{what} printed resource keys ({string.Join(", ", keys)}): {result}");
        }

        var deadLetters = File.ReadAllText(Workspace.File("users.deadletter.jsonl"));
        Assert.Empty(ResourceKey().Matches(deadLetters));

        // The sentences name the file and the field or line.
        Assert.Contains("missing.yaml: cannot read the config file: Could not find file", runs[0].Result.Error, StringComparison.Ordinal);
        Assert.Contains("config-dir.yaml: cannot read the config file: it is a directory", runs[1].Result.Error, StringComparison.Ordinal);
        Assert.Contains("materializers.users.topicPattern ([unclosed) is not a valid regular expression: Invalid pattern", runs[2].Result.Error, StringComparison.Ordinal);
        Assert.Contains("data: it is a directory, not a changelog file", runs[4].Result.Error, StringComparison.Ordinal);
        Assert.Contains("users.jsonl:1 cannot be read: invalid JSON at byte", runs[5].Result.Error, StringComparison.Ordinal);
    }

    /// <summary>What a message is made of when texts are dropped: a key such as
    /// IO_FileNotFound_FileName or UnauthorizedAccess_IODenied_Path (parts joined by underscores), or
    /// a PascalCase key such as ExpectedTrue, ZeroDepthAtEnd or UnterminatedBracket followed by the
    /// comma that separates it from its arguments.</summary>
    [GeneratedRegex(@"\b[A-Za-z]+(?:_[A-Za-z0-9]+){2,}\b|\b(?:[A-Z][a-z0-9]+){2,},")]
    private static partial Regex ResourceKey();
}
