namespace Sync.Sinks.Tests.Redis;

/// <summary>Columns the source did not send (<see cref="FieldValue.Unavailable"/>): Debezium's PostgreSQL
/// connector puts its unavailable-value placeholder (<c>__debezium_unavailable_value</c>, the
/// <c>unavailable.value.placeholder</c> setting) in place of an unchanged TOASTed column when the table has
/// REPLICA IDENTITY DEFAULT (https://debezium.io/documentation/reference/stable/connectors/postgresql.html,
/// "Considerations when using TOAST"). The decoder turns it into Unavailable; the sink keeps what it stores.</summary>
public sealed class RedisUnavailableValueTests
{
    private static readonly FieldValue Unsent = FieldValue.Unavailable;

    private static Task<RedisTestContext> HashAsync() =>
        RedisTestContext.CreateAsync(ns => new RedisTargetOptions { KeyTemplate = ns + "user:{id}" });

    private static Task<RedisTestContext> JsonAsync() =>
        RedisTestContext.CreateAsync(ns => new RedisTargetOptions { KeyTemplate = ns + "user:{id}", Format = RedisValueFormat.Json });

    private static async Task<Dictionary<string, string>> HashOf(RedisTestContext t, int id) =>
        (await t.Db.HashGetAllAsync(t.Namespace + "user:" + id)).ToDictionary(e => e.Name.ToString(), e => e.Value.ToString());

    private static async Task<string?> JsonOf(RedisTestContext t, int id) => await t.Db.StringGetAsync(t.Namespace + "user:" + id);

    [Fact]
    public async Task A_hash_update_keeps_the_stored_field_of_an_unsent_column_and_rewrites_the_others()
    {
        await using var t = await HashAsync();
        var bio = new string('b', 9000);
        await t.ApplyAsync(Change.Create(("id", 1), 10, ("name", "ada"), ("email", "a@x"), ("bio", bio)));

        var result = await t.ApplyAsync(Change.Update(("id", 1), 11, ("name", "ada l"), ("email", null), ("bio", Unsent)));

        Assert.Equal((1, 0, 0), (result.Upserted, result.Unavailable, result.Stale));
        Assert.Equal(new Dictionary<string, string> { ["id"] = "1", ["name"] = "ada l", ["bio"] = bio }, await HashOf(t, 1));
    }

    [Fact]
    public async Task A_json_update_keeps_the_stored_value_of_an_unsent_column_byte_for_byte_in_column_order()
    {
        await using var t = await JsonAsync();
        // Values cjson would change (it rounds numbers to 14 digits and drops a decimal's trailing zero)
        // and text that a naive scan would cut short: quotes, escapes, braces and commas inside strings.
        var doc = FieldValue.FromJson("{\"n\":12345678901234567,\"d\":12.30,\"s\":\"a\\\"},{[\\\\\",\"u\":\"\\u00e9\",\"e\":1.5E+300}");
        await t.ApplyAsync(Change.Create(("id", 1), 10, ("name", "ada"), ("doc", doc), ("big", 12345678901234567890.10m), ("tail", "t")));

        var result = await t.ApplyAsync(Change.Update(("id", 1), 11, ("name", "ada l"), ("doc", Unsent), ("big", Unsent), ("tail", "u")));

        Assert.Equal((1, 0), (result.Upserted, result.Unavailable));
        Assert.Equal(
            "{\"id\":1,\"name\":\"ada l\",\"doc\":{\"n\":12345678901234567,\"d\":12.30,\"s\":\"a\\\"},{[\\\\\",\"u\":\"\\u00e9\",\"e\":1.5E+300},\"big\":12345678901234567890.10,\"tail\":\"u\"}",
            await JsonOf(t, 1));
    }

    [Fact]
    public async Task A_json_row_whose_last_column_is_unsent_keeps_it_and_stays_valid_json()
    {
        await using var t = await JsonAsync();
        await t.ApplyAsync(Change.Create(("id", 1), 10, ("bio", "x y"), ("name", "ada")));
        await t.ApplyAsync(Change.Update(("id", 1), 11, ("bio", "long text"), ("name", "ada")));

        await t.ApplyAsync(Change.Update(("id", 1), 12, ("name", "ada l"), ("bio", Unsent)));

        Assert.Equal("{\"id\":1,\"name\":\"ada l\",\"bio\":\"long text\"}", await JsonOf(t, 1));
        Assert.Equal(["bio=long text|id=1|name=ada l"], await t.RowsAsync());
    }

    [Fact]
    public async Task A_json_row_rewritten_by_hand_with_spaces_and_nesting_gives_its_raw_member_back()
    {
        await using var t = await JsonAsync();
        await t.ApplyAsync(Change.Create(("id", 1), 10, ("name", "ada"), ("bio", "x")));
        await t.Db.StringSetAsync(t.Namespace + "user:1", " { \"id\" : 1 ,\n \"bio\" : [ 1.50 , { \"a\" : \"}]\\\\\" } , null ] , \"name\":\"ada\" } ");

        await t.ApplyAsync(Change.Update(("id", 1), 11, ("name", "ada l"), ("bio", Unsent)));

        Assert.Equal("{\"id\":1,\"name\":\"ada l\",\"bio\":[ 1.50 , { \"a\" : \"}]\\\\\" } , null ]}", await JsonOf(t, 1));
    }

