namespace Sync.Sinks.Tests.Sqlite;

/// <summary>Two sink instances on one database file, one of them finding the other's tables and columns
/// created since it looked (the conflicting versions of the same keys are in the conformance suite).</summary>
public sealed class SqliteConcurrentWritersTests
{
    [Fact]
    public async Task A_sink_that_found_no_table_writes_into_the_one_another_instance_created_since()
    {
        await using var db = await SqliteTestDb.OpenAsync();
        await using var other = await SqliteSink.OpenAsync("local2", db.Options, CancellationToken.None);

        // This instance looks the table up and finds none (a delete of a key never written).
        await db.ApplyAsync("users", Change.Delete(("id", 1), 10));
        await other.ApplyAsync(Batch(Change.Create(("id", 2), 20, ("name", "from the other instance"))), CancellationToken.None);
        var result = await db.ApplyAsync("users", Change.Create(("id", 3), 30, ("name", "from this instance")));

        Assert.Empty(result.Rejected);
        Assert.Equal(["2|from the other instance", "3|from this instance"], db.Table("users"));
    }

    [Fact]
    public async Task A_sink_writes_a_column_that_another_instance_added_since()
    {
        await using var db = await SqliteTestDb.OpenAsync();
        await using var other = await SqliteSink.OpenAsync("local2", db.Options, CancellationToken.None);

        await db.ApplyAsync("users", Change.Create(("id", 1), 10, ("name", "ann")));
        await other.ApplyAsync(Batch(Change.Create(("id", 2), 20, ("name", "bob"), ("email", "bob@example.com"))), CancellationToken.None);
        var result = await db.ApplyAsync("users", Change.Create(("id", 3), 30, ("name", "cy"), ("email", "cy@example.com")));

        Assert.Empty(result.Rejected);
        Assert.Equal(["1|ann|NULL", "2|bob|bob@example.com", "3|cy|cy@example.com"], db.Table("users"));
    }

    private static SinkBatch Batch(params ChangeEvent[] changes) =>
        new(SqliteTestDb.Materializer, new TargetSpec("users"), changes, changes.GroupBy(c => c.Origin.Topic).ToDictionary(g => g.Key, g => g.Max(c => c.Origin.Position)));
}
