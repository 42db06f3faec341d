using Sync.Pulsar;

namespace Sync.Cli.Tests;

/// <summary><c>sync run --stop-all-on-failure</c>: one materializer's fatal error stops the others,
/// each after applying what it read.</summary>
public sealed class StopAllOnFailureTests : PulsarCliFixture
{
    [Fact]
    public async Task With_stop_all_on_failure_a_fatal_error_of_one_materializer_ends_the_run_and_the_others_keep_what_they_applied()
    {
        var (_, config) = await OneRunningAndOneFailingMaterializerAsync("stop-all");

        // Ends by itself: nothing here stops the process.
        var result = await RunUntilAsync(() => false, "run", "--config", config, "--stop-all-on-failure");

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("stopping every materializer: orders failed and --stop-all-on-failure is set", result.Error, StringComparison.Ordinal);
        Assert.Contains("error: materializer orders failed:", result.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("error: materializer users failed", result.Error, StringComparison.Ordinal);
    }
}
