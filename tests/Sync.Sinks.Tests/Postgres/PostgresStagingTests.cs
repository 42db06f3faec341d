namespace Sync.Sinks.Tests.Postgres;

/// <summary>The staging tables a connection keeps between batches: emptied at every commit, emptied
/// before a second group of one batch uses them, and forgotten when the batch that created them rolls back.</summary>
public sealed class PostgresStagingTests
{
    [Fact]
    public async Task Column_sets_of_the_same_types_in_one_batch_each_write_only_their_own_rows()
    {
        await using var db = await PostgresTestDb.OpenAsync();
        await db.ApplyAsync("shared", Change.Create(("id", 1), 10, ("a", "a1"), ("b", "b1")));

        var result = await db.ApplyAsync(
            "shared",
            Change.Create(("id", 2), 11, ("a", "a2")),
            Change.Create(("id", 3), 12, ("b", "b3")),
            Change.Truncate(13),
            Change.Create(("id", 4), 14, ("a", "a4")),
            Change.Create(("id", 5), 15, ("b", "b5")));

        Assert.Equal((4, 3, 0), (result.Upserted, result.Deleted, result.Stale));
        Assert.Equal(["a=a4|b=null|id=4", "a=null|b=b5|id=5"], await db.CanonicalRowsAsync("shared"));
    }

    [Fact]
    public async Task Rows_staged_by_one_batch_are_not_applied_again_by_the_next()
    {
        await using var db = await PostgresTestDb.OpenAsync();
        await db.ApplyAsync("again", Change.Create(("id", 1), 10, ("name", "a")), Change.Delete(("id", 2), 11));

        var next = await db.ApplyAsync("again", Change.Create(("id", 3), 12, ("name", "c")), Change.Delete(("id", 4), 13));

        Assert.Equal((1, 1, 0), (next.Upserted, next.Deleted, next.Stale));
        Assert.Equal(["id=1|name=a", "id=3|name=c"], await db.CanonicalRowsAsync("again"));
    }

    [Fact]
    public async Task After_a_batch_rolled_back_by_its_dead_letter_step_the_same_connection_applies_the_next()
    {
        await using var db = await PostgresTestDb.OpenAsync();
        var pid = (await db.ApplyAsync("rolled", Change.Create(("id", 1), 10, ("n", 1))), db.Sink.ProcessId).Item2;
        ChangeEvent[] failing = [Change.Create(("id", 2), 11, ("n", 2), ("label", "new column, new staging table")), Change.Create(("id", 3), 12, ("n", "not a number"))];

        await Assert.ThrowsAsync<IOException>(async () => await db.Sink.ApplyAsync(
            new SinkBatch(PostgresTestDb.Materializer, db.Target("rolled"), failing, new Dictionary<string, StreamPosition>())
            {
                BeforeCommit = BeforeCommitHooks.Observing(_ => throw new IOException("the dead-letter target is full")),
            },
            CancellationToken.None));
        var next = await db.ApplyAsync("rolled", Change.Create(("id", 4), 13, ("n", 4), ("label", "applied")));

        Assert.Equal(pid, db.Sink.ProcessId);
        Assert.Equal(1, next.Upserted);
        Assert.Equal(["id=1|label=null|n=1", "id=4|label=applied|n=4"], await db.CanonicalRowsAsync("rolled"));
    }
}
