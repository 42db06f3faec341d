using Sync.Engine.Sinks;
using Sync.Sinks.Sqlite;
using Sync.Sinks.Tests.Conformance;
using Sync.Testing.Changes;

namespace Sync.Sinks.Tests.Sqlite;

/// <summary>Two sink instances on one database file. SQLite lets one connection write a database at a
/// time: a batch's transaction reads the versions and writes under the file's write lock, and the other
/// instance waits (busy_timeout, then the sink's retry), so the version checks see every earlier commit.</summary>
public sealed class SqliteConcurrentWritersTests
{
    [Fact]
    public async Task Two_sinks_writing_conflicting_versions_of_the_same_keys_at_once_end_at_the_newest()
    {
        await using var db = await SqliteTestDb.OpenAsync();
        await using var other = await SqliteSink.OpenAsync("local2", db.Options, CancellationToken.None);

        // The table exists before the race: each instance caches a table's shape, absence included, for
        // its connection, so an instance that found no table would later fail to create the one the
        // other instance created meanwhile. That is about DDL, not versions, and is left to its own change.
        await db.ApplyAsync("users", Change.Create(("id", 0), 1, ("name", "table exists")));
        await ConflictingOrders.RunAsync(db.Sink, other, new TargetSpec("users"), SqliteTestDb.Materializer);

        Assert.Equal(["0|table exists", .. ConflictingOrders.Survivors.Select(id => $"{id}|final")], db.Table("users"));
    }
}
