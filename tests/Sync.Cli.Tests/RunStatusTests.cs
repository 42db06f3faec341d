using System.Text.RegularExpressions;
using Snapshooter;
using Snapshooter.Xunit;

namespace Sync.Cli.Tests;

/// <summary>The run summary and exit code tell the truth: Debezium's messages that are not row
/// changes are skipped and counted (never dead-lettered), a run that dead-lettered anything never
/// says a plain ok, and the error policy (<c>errors:</c>) decides the exit code. Exit codes:
/// docs/operations.md "Exit codes".</summary>
public sealed partial class RunStatusTests : WorkspaceTests
{
    private const string Users = "persistent://public/default/db1.public.users";
    private const string Source = """{"version":"1.9.7.Final","connector":"postgresql","name":"db1","ts_ms":1700000000000,"snapshot":"false","db":"shop","sequence":null,"schema":"public","table":"users","txId":748,"lsn":100,"xmin":null}""";

    /// <summary>Every kind of non-row message on the topics a topicPattern catches (shapes: see
    /// tests/Sync.Engine.Tests/Formats/NonRowMessageTests and tests/corpus/debezium/non-row-messages/ORIGIN.md).</summary>
    [Fact]
    public async Task Heartbeats_transaction_boundaries_messages_and_schema_changes_are_skipped_and_counted_never_dead_lettered()
    {
        Workspace.Write("data/changelog.jsonl", string.Join('\n',
            """{"topic":"persistent://public/default/__debezium-heartbeat.db1","key":{"serverName":"db1"},"value":{"ts_ms":1700000000000}}""",
            """{"topic":"persistent://public/default/db1.transaction","key":{"id":"748"},"value":{"status":"BEGIN","id":"748","event_count":null,"data_collections":null}}""",
            $$$"""{"topic":"{{{Users}}}","key":{"id":1},"value":{"before":null,"after":{"id":1,"name":"Ada"},"source":{{{Source}}},"op":"c","ts_ms":1700000000001}}""",
            """{"topic":"persistent://public/default/db1.transaction","key":{"id":"748"},"value":{"status":"END","id":"748","event_count":1,"data_collections":[{"data_collection":"public.users","event_count":1}]}}""",
            """{"topic":"persistent://public/default/db1.message","key":{"prefix":"audit"},"value":{"op":"m","ts_ms":1700000000002,"source":{"version":"1.9.7.Final","connector":"postgresql","name":"db1","ts_ms":1700000000000,"snapshot":"false","db":"shop","sequence":null,"schema":"","table":"","txId":null,"lsn":120,"xmin":null},"message":{"prefix":"audit","content":"aGVsbG8="}}}""",
            """{"topic":"persistent://public/default/db1","key":{"databaseName":"shop"},"value":{"source":{"server":"db1"},"position":{"lsn":130},"databaseName":"shop","ddl":"ALTER TABLE public.users ADD COLUMN email text","tableChanges":[]}}""",
            $$$"""{"topic":"{{{Users}}}","key":{"id":2},"value":{"before":null,"after":{"id":2,"name":"Grace"},"source":{{{Source.Replace("\"lsn\":100", "\"lsn\":140", StringComparison.Ordinal)}}},"op":"c","ts_ms":1700000000003}}""") + "\n");
        var config = Workspace.WriteFileToSqliteConfig("data/changelog.jsonl", "users.db", """
            materializers:
              users:
                source: changelog
                topicPattern: 'persistent://public/default/(__debezium-heartbeat\.)?db1(\..*)?'
                sink: local
                table: users
            """);

        var result = await Workspace.Sync("run", "--config", config);

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal(["id=1|name=Ada", "id=2|name=Grace"], SqliteTables.Rows(Workspace.File("users.db"), "users"));
        Assert.False(File.Exists(Workspace.File("users.deadletter.jsonl")), result.ToString());
        var row = SummaryRow().Match(result.Output);
        Assert.True(row.Success, result.Output);
        Assert.Equal(("7", "2", "5", "0", "ok"), (row.Groups["read"].Value, row.Groups["applied"].Value, row.Groups["skipped"].Value, row.Groups["dead"].Value, row.Groups["status"].Value));
        Assert.Contains("skipped by users: 1 heartbeat, 2 transaction, 1 message, 1 schema-change (Debezium messages that are not row changes)", result.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_run_that_dead_lettered_says_how_many_and_where_and_exits_3()
    {
        var config = WriteBadChangelog(errors: string.Empty);

        var result = await Workspace.Sync("run", "--config", config);

        Assert.True(result.ExitCode == 3, result.ToString());
        Assert.Equal(["id=1|name=a", "id=3|name=c"], SqliteTables.Rows(Workspace.File("users.db"), "users"));
        Assert.Contains($"dead letters of users: 1 in this run, written to {Workspace.File("users.deadletter.jsonl")}", result.Output, StringComparison.Ordinal);
        Snapshot.Match(Stable(result.Output));

        var status = await Workspace.Sync("status", "--config", config);
        Assert.True(status.ExitCode == 0, status.ToString());
        Assert.Matches(@"users\s+local/users\s+\S+\s+0:3:-1\s+0:3:-1\s+0\s+1\s", status.Output);
    }

    [Fact]
    public async Task A_backfill_that_dead_lettered_exits_3_too()
    {
        var config = WriteBadChangelog(errors: string.Empty);

        var result = await Workspace.Sync("backfill", "--config", config, "--materializer", "users", "--no-progress");

        Assert.True(result.ExitCode == 3, result.ToString());
        Assert.Matches(@"users\s+local/users\s+3\s+2\s+0\s+0\s+0\s+0\s+0\s+0\s+1\s+\d+\.\d\d\s+dead letters", result.Output);
    }

    [Fact]
    public async Task With_tolerance_none_the_first_dead_letter_stops_the_materializer_naming_it_and_the_run_exits_4()
    {
        var config = WriteBadChangelog(errors: "errors: { tolerance: none }");

        var result = await Workspace.Sync("run", "--config", config);

        Assert.True(result.ExitCode == 4, result.ToString());
        Assert.Contains($"error: materializer users stopped by its error policy: users stopped at its first dead letter (errors.tolerance: none): message {Users} @ 0:2:-1 (decode: op: unknown operation code", result.Error, StringComparison.Ordinal);
        Assert.Contains($"written to {Workspace.File("users.deadletter.jsonl")}", result.Error, StringComparison.Ordinal);
        Assert.Single(File.ReadAllLines(Workspace.File("users.deadletter.jsonl")));
        Assert.Matches(@"users\s+local/users\s+3\s+2\s+0\s+0\s+0\s+0\s+0\s+0\s+1\s+\d+\.\d\d\s+stopped by errors", result.Output);

        // The letter is in the dead-letter target and the checkpoint passed it: a rerun neither
        // writes it again nor stops.
        var rerun = await Workspace.Sync("run", "--config", config);
        Assert.True(rerun.ExitCode == 0, rerun.ToString());
        Assert.Single(File.ReadAllLines(Workspace.File("users.deadletter.jsonl")));
    }

    [Fact]
    public async Task A_materializer_maxDeadLetters_overrides_the_top_level_tolerance_none()
    {
        var config = WriteBadChangelog(errors: "errors: { tolerance: none }", own: "errors: { tolerance: all, maxDeadLetters: 1 }");

        var result = await Workspace.Sync("run", "--config", config);

        Assert.True(result.ExitCode == 3, result.ToString());
    }

    private string WriteBadChangelog(string errors, string own = "")
    {
        Workspace.Write("data/users.jsonl", string.Join('\n',
            $$$$"""{"topic":"{{{{Users}}}}","key":{"id":1},"value":{"op":"c","after":{"id":1,"name":"a"},"source":{"lsn":10}}}""",
            $$$$"""{"topic":"{{{{Users}}}}","key":{"id":2},"value":{"op":"x","after":{"id":2}}}""",
            $$$$"""{"topic":"{{{{Users}}}}","key":{"id":3},"value":{"op":"c","after":{"id":3,"name":"c"},"source":{"lsn":12}}}""") + "\n");
        return Workspace.WriteFileToSqliteConfig("data/users.jsonl", "users.db", $"""
            materializers:
              users:
                source: changelog
                topics: ['{Users}']
                sink: local
                table: users
                {own}
            {errors}
            """);
    }

    /// <summary>The output without what differs between runs: the seconds and the workspace folder.</summary>
    private string Stable(string output) =>
        Seconds().Replace(output.Replace(Workspace.Directory, "<workspace>", StringComparison.Ordinal), m => new string('9', m.Length - 3) + ".99");

    [GeneratedRegex(@"(?<=\s)\d+\.\d\d(?=\s)")]
    private static partial Regex Seconds();

    [GeneratedRegex(@"users\s+local/users\s+(?<read>\d+)\s+(?<applied>\d+)\s+\d+\s+\d+\s+\d+\s+\d+\s+\d+\s+(?<skipped>\d+)\s+(?<dead>\d+)\s+\d+\.\d\d\s+(?<status>\S+)")]
    private static partial Regex SummaryRow();
}
