namespace Sync.Cli.Tests;

/// <summary>Two <c>sync run</c> processes on one config share a subscription: Key_Shared splits the
/// keys between them, Failover keeps one active and one standing by. Killing one mid-stream leaves
/// the other to finish, and the table ends exactly as the changes say. Real processes, the fake
/// broker in this process, a real PostgreSQL (SYNC_TEST_POSTGRES, set by ./scripts/test.sh).</summary>
public sealed class ScaleOutTests() : ModelledUsersTopicFixture("scale", 11)
{

    [Theory]
    [InlineData("key-shared")]
    [InlineData("failover")]
    public async Task Two_processes_share_the_subscription_and_the_survivor_of_a_kill_ends_with_the_exact_state(string subscriptionType)
    {
        await PublishAsync(3_000, keys: 200);
        var config = WriteConfig(subscriptionType);

        using var first = SyncProcess.Start(Workspace.Directory, "run", "--config", config);
        using var second = SyncProcess.Start(Workspace.Directory, "run", "--config", config);
        try
        {
            await Poll.UntilAsync(() => Broker.DeliveredPerConsumer(Topic, "sync-users").Count == 2, Patience);
            await Poll.UntilAsync(() => RowCount() > 0, Patience);
            if (subscriptionType == "key-shared")
            {
                // Both processes work: the broker splits the keys between them.
                await Poll.UntilAsync(() => Broker.DeliveredPerConsumer(Topic, "sync-users").Values.All(d => d > 0), Patience);
            }

            first.Kill(entireProcessTree: true);
            await first.WaitForExitAsync();
            await PublishAsync(2_000, keys: 200);

            await Poll.UntilAsync(() => Table().SequenceEqual(Expected()), Patience);
            Assert.False(second.HasExited, "the surviving process stopped");
        }
        finally
        {
            foreach (var process in new[] { first, second }.Where(p => !p.HasExited))
            {
                process.Kill(entireProcessTree: true);
                await process.WaitForExitAsync();
            }
        }

        Assert.Equal(Expected(), Table());
    }

    private int RowCount() => Table().Count;
}
