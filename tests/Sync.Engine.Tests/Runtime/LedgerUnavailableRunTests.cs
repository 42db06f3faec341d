using Sync.Engine.Ledger;

namespace Sync.Engine.Tests.Runtime;

/// <summary>A run whose suppression ledger cannot be read: nothing is applied, the materializer
/// reports degraded at the stage <c>ledger</c> and retries on its clock, and applies once the ledger is back.</summary>
public sealed class LedgerUnavailableRunTests() : TempDirectoryTest("sync-ledger-run-")
{
    private const string Customers = "persistent://public/default/db1.public.customers";

    /// <summary>A filter whose ledger is out of reach for its first <c>failures</c> refreshes; each refresh is signalled.</summary>
    private sealed class UnreachableLedgerFilter(int failures) : ISuppressionFilter
    {
        private int _refreshes;

        public SemaphoreSlim Refreshed { get; } = new(0);

        public ValueTask RefreshAsync(CancellationToken cancellationToken)
        {
            var refresh = Interlocked.Increment(ref _refreshes);
            Refreshed.Release();
            return refresh <= failures
                ? ValueTask.FromException(new LedgerUnavailableException($"the ledger cannot be read (refresh {refresh})"))
                : ValueTask.CompletedTask;
        }

        public SuppressionDecision Decide(ChangeEvent change) => SuppressionDecision.Keep;
    }

    private static string Line(int id, long lsn) => TestRunners.ChangelogLine(Customers, id, "c", "null", $"{{\"id\":{id}}}", lsn);

    [Fact]
    public async Task Nothing_is_applied_while_the_ledger_cannot_be_read_and_everything_once_it_is_back()
    {
        const int Failures = 4;
        var path = Path.Combine(Dir, "changelog.jsonl");
        await File.WriteAllLinesAsync(path, [Line(1, 1), Line(2, 2)]);
        var sink = new ReferenceSink();
        var filter = new UnreachableLedgerFilter(Failures);
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 11, 25, 10, 0, 0, TimeSpan.Zero));
        var runner = TestRunners.FromChangelogFile("customers", Customers, new FileSourceOptions { Path = path }, sink, Dir, batchSize: 100, filter, time: time);

        var run = runner.RunAsync(CancellationToken.None);
        var refreshes = 0;
        while (refreshes <= Failures)
        {
            if (!await filter.Refreshed.WaitAsync(TimeSpan.FromMilliseconds(20)))
            {
                // The next attempt waits for the runner's backoff on its clock: moved on until it comes.
                time.Advance(TimeSpan.FromMilliseconds(100));
                continue;
            }

            if (++refreshes <= Failures)
            {
                Assert.Equal("ledger", (await UntilDegradedAsync(runner, refreshes)).Stage);
                Assert.Equal(0, sink.ApplyCalls);
            }
        }

        await run.WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(2, sink.Rows("customers").Count);
        Assert.Null(runner.Counters.Degraded);
        Assert.Equal(Failures + 1, refreshes);
    }

    private static async Task<Degradation> UntilDegradedAsync(MaterializerRunner runner, int refresh)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (true)
        {
            if (runner.Counters.Degraded is { } degraded)
            {
                return degraded;
            }

            Assert.True(DateTime.UtcNow < deadline, $"not reported degraded after refresh {refresh}");
            await Task.Delay(5);
        }
    }
}