    [Fact]
    public async Task A_json_row_that_is_not_a_json_object_gives_nothing_to_keep_and_the_change_is_counted()
    {
        await using var t = await JsonAsync();
        await t.ApplyAsync(Change.Create(("id", 1), 10, ("name", "ada"), ("bio", "x")));
        await t.Db.StringSetAsync(t.Namespace + "user:1", "{\"bio\": \"unterminated");

        var result = await t.ApplyAsync(Change.Update(("id", 1), 11, ("name", "ada l"), ("bio", Unsent)));

        Assert.Equal((1, 1), (result.Upserted, result.Unavailable));
        Assert.Equal("{\"id\":1,\"name\":\"ada l\",\"bio\":null}", await JsonOf(t, 1));
    }

    [Fact]
    public async Task A_mixed_batch_fills_only_the_rows_with_unsent_columns_in_both_formats()
    {
        foreach (var json in new[] { false, true })
        {
            await using var t = json ? await JsonAsync() : await HashAsync();
            await t.ApplyAsync(
                Change.Create(("id", 1), 10, ("name", "a"), ("bio", "bio 1")),
                Change.Create(("id", 2), 11, ("name", "b"), ("bio", "bio 2")),
                Change.Create(("id", 3), 12, ("name", "c"), ("bio", "bio 3")));

            var result = await t.ApplyAsync(
                Change.Update(("id", 1), 20, ("name", "a2"), ("bio", Unsent)),
                Change.Update(("id", 2), 21, ("name", "b2"), ("bio", "new 2")),
                Change.Update(("id", 3), 22, ("name", "c2"), ("bio", Unsent)),
                Change.Create(("id", 4), 23, ("name", "d"), ("bio", "bio 4")));

            Assert.Equal((4, 0), (result.Upserted, result.Unavailable));
            Assert.Equal(["bio=bio 1|id=1|name=a2", "bio=bio 3|id=3|name=c2", "bio=bio 4|id=4|name=d", "bio=new 2|id=2|name=b2"], await t.RowsAsync());
        }
    }

    [Fact]
    public async Task Without_a_stored_row_an_unsent_column_is_absent_from_a_hash_null_in_json_and_counted()
    {
        await using var h = await HashAsync();
        var hashResult = await h.ApplyAsync(Change.Update(("id", 1), 10, ("name", "ada"), ("bio", Unsent)), Change.Create(("id", 2), 11, ("name", "bob"), ("bio", "b")));
        Assert.Equal((2, 1), (hashResult.Upserted, hashResult.Unavailable));
        Assert.Equal(new Dictionary<string, string> { ["id"] = "1", ["name"] = "ada" }, await HashOf(h, 1));

        await using var j = await JsonAsync();
        var jsonResult = await j.ApplyAsync(Change.Update(("id", 1), 10, ("name", "ada"), ("bio", Unsent)));
        Assert.Equal((1, 1), (jsonResult.Upserted, jsonResult.Unavailable));
        Assert.Equal("{\"id\":1,\"name\":\"ada\",\"bio\":null}", await JsonOf(j, 1));
    }

    [Fact]
    public async Task A_deleted_row_gives_an_unsent_column_nothing_to_keep()
    {
        foreach (var json in new[] { false, true })
        {
            await using var t = json ? await JsonAsync() : await HashAsync();
            await t.ApplyAsync(Change.Create(("id", 1), 10, ("name", "ada"), ("bio", "old")));
            await t.ApplyAsync(Change.Delete(("id", 1), 11));

            var result = await t.ApplyAsync(Change.Update(("id", 1), 12, ("name", "ada"), ("bio", Unsent)));

            Assert.Equal((1, 1), (result.Upserted, result.Unavailable));
            Assert.Equal(["bio=null|id=1|name=ada"], await t.RowsAsync());
        }
    }

    [Fact]
    public async Task A_stored_row_without_the_column_counts_the_change_and_a_stored_json_null_is_kept()
    {
        await using var h = await HashAsync();
        await h.ApplyAsync(Change.Create(("id", 1), 10, ("name", "ada"), ("bio", null)));
        Assert.Equal(1, (await h.ApplyAsync(Change.Update(("id", 1), 11, ("name", "ada l"), ("bio", Unsent)))).Unavailable);
        Assert.Equal(new Dictionary<string, string> { ["id"] = "1", ["name"] = "ada l" }, await HashOf(h, 1));

        await using var j = await JsonAsync();
        await j.ApplyAsync(Change.Create(("id", 1), 10, ("name", "ada"), ("bio", null)));
        await j.ApplyAsync(Change.Create(("id", 2), 11, ("name", "bob")));
        var result = await j.ApplyAsync(
            Change.Update(("id", 1), 12, ("name", "ada l"), ("bio", Unsent)),
            Change.Update(("id", 2), 13, ("name", "bob l"), ("bio", Unsent)));
        Assert.Equal((2, 1), (result.Upserted, result.Unavailable));
        Assert.Equal("{\"id\":1,\"name\":\"ada l\",\"bio\":null}", await JsonOf(j, 1));
        Assert.Equal("{\"id\":2,\"name\":\"bob l\",\"bio\":null}", await JsonOf(j, 2));
    }

