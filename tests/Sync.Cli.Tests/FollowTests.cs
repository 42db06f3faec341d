namespace Sync.Cli.Tests;

public sealed class FollowTests : WorkspaceTests
{
    private const string Topic = "persistent://public/default/db1.public.users";

    /// <summary>A config that follows <c>data/users.jsonl</c> into the SQLite table <c>users</c> of <c>users.db</c>.</summary>
    private (string Config, string Database) WriteFollowingSqliteConfig() =>
        (Workspace.Write("sync.yaml", $"""
            sources:
              changelog: {"{"} type: file, path: data/users.jsonl, follow: true, pollInterval: 20ms {"}"}
            sinks:
              local: {"{"} type: sqlite, path: users.db {"}"}
            materializers:
              users: {"{"} source: changelog, topics: ['{Topic}'], sink: local, table: users, linger: 0ms {"}"}
            """), Workspace.File("users.db"));

    [Fact]
    public async Task A_following_run_applies_lines_appended_later_and_stops_cleanly_on_SIGTERM()
    {
        var changelog = Workspace.Write("data/users.jsonl", Line(1, "c", "a", 10));
        var (config, database) = WriteFollowingSqliteConfig();

        using var process = SyncProcess.Start(Workspace.Directory, "run", "--config", config);
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await Poll.UntilAsync(() => SqliteTables.Count(database, "SELECT count(*) FROM users") == 1);
        File.AppendAllText(changelog, Line(2, "c", "b", 11) + Line(1, "u", "a2", 12));
        await Poll.UntilAsync(() => SqliteTables.Rows(database, "users").Contains("id=1|name=a2"));

        using (var kill = System.Diagnostics.Process.Start("kill", ["-TERM", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
        {
            await kill.WaitForExitAsync();
        }

        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await process.WaitForExitAsync(timeout.Token);
        Assert.Equal(0, process.ExitCode);
        Assert.Equal(["id=1|name=a2", "id=2|name=b"], SqliteTables.Rows(database, "users"));
        // A followed file has no end: a signal is its normal stop, not an interruption.
        Assert.Matches(@"users\s+local/users\s+3\s+[^\n]*\bstopped\b", await output);
        Assert.Contains("stopping after the batch in hand", await error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_second_signal_exits_at_once_while_the_first_waits_for_the_batch_in_hand()
    {
        await using var elasticsearch = Sync.Testing.Elasticsearch.FakeElasticsearch.Start();
        var changelog = Workspace.Write("data/users.jsonl", Line(1, "c", "a", 10));
        var config = Workspace.Write("sync.yaml", $"""
            sources:
              changelog: {"{"} type: file, path: data/users.jsonl, follow: true, pollInterval: 20ms {"}"}
            sinks:
              search: {"{"} type: elasticsearch, urls: ['{elasticsearch.Url}'] {"}"}
            materializers:
              users: {"{"} source: changelog, topics: ['{Topic}'], sink: search, table: users, linger: 0ms {"}"}
            """);

        using var process = SyncProcess.Start(Workspace.Directory, "run", "--config", config);
        var error = new StandardErrorReader(process);

        await Poll.UntilAsync(() => elasticsearch.BulkSizes.Count == 1);

        // The next batch's _bulk request hangs: the run holds a batch it cannot finish.
        elasticsearch.Faults.DelayNextResponses(TimeSpan.FromMinutes(5), count: 10);
        File.AppendAllText(changelog, Line(2, "c", "b", 11));
        await Poll.UntilAsync(() => elasticsearch.Faults.Fired("delay") > 0);

        // The second signal goes only once the first was handled, so the two cannot be taken in
        // either order; the batch in hand waits on a _bulk answer delayed by minutes, so the process
        // is still there then because the first signal waits for it, not because it was slow.
        await SignalAsync(process, "-TERM");
        await Poll.UntilAsync(() => error.Text.Contains("stopping after the batch in hand; signal again to exit at once", StringComparison.Ordinal));
        Assert.False(process.HasExited, "the first signal must wait for the batch in hand");
        // SIGTERM again, not SIGINT: a test run started in the background by a non-interactive shell
        // inherits SIGINT as ignored, and the runtime keeps an ignored SIGINT ignored (as nohup expects).
        await SignalAsync(process, "-TERM");

        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(timeout.Token);
        await error.Completion;
        // 128 + SIGTERM's number, as a shell reports a command killed by it.
        Assert.Equal(143, process.ExitCode);
    }

    [Fact]
    public async Task A_following_run_whose_only_materializer_fails_exits_1_instead_of_waiting()
    {
        var changelog = Workspace.Write("data/users.jsonl", Line(1, "c", "a", 10) + Line(2, "c", "b", 11));
        var (config, database) = WriteFollowingSqliteConfig();

        using var process = SyncProcess.Start(Workspace.Directory, "run", "--config", config);
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await Poll.UntilAsync(() => SqliteTables.Count(database, "SELECT count(*) FROM users") == 2);
        // Shorter than what was read: the materializer stops on a fatal error, and it was the only one.
        File.WriteAllText(changelog, Line(3, "c", "c", 12));

        // Nothing here stops the process: it must end by itself.
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await process.WaitForExitAsync(timeout.Token);
        Assert.Equal(1, process.ExitCode);
        Assert.Matches(@"users\s+local/users\s+[^\n]*\bfailed\b", await output);
        var text = await error;
        Assert.Contains("error: materializer users failed: changelog file", text, StringComparison.Ordinal);
        Assert.DoesNotContain("the others keep running", text, StringComparison.Ordinal);
    }

    private static async Task SignalAsync(System.Diagnostics.Process process, string signal)
    {
        using var kill = System.Diagnostics.Process.Start("kill", [signal, process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        await kill!.WaitForExitAsync();
    }

    private static string Line(int id, string op, string name, int lsn) =>
        ChangelogLines.Line(Topic, id, op, name, lsn);
}
