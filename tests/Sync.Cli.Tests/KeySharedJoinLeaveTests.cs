namespace Sync.Cli.Tests;

/// <summary>
/// Two <c>sync run</c> processes come and go on one Key_Shared subscription while changes keep
/// arriving: the first runs alone, the second joins, the first leaves (SIGTERM, or kill -9 with
/// batches in flight). A key's changes then pass from one process to the other, and the table
/// still ends exactly as the changes say, because the broker hands a key over only once the
/// process that had it acknowledged what it held of it, or left (Pulsar 4.0, PIP-379 draining
/// hashes in PersistentStickyKeyDispatcherMultipleConsumers, which the fake broker models). Real
/// processes, the fake broker in this process, a real PostgreSQL (SYNC_TEST_POSTGRES).
/// </summary>
public sealed class KeySharedJoinLeaveTests() : ModelledUsersTopicFixture("ksjl", 27)
{
    private const string Subscription = "sync-users";

    [Theory]
    [InlineData("sigterm")]
    [InlineData("kill -9")]
    public async Task Processes_joining_and_leaving_a_key_shared_subscription_mid_run_leave_the_exact_state(string firstLeavesBy)
    {
        var config = WriteConfig("key-shared");
        await PublishAsync(1_500, keys: 150);

        var first = Started(config);
        RunningSync? second = null;
        try
        {
            await Poll.UntilAsync(() => Delivered().Count == 1 && Delivered().Values.Single() > 0, Patience);

            // Changes keep coming in bursts while the second process starts and joins, so the
            // first holds changes of the keys that move to the second when it does.
            second = Started(config);
            var joining = Task.Run(async () =>
            {
                for (var bursts = 0; bursts < 10 && Delivered().Count < 2; bursts++)
                {
                    await PublishAsync(200, keys: 150);
                }
                await Poll.UntilAsync(() => Delivered().Count == 2, Patience);
                await PublishAsync(1_000, keys: 150);
            });
            await joining;
            await Poll.UntilAsync(() => Delivered().Values.All(d => d > 0), Patience);

            // The first leaves in the middle of another stream of bursts, holding changes it has
            // not acknowledged: they must reach the second process before the later changes of
            // their keys.
            var publishedBefore = Published;
            var leaving = Task.Run(() => PublishAsync(1_500, keys: 150));
            await Poll.UntilAsync(() => Published >= publishedBefore + 500, Patience);
            if (firstLeavesBy == "sigterm")
            {
                await StopAsync(first);
            }
            else
            {
                first.Process.Kill(entireProcessTree: true);
                await first.Process.WaitForExitAsync();
            }
            await leaving;
            await PublishAsync(1_000, keys: 150);

            await Poll.UntilAsync(() => Table().SequenceEqual(Expected()), Patience);
            Assert.False(second.Process.HasExited, $"the remaining process stopped:\n{second.Output()}");

            // Never-regress alone would hide a broker that let a key run ahead of itself (an older
            // change arriving after a newer one is skipped as stale). When the first process stops
            // cleanly, per-key order across the handovers means no process ever gets a change
            // older than what the sink holds: both summaries count no stale change. After kill -9
            // stale changes are legitimate: a batch the first process committed but had not
            // acknowledged comes again, and its earlier changes of a key are older than the
            // key's last change in that batch, which the sink already has.
            await StopAsync(second);
            if (firstLeavesBy == "sigterm")
            {
                var stale = (StaleCount(first), StaleCount(second));
                Assert.True(stale == (0, 0), $"stale changes {stale}\n--- first process\n{first.Output()}\n--- second process\n{second.Output()}");
            }
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"""
                a step did not get there; the table has {Table().Count} rows, {Expected().Count} expected, {Table().Except(Expected()).Count()} wrong or extra
                --- first process
                {first.Output()}
                --- second process
                {second?.Output()}
                """);
        }
        finally
        {
            foreach (var running in new[] { first, second }.OfType<RunningSync>().Where(r => !r.Process.HasExited))
            {
                running.Process.Kill(entireProcessTree: true);
                await running.Process.WaitForExitAsync();
            }
        }

        Assert.Equal(Expected(), Table());
    }

    /// <summary>The stale column of the run summary a stopped process printed.</summary>
    private long StaleCount(RunningSync running)
    {
        var output = running.Output();
        var row = output.Split('\n').SkipWhile(line => !line.StartsWith("run summary", StringComparison.Ordinal))
            .FirstOrDefault(line => line.Contains($"pg/{TableName}", StringComparison.Ordinal))
            ?? throw new InvalidOperationException($"no run summary row for pg/{TableName}:\n{output}");
        // materializer, target, read, applied, deleted, stale, ...
        return long.Parse(row.Split(' ', StringSplitOptions.RemoveEmptyEntries)[5], CultureInfo.InvariantCulture);
    }

    private IReadOnlyDictionary<string, long> Delivered() => Broker.DeliveredPerConsumer(Topic, Subscription);
}
