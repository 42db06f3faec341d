using FsCheck.Xunit;

namespace Sync.Sinks.Tests.Postgres;

/// <summary>Random changelogs (creates, updates, deletes, Debezium Server tombstones, increasing LSNs)
/// delivered with redeliveries or in any order, in batches of a random size: the final table equals the
/// reference model (<see cref="Changelogs.FinalState"/>), and every deleted key keeps a delete marker.</summary>
public sealed class PostgresSinkPropertyTests
{
    [Property(MaxTest = 40)]
    public async Task Final_table_equals_the_reference_model_in_any_delivery_order(byte[] ops, byte[] keys, int[] ranks, byte batchSize)
    {
        var log = Changelogs.Random(ops ?? [], keys ?? [], keyCount: 5);
        var delivery = Changelogs.InAnyOrder(log, ranks ?? []);

        await using var db = await PostgresTestDb.OpenAsync();
        var size = 1 + (batchSize % 7);
        for (var i = 0; i < delivery.Count; i += size)
        {
            var result = await db.ApplyAsync("items", [.. delivery.Skip(i).Take(size)]);
            Assert.Empty(result.Rejected);
        }

        var final = Changelogs.FinalState(log);
        Assert.Equal(
            final.Values.Select(r => $"id={r["id"].AsInt64}|n={r["n"].AsInt64}|name={r["name"].AsText}").Order(StringComparer.Ordinal),
            await db.CanonicalRowsAsync("items"));
        var deleted = log.GroupBy(c => c.KeyText).Where(g => g.Last().IsDelete).Select(g => g.Key).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(deleted, await PostgresTestDb.RowsAsync($"SELECT key_text FROM {PostgresTestDb.Q(db.StateSchema)}.delete_markers ORDER BY key_text COLLATE \"C\""));
    }
}