    [Fact]
    public async Task An_older_change_with_an_unsent_column_is_stale_and_writes_nothing()
    {
        foreach (var json in new[] { false, true })
        {
            await using var t = json ? await JsonAsync() : await HashAsync();
            await t.ApplyAsync(Change.Create(("id", 1), 20, ("name", "new"), ("bio", "kept")));

            var result = await t.ApplyAsync(Change.Update(("id", 1), 15, ("name", "old"), ("bio", Unsent)));

            Assert.Equal((0, 1, 0), (result.Upserted, result.Stale, result.Unavailable));
            Assert.Equal(["bio=kept|id=1|name=new"], await t.RowsAsync());
        }
    }

    [Fact]
    public async Task A_batch_of_many_keys_over_several_script_calls_keeps_each_rows_own_value()
    {
        foreach (var json in new[] { false, true })
        {
            await using var t = json ? await JsonAsync() : await HashAsync();
            const int keys = 1500; // over seven script calls of ChangesPerScript (200)
            await t.ApplyAsync([.. Enumerable.Range(1, keys).Select(i => Change.Create(("id", i), 10, ("name", "n" + i), ("bio", "bio " + i), ("n", (long)i * 1_000_000_007)))]);

            var result = await t.ApplyAsync([.. Enumerable.Range(1, keys).Select(i => i % 3 == 0
                ? Change.Update(("id", i), 20, ("name", "m" + i), ("bio", "new " + i), ("n", (long)i))
                : Change.Update(("id", i), 20, ("name", "m" + i), ("bio", Unsent), ("n", Unsent)))]);

            Assert.Equal((keys, 0), (result.Upserted, result.Unavailable));
            var expected = Enumerable.Range(1, keys)
                .Select(i => i % 3 == 0 ? $"bio=new {i}|id={i}|n={i}|name=m{i}" : $"bio=bio {i}|id={i}|n={(long)i * 1_000_000_007}|name=m{i}")
                .Order(StringComparer.Ordinal);
            Assert.Equal(expected, await t.RowsAsync());
        }
    }

    [Fact]
    public async Task An_unsent_column_outside_the_selected_fields_is_not_a_partial_row()
    {
        await using var t = await RedisTestContext.CreateAsync(ns => new RedisTargetOptions { KeyTemplate = ns + "user:{id}", Fields = ["id", "name"] });

        var result = await t.ApplyAsync(Change.Update(("id", 1), 10, ("name", "ada"), ("bio", Unsent)));

        Assert.Equal((1, 0), (result.Upserted, result.Unavailable));
        Assert.Equal(new Dictionary<string, string> { ["id"] = "1", ["name"] = "ada" }, await HashOf(t, 1));
    }

    [Fact]
    public async Task An_index_on_an_unsent_column_rejects_the_change_naming_the_index_and_column()
    {
        await using var t = await RedisTestContext.CreateAsync(ns => new RedisTargetOptions { KeyTemplate = ns + "user:{id}", Indexes = [ns + "by-bio:{bio}"] });
        await t.ApplyAsync(Change.Create(("id", 1), 10, ("name", "ada"), ("bio", "b")));

        var result = await t.ApplyAsync(Change.Update(("id", 1), 11, ("name", "ada l"), ("bio", Unsent)), Change.Update(("id", 2), 12, ("name", "bob"), ("bio", "c")));

        Assert.Equal(1, result.Upserted);
        var rejected = Assert.Single(result.Rejected);
        Assert.Contains("names column \"bio\", whose value the source did not send", rejected.Reason, StringComparison.Ordinal);
        Assert.Equal(["bio=b|id=1|name=ada", "bio=c|id=2|name=bob"], await t.RowsAsync());
    }

    [Fact]
    public async Task A_change_without_an_lsn_fills_unsent_columns_through_the_long_form_too()
    {
        foreach (var json in new[] { false, true })
        {
            await using var t = json ? await JsonAsync() : await HashAsync();
            await t.ApplyAsync(Change.Create(("id", 1), null, ("name", "ada"), ("bio", "kept")).At(5));

            var result = await t.ApplyAsync(Change.Update(("id", 1), null, ("name", "ada l"), ("bio", Unsent)).At(6), Change.Update(("id", 2), null, ("name", "bob"), ("bio", Unsent)).At(7));

            Assert.Equal((2, 1), (result.Upserted, result.Unavailable));
            Assert.Equal(["bio=kept|id=1|name=ada l", "bio=null|id=2|name=bob"], await t.RowsAsync());
        }
    }
}
