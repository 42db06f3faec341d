namespace Sync.Cli.Tests;

/// <summary>A <c>sync run</c> process writing into a SQLite file that is put back to an older copy of
/// itself while the run keeps going (the copy taken and put back with SQLite's online backup API, the
/// way to restore a file another process holds open: <see cref="SqliteCopies"/>). The subscription has
/// acknowledged what the file lost, so the broker will not deliver it again: the run finds the file's
/// checkpoint behind the one it wrote, replays the range, and the table ends exactly as the changes say,
/// without a restart. The fake broker in this process.</summary>
public sealed class SqliteRollbackRunTests() : ModelledUsersTopicFixture("sqrb", 41)
{
    [Theory]
    [InlineData("failover")]
    [InlineData("key-shared")]
    public async Task A_database_file_put_back_to_an_earlier_copy_while_sync_run_keeps_running_ends_in_the_exact_state(string subscriptionType)
    {
        var database = Workspace.File("users.db");
        var earlier = Workspace.File("earlier.db");
        var config = WriteConfig(subscriptionType, database);
        await PublishAsync(300, keys: 60);
        var run = Started(config);
        try
        {
            await Poll.UntilAsync(() => Table(database).SequenceEqual(Expected()), Patience);
            await SqliteCopies.CopyAsync(database, earlier);
            await PublishAsync(300, keys: 60);
            await Poll.UntilAsync(() => Table(database).SequenceEqual(Expected()), Patience);

            await SqliteCopies.CopyAsync(earlier, database);
            Assert.NotEqual(Expected(), Table(database));
            // The next batch reads the checkpoint back before it is applied.
            await PublishAsync(100, keys: 60);
            await Poll.UntilAsync(() => run.Output().Contains("healed: sink file caught up", StringComparison.Ordinal), Patience);
            await Poll.UntilAsync(() => Table(database).SequenceEqual(Expected()), Patience);

            await StopAsync(run);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"the table has {Table(database).Count} rows, {Expected().Count} expected, {Table(database).Except(Expected()).Count()} wrong or extra\n{run.Output()}");
        }
        finally
        {
            if (!run.Process.HasExited)
            {
                run.Process.Kill(entireProcessTree: true);
                await run.Process.WaitForExitAsync();
            }
        }

        Assert.Equal(Expected(), Table(database));
        Assert.Contains("sink file went back in time", run.Output(), StringComparison.Ordinal);
    }
}
