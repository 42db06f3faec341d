using Sync.Testing.Logging;

namespace Sync.Engine.Tests.Runtime;

/// <summary>The periodic progress line of a materializer, on the run's clock.</summary>
public sealed class MaterializerProgressLogTests
{
    [Fact]
    public void A_progress_line_is_logged_at_each_interval_of_the_clock_with_the_counters_of_the_moment()
    {
        var time = new FakeTimeProvider();
        using var logs = new RecordingLoggerFactory();
        var counters = new MaterializerCounters();
        counters.AddRead(5);
        counters.AddApplied(3);
        counters.AddBatch();

        using (MaterializerLog.LogProgress(logs.CreateLogger("sync.customers"), "customers", () => counters, time, TimeSpan.FromMinutes(1)))
        {
            time.Advance(TimeSpan.FromSeconds(59));
            Assert.Empty(logs.Entries);

            time.Advance(TimeSpan.FromSeconds(1));
            var first = Assert.Single(logs.Entries);
            Assert.Equal(Microsoft.Extensions.Logging.LogLevel.Information, first.Level);
            Assert.Equal("customers: progress: 5 read, 3 upserted, 0 deleted, 0 stale, 0 dead-lettered in 1 batches", first.Message);

            counters.AddRead(2);
            time.Advance(TimeSpan.FromMinutes(1));
            Assert.Equal(2, logs.Entries.Count);
            Assert.StartsWith("customers: progress: 7 read", logs.Entries[1].Message, StringComparison.Ordinal);
        }

        // Disposed with the materializer's run: no more lines.
        time.Advance(TimeSpan.FromMinutes(5));
        Assert.Equal(2, logs.Entries.Count);
    }
}
