using Sync.Cli.Output;

namespace Sync.Cli.Tests;

/// <summary><c>sync backfill</c> shows its progress on standard error (plain lines when it is not a
/// terminal), and with <c>--then-run</c> goes on as <c>sync run</c>.</summary>
public sealed class BackfillProgressTests : WorkspaceTests
{
    [Fact]
    public async Task A_backfill_ends_with_a_progress_line_per_materializer_on_standard_error()
    {
        var backfill = await Workspace.Sync("backfill", "--config", Workspace.Quickstart, "--materializer", "orders");

        Assert.True(backfill.ExitCode == 0, backfill.ToString());
        Assert.Matches(@"backfill orders: done, 8 events in \d+\.\d s", backfill.Error);
    }

    [Fact]
    public async Task No_progress_keeps_standard_error_quiet()
    {
        var backfill = await Workspace.Sync("backfill", "--config", Workspace.Quickstart, "--materializer", "orders", "--no-progress");

        Assert.True(backfill.ExitCode == 0, backfill.ToString());
        Assert.DoesNotContain("backfill orders", backfill.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Then_run_goes_on_from_where_the_backfill_stopped()
    {
        var result = await Workspace.Sync("backfill", "--config", Workspace.Quickstart, "--materializer", "orders", "--then-run", "--no-progress");

        Assert.True(result.ExitCode == 0, result.ToString());
        // Two summaries: the backfill read all 8 messages, the run after it found nothing new.
        var rows = System.Text.RegularExpressions.Regex.Matches(result.Output, @"orders\s+local/orders\s+(\d+)\s");
        Assert.Equal(["8", "0"], rows.Select(m => m.Groups[1].Value));
    }

    [Theory]
    [InlineData(4_000L, 8_000L, 2.0, "backfill orders: 4,000 of 8,000 events (50%), 2,000 events/s, ETA 2s")]
    [InlineData(1_000L, 181_000L, 1.0, "backfill orders: 1,000 of 181,000 events (1%), 1,000 events/s, ETA 3m00s")]
    [InlineData(8_000L, 8_000L, 4.0, "backfill orders: 8,000 of 8,000 events (100%), 2,000 events/s, ETA 0s")]
    [InlineData(12_345L, null, 5.0, "backfill orders: 12,345 events, 2,469 events/s")]
    public void A_progress_line_shows_events_rate_share_and_eta_when_the_total_is_known(long read, long? total, double seconds, string expected)
    {
        Assert.Equal(expected, BackfillProgress.Describe("orders", read, total, TimeSpan.FromSeconds(seconds)));
    }
}
