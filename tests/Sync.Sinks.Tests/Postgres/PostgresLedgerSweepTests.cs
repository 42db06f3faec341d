namespace Sync.Sinks.Tests.Postgres;

/// <summary>What <c>ledger verify</c> reads from a PostgreSQL target (<see cref="ISink.ScanColumn"/>): the
/// column of every live row, read by ranges of heap blocks, so the table must span many ranges.</summary>
public sealed class PostgresLedgerSweepTests
{
    [Fact]
    public async Task The_sweep_reads_the_column_of_every_live_row_once_across_many_block_ranges()
    {
        await using var db = await PostgresTestDb.OpenAsync();
        const int count = 12_000;
        await db.ApplyAsync("users", [.. Enumerable.Range(1, count).Select(id => Change.Create(("id", id), 10 + id, ("email", $"user{id}@example.org")))]);

        // Dead row versions and emptied columns spread over the heap: an update writes a new version
        // elsewhere, a delete leaves its tuple dead until vacuum.
        await PostgresTestDb.ScalarAsync($"UPDATE {db.Table("users")} SET email = NULL WHERE id % 7 = 0");
        await PostgresTestDb.ScalarAsync($"DELETE FROM {db.Table("users")} WHERE id % 11 = 0");

        var ids = await ScanAsync(db, "id");
        var emails = await ScanAsync(db, "email");

        var live = Enumerable.Range(1, count).Where(id => id % 11 != 0).ToList();
        Assert.Equal(live.Select(id => id.ToString(CultureInfo.InvariantCulture)).Order(StringComparer.Ordinal), ids.Order(StringComparer.Ordinal));
        Assert.Equal(live.Where(id => id % 7 != 0).Select(id => $"user{id}@example.org").Order(StringComparer.Ordinal), emails.Order(StringComparer.Ordinal));

        var blocks = (long)(await PostgresTestDb.ScalarAsync($"SELECT pg_relation_size('{db.Table("users")}') / current_setting('block_size')::bigint"))!;
        Assert.True(blocks > 16, $"the table spans {blocks} blocks, fewer than the sweep's first range");
        Assert.Empty(await ScanAsync(db, "never_written"));
    }

    private static async Task<List<string>> ScanAsync(PostgresTestDb db, string column)
    {
        var values = new List<string>();
        if (db.Sink.ScanColumn(db.Target("users"), column, CancellationToken.None) is { } scan)
        {
            await foreach (var value in scan)
            {
                values.Add(value);
            }
        }

        return values;
    }
}
