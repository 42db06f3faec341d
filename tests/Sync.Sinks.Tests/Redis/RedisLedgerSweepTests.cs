namespace Sync.Sinks.Tests.Redis;

/// <summary>What <c>ledger verify</c> reads from a Redis target (<see cref="ISink.ScanColumn"/>) and what
/// its repair erases: the rows under the target's key template, those written behind sync's back included.</summary>
public sealed class RedisLedgerSweepTests
{
    private static async Task<List<string>> ScanAsync(RedisTestContext t, string column)
    {
        var values = new List<string>();
        await foreach (var value in t.Sink.ScanColumn(t.Target, column, CancellationToken.None)!)
        {
            values.Add(value);
        }

        return [.. values.Order(StringComparer.Ordinal)];
    }

    private static SubjectMatches Key(params long[] ids) => new("id", [.. ids.Select(FieldValue.FromInt64)]) { IsKey = true };

    [Fact]
    public async Task The_sweep_reads_every_row_key_of_the_target_and_a_hash_written_behind_syncs_back_under_its_template()
    {
        await using var t = await RedisTestContext.CreateAsync(ns => new RedisTargetOptions { KeyTemplate = ns + "user:{id}", Indexes = [ns + "user:by_email:{email}"] });
        await t.ApplyAsync(Change.Create(("id", 1), 10, ("email", "a@example.org")), Change.Create(("id", 2), 11, ("email", "b@example.org")));
        Assert.Equal([1L], await t.Sink.EraseManyAsync(t.Target, Key(2), CancellationToken.None));
        // Behind sync's back: a restored hash behind the erasure marker, a hash no state describes, and a
        // string, which a hash target never holds.
        await t.Db.HashSetAsync(t.Namespace + "user:2", [new("id", "2"), new("email", "b@example.org")]);
        await t.Db.HashSetAsync(t.Namespace + "user:9", [new("id", "9")]);
        await t.Db.StringSetAsync(t.Namespace + "user:7", "someone else's");

        Assert.Equal(["1", "2", "9"], await ScanAsync(t, "id"));
        Assert.Equal(["a@example.org", "b@example.org"], await ScanAsync(t, "email"));
        Assert.Empty(await ScanAsync(t, "never_written"));
    }

    [Fact]
    public async Task The_sweep_of_a_json_target_reads_the_rows_members_and_skips_text_that_is_not_a_json_object()
    {
        await using var t = await RedisTestContext.CreateAsync(ns => new RedisTargetOptions { KeyTemplate = ns + "order:{id}", Format = RedisValueFormat.Json });
        await t.ApplyAsync(Change.Create(("id", 1), 10, ("customer", 3)));
        await t.Db.StringSetAsync(t.Namespace + "order:5", """{"id":5,"customer":4}""");
        await t.Db.StringSetAsync(t.Namespace + "order:6", "not json");

        Assert.Equal(["3", "4"], await ScanAsync(t, "customer"));
        Assert.Equal(["1", "5", "6"], await ScanAsync(t, "id"));
    }

    [Fact]
    public async Task The_sweep_pages_through_a_target_larger_than_one_scan_page()
    {
        await using var t = await RedisTestContext.CreateAsync(ns => new RedisTargetOptions { KeyTemplate = ns + "user:{id}" });
        await t.ApplyAsync([.. Enumerable.Range(1, 2500).Select(i => Change.Create(("id", i), i, ("name", "n")))]);

        var ids = await ScanAsync(t, "id");

        Assert.Equal(2500, ids.Distinct(StringComparer.Ordinal).Count());
    }

    [Fact]
    public async Task Erasing_a_key_removes_a_hash_written_behind_syncs_back_and_leaves_a_value_of_another_type_alone()
    {
        await using var t = await RedisTestContext.CreateAsync(ns => new RedisTargetOptions { KeyTemplate = ns + "user:{id}" });
        await t.ApplyAsync(Change.Create(("id", 1), 10, ("name", "a")), Change.Create(("id", 2), 11, ("name", "b")));
        Assert.Equal([1L], await t.Sink.EraseManyAsync(t.Target, Key(2), CancellationToken.None));
        await t.Db.HashSetAsync(t.Namespace + "user:2", [new("id", "2"), new("name", "b")]);
        await t.Db.HashSetAsync(t.Namespace + "user:9", [new("id", "9")]);
        await t.Db.StringSetAsync(t.Namespace + "user:7", "someone else's");
        Assert.Equal([1L, 1L, 0L], await t.Sink.CountManyAsync(t.Target, Key(2, 9, 7), CancellationToken.None));

        Assert.Equal([1L, 1L, 0L], await t.Sink.EraseManyAsync(t.Target, Key(2, 9, 7), CancellationToken.None));

        Assert.False(await t.Db.KeyExistsAsync(t.Namespace + "user:2"));
        Assert.False(await t.Db.KeyExistsAsync(t.Namespace + "user:9"));
        Assert.Equal("someone else's", (string?)await t.Db.StringGetAsync(t.Namespace + "user:7"));
        Assert.Equal(["id=1|name=a"], await t.RowsAsync());
        Assert.Equal(["1"], await ScanAsync(t, "id"));
        var marker = RedisState.TryParse((byte[]?)await t.Db.StringGetAsync(t.Keys.State(t.Table, t.Namespace + "user:2")))!;
        Assert.True(marker.Deleted);
        Assert.Equal(long.MaxValue, marker.Version.Lsn);
        // A change still in flight for the key is stale.
        Assert.Equal(1, (await t.ApplyAsync(Change.Update(("id", 2), 99, ("name", "late")))).Stale);
    }
}
