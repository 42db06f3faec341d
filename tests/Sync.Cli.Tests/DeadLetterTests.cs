namespace Sync.Cli.Tests;

public sealed class DeadLetterTests : WorkspaceTests
{
    private const string Topic = "persistent://public/default/db1.public.users";

    [Fact]
    public async Task Bad_lines_and_undecodable_messages_go_to_the_dead_letter_file_and_the_rest_is_applied()
    {
        Workspace.Write("data/users.jsonl", string.Join('\n',
            $$$$"""{"topic":"{{{{Topic}}}}","key":{"id":1},"value":{"op":"c","after":{"id":1,"name":"a"},"source":{"lsn":10}}}""",
            """{"topic": "broken""",
            $$$$"""{"topic":"{{{{Topic}}}}","key":{"id":2},"value":{"op":"x","after":{"id":2}}}""",
            $$$$"""{"topic":"{{{{Topic}}}}","key":{"id":3},"value":{"op":"c","after":{"id":3,"name":"c"},"source":{"lsn":12}}}""") + "\n");
        var config = Workspace.WriteFileToSqliteConfig("data/users.jsonl", "users.db", $"""
            materializers:
              users:
                source: changelog
                topics: ['{Topic}']
                sink: local
                table: users
            """);

        var result = await Workspace.Sync("run", "--config", config);

        Assert.True(result.ExitCode == 3, result.ToString());
        Assert.Equal(["id=1|name=a", "id=3|name=c"], SqliteTables.Rows(Workspace.File("users.db"), "users"));
        Assert.Contains("users.jsonl:2 cannot be read", result.Error, StringComparison.Ordinal);
        Assert.Contains($"message {Topic} @ 0:3:-1 cannot be decoded", result.Error, StringComparison.Ordinal);

        var letters = File.ReadAllLines(Workspace.File("users.deadletter.jsonl")).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.Equal(2, letters.Count);
        Assert.Equal("read", letters[0].GetProperty("stage").GetString());
        Assert.Equal("users.jsonl:2", letters[0].GetProperty("location").GetString());
        Assert.Equal("""{"topic": "broken""", letters[0].GetProperty("raw").GetString());
        Assert.Equal("decode", letters[1].GetProperty("stage").GetString());
        Assert.Equal(Topic, letters[1].GetProperty("topic").GetString());
        Assert.Equal("0:3:-1", letters[1].GetProperty("position").GetString());
        Assert.False(string.IsNullOrEmpty(letters[1].GetProperty("reason").GetString()));
        // The message is kept whole, so that a fixed dead-letter file can be replayed as a changelog.
        Assert.Equal("x", letters[1].GetProperty("message").GetProperty("value").GetProperty("op").GetString());
        Assert.Contains("dead letters of users:", result.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_row_the_sink_cannot_write_goes_to_the_dead_letter_file_with_stage_apply()
    {
        Workspace.Write("data/users.jsonl", string.Join('\n',
            $$$$"""{"topic":"{{{{Topic}}}}","key":{"id":1},"value":{"op":"c","after":{"id":1,"name":"a"},"source":{"lsn":10}}}""",
            $$$$"""{"topic":"{{{{Topic}}}}","key":{"id":null},"value":{"op":"c","after":{"id":null,"name":"b"},"source":{"lsn":11}}}""") + "\n");
        var config = Workspace.WriteFileToSqliteConfig("data/users.jsonl", "users.db", $"""
            materializers:
              users: {"{"} source: changelog, topics: ['{Topic}'], sink: local, table: users {"}"}
            """);

        var result = await Workspace.Sync("run", "--config", config);

        Assert.True(result.ExitCode == 3, result.ToString());
        Assert.Equal(["id=1|name=a"], SqliteTables.Rows(Workspace.File("users.db"), "users"));
        var letter = JsonDocument.Parse(Assert.Single(File.ReadAllLines(Workspace.File("users.deadletter.jsonl")))).RootElement;
        Assert.Equal("apply", letter.GetProperty("stage").GetString());
        Assert.Equal("0:2:-1", letter.GetProperty("position").GetString());
        Assert.Contains("key column \"id\" is NULL", letter.GetProperty("reason").GetString(), StringComparison.Ordinal);
        Assert.Equal("b", letter.GetProperty("message").GetProperty("value").GetProperty("after").GetProperty("name").GetString());
    }

    [Fact]
    public async Task A_missing_changelog_file_fails_the_run_with_exit_1_and_names_the_file()
    {
        var config = Workspace.WriteFileToSqliteConfig("data/none.jsonl", "users.db", """
            materializers:
              users: { source: changelog, topics: [t], sink: local, table: users }
            """);

        var result = await Workspace.Sync("run", "--config", config);

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("none.jsonl does not exist", result.Error, StringComparison.Ordinal);
    }
}
