using FsCheck.Xunit;

namespace Sync.Sinks.Tests.Sqlite;

/// <summary>Random changelogs (creates, updates, deletes, Debezium Server tombstones over a few keys,
/// increasing LSNs) delivered with redeliveries and out of order, in batches of a random size: the
/// final table must equal the reference model (<see cref="Changelogs.FinalState"/>).</summary>
public sealed class SqliteSinkPropertyTests
{
    [Property(MaxTest = 100)]
    public async Task Final_table_equals_the_reference_model_whatever_the_redeliveries(byte[] ops, byte[] keys, int[] redeliveries, byte batchSize)
    {
        var log = Changelogs.Random(ops ?? [], keys ?? []);
        var delivery = Changelogs.WithRedeliveries(log, redeliveries ?? []);

        await using var db = await SqliteTestDb.OpenAsync();
        await DeliverAsync(db, delivery, batchSize);

        Assert.Equal(Expected(log), Actual(db));

        // Every key's state records whether its last change deleted it.
        Assert.Equal(
            log.GroupBy(c => c.KeyText).Select(g => $"{g.Key}|{(g.Last().IsDelete ? 1 : 0)}").Order(StringComparer.Ordinal),
            db.Rows("SELECT key_text, deleted FROM _sync_state ORDER BY key_text"));
    }

    /// <summary>Every event carries its place in the changelog (LSN, or position for a tombstone),
    /// so even a fully shuffled delivery ends in the reference state.</summary>
    [Property(MaxTest = 100)]
    public async Task Final_table_equals_the_reference_model_in_any_delivery_order(byte[] ops, byte[] keys, int[] ranks, byte batchSize)
    {
        var log = Changelogs.Random(ops ?? [], keys ?? []);
        var delivery = Changelogs.InAnyOrder(log, ranks ?? []);

        await using var db = await SqliteTestDb.OpenAsync();
        await DeliverAsync(db, delivery, batchSize);

        Assert.Equal(Expected(log), Actual(db));
    }

    private static async Task DeliverAsync(SqliteTestDb db, List<ChangeEvent> delivery, byte batchSize)
    {
        var size = 1 + (batchSize % 6);
        for (var i = 0; i < delivery.Count; i += size)
        {
            var result = await db.ApplyAsync("items", [.. delivery.Skip(i).Take(size)]);
            Assert.Empty(result.Rejected);
        }
    }

    private static List<string> Expected(List<ChangeEvent> log) =>
        [.. Changelogs.FinalState(log).Values
            .Select(row => $"{row["id"].AsInt64}|{row["name"].AsText}|{row["n"].AsInt64}")
            .Order(StringComparer.Ordinal)];

    private static List<string> Actual(SqliteTestDb db) =>
        db.Scalar("SELECT count(*) FROM sqlite_master WHERE name = 'items'") is 1L
            ? db.Rows("SELECT id, name, n FROM items ORDER BY id")
            : [];
}
