using Sync.Testing.Elasticsearch;

namespace Sync.Cli.Tests;

/// <summary>A run or backfill stopped by a signal before the end of its source says so and exits
/// 128 + the signal's number, so that a script tells it from one that finished; a followed source
/// stopped by a signal is a normal stop (FollowTests).</summary>
public sealed class InterruptedRunTests : WorkspaceTests
{
    private const string Topic = "persistent://public/default/db1.public.users";

    [Fact]
    public async Task A_backfill_interrupted_by_SIGINT_says_interrupted_not_done_and_exits_130()
    {
        var result = await InterruptWhileTheFirstBatchIsHeldAsync("INT", "backfill", "--materializer", "users");

        Assert.Equal(130, result.ExitCode);
        Assert.Contains("backfill users: interrupted before the end,", result.Error, StringComparison.Ordinal);
        Assert.DoesNotContain(": done,", result.Error, StringComparison.Ordinal);
        Assert.Matches(@"users\s+search/users\s+.*\binterrupted\s*$", SummaryLine(result.Output));
        Assert.Contains("interrupted: users stopped before the end of its source", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_run_of_a_finite_changelog_stopped_by_SIGTERM_before_its_end_exits_143()
    {
        var result = await InterruptWhileTheFirstBatchIsHeldAsync("TERM", "run", "--log-level", "information");

        Assert.Equal(143, result.ExitCode);
        Assert.Matches(@"users\s+search/users\s+.*\binterrupted\s*$", SummaryLine(result.Output));
        // The log says why it stopped, with the code the process exits with.
        Assert.Contains("users: stopped (signal: interrupted before the source's end) after", result.Error, StringComparison.Ordinal);
        Assert.Contains("stopping: signal SIGTERM: interrupted before the end; exit code 143", result.Error, StringComparison.Ordinal);
    }

    /// <summary>Starts the command on a three-line changelog, one change per batch, read no further
    /// ahead than the batch in hand; holds the first _bulk request, sends the signal, waits until the
    /// process said it stops after the batch in hand, and lets the request through.</summary>
    private async Task<ProcessResult> InterruptWhileTheFirstBatchIsHeldAsync(string signal, params string[] command)
    {
        await using var elasticsearch = FakeElasticsearch.Start();
        Workspace.Write("data/users.jsonl", Line(1, "a", 10) + Line(2, "b", 11) + Line(3, "c", 12));
        var config = Workspace.WriteUsersFileConfig(Topic, "search", $"{{ type: elasticsearch, urls: ['{elasticsearch.Url}'] }}", "table: users, batchSize: 1, linger: 0ms, readAhead: 0");
        var held = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        elasticsearch.Faults.BeforeNextRequest("_bulk", async () =>
        {
            held.SetResult();
            await release.Task;
        });

        // SIGINT reset to its default first: a test run started in the background inherits SIGINT
        // as ignored, and the runtime keeps an ignored SIGINT ignored. env execs, so the pid stays.
        using var process = SyncProcess.StartProgram(Workspace.Directory, "env", ["--default-signal=INT", "dotnet", RepoPaths.CliAssembly, .. command, "--config", config]);
        var output = process.StandardOutput.ReadToEndAsync();
        var error = new StandardErrorReader(process);

        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await held.Task.WaitAsync(timeout.Token);
        using (var kill = System.Diagnostics.Process.Start("kill", [$"-{signal}", process.Id.ToString(CultureInfo.InvariantCulture)]))
        {
            await kill!.WaitForExitAsync(timeout.Token);
        }

        await Poll.UntilAsync(() => error.Text.Contains("stopping after the batch in hand", StringComparison.Ordinal));
        release.SetResult();
        await process.WaitForExitAsync(timeout.Token);
        await error.Completion;
        return new ProcessResult(process.ExitCode, await output, error.Text);
    }

    private static string SummaryLine(string output) =>
        output.Split('\n').FirstOrDefault(l => l.TrimStart().StartsWith("users ", StringComparison.Ordinal)) ?? output;

    private static string Line(int id, string name, int lsn) =>
        ChangelogLines.Line(Topic, id, "c", name, lsn);
}
