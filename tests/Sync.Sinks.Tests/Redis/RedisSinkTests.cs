using StackExchange.Redis;
using StreamPosition = Sync.Engine.Changes.StreamPosition;

namespace Sync.Sinks.Tests.Redis;

public sealed class RedisSinkTests
{
    [Fact]
    public async Task A_hash_row_holds_one_field_per_column_as_canonical_text_and_no_field_for_null()
    {
        await using var t = await RedisTestContext.CreateAsync(ns => new RedisTargetOptions { KeyTemplate = ns + "user:{id}" });

        await t.ApplyAsync(Change.Create(("id", 42), 10, ("name", "ada"), ("score", 12.5m), ("active", true), ("note", null)));

        var hash = (await t.Db.HashGetAllAsync(t.Namespace + "user:42")).ToDictionary(e => e.Name.ToString(), e => e.Value.ToString());
        Assert.Equal(new Dictionary<string, string> { ["id"] = "42", ["name"] = "ada", ["score"] = "12.5", ["active"] = "true" }, hash);
        Assert.Equal(["active=true|id=42|name=ada|note=null|score=12.5"], await t.RowsAsync());
    }

    [Fact]
    public async Task A_json_row_is_one_string_with_numbers_as_numbers_and_null_as_null()
    {
        await using var t = await RedisTestContext.CreateAsync(ns => new RedisTargetOptions { KeyTemplate = ns + "user:{id}", Format = RedisValueFormat.Json });

        await t.ApplyAsync(Change.Create(("id", 42), 10, ("name", "ada"), ("score", 12345678901234567890.123456789m), ("tags", FieldValue.FromJson("[\"a\",1]")), ("note", null)));

        var json = (string?)await t.Db.StringGetAsync(t.Namespace + "user:42");
        Assert.Equal("{\"id\":42,\"name\":\"ada\",\"score\":12345678901234567890.123456789,\"tags\":[\"a\",1],\"note\":null}", json);
    }

    [Fact]
    public async Task An_update_replaces_the_whole_row_so_a_column_set_to_null_loses_its_field()
    {
        await using var t = await RedisTestContext.CreateAsync(ns => new RedisTargetOptions { KeyTemplate = ns + "user:{id}" });

        await t.ApplyAsync(Change.Create(("id", 1), 10, ("name", "ada"), ("email", "a@x")));
        await t.ApplyAsync(Change.Update(("id", 1), 11, ("name", "ada"), ("email", null)));

        Assert.False(await t.Db.HashExistsAsync(t.Namespace + "user:1", "email"));
        Assert.Equal(["email=null|id=1|name=ada"], await t.RowsAsync());
    }

    [Fact]
    public async Task An_update_keeps_exactly_its_own_fields_whether_the_column_set_grows_shrinks_or_stays()
    {
        await using var t = await RedisTestContext.CreateAsync(ns => new RedisTargetOptions { KeyTemplate = ns + "user:{id}" });
        async Task<Dictionary<string, string>> Row() =>
            (await t.Db.HashGetAllAsync(t.Namespace + "user:1")).ToDictionary(e => e.Name.ToString(), e => e.Value.ToString());

        await t.ApplyAsync(Change.Create(("id", 1), 10, ("name", "ada"), ("email", "a@x")));
        await t.ApplyAsync(Change.Update(("id", 1), 11, ("name", "ada l"), ("email", "b@x")));
        Assert.Equal(new Dictionary<string, string> { ["id"] = "1", ["name"] = "ada l", ["email"] = "b@x" }, await Row());

        await t.ApplyAsync(Change.Update(("id", 1), 12, ("name", "ada"), ("phone", "555")));
        Assert.Equal(new Dictionary<string, string> { ["id"] = "1", ["name"] = "ada", ["phone"] = "555" }, await Row());

        await t.ApplyAsync(Change.Update(("id", 1), 13, ("name", "ada"), ("phone", "555"), ("city", "paris")));
        Assert.Equal(new Dictionary<string, string> { ["id"] = "1", ["name"] = "ada", ["phone"] = "555", ["city"] = "paris" }, await Row());

        await t.ApplyAsync(Change.Update(("id", 1), 14, ("name", "x")));
        Assert.Equal(new Dictionary<string, string> { ["id"] = "1", ["name"] = "x" }, await Row());
    }

    [Fact]
    public async Task A_ttl_taken_off_the_target_is_taken_off_a_row_written_over_in_place()
    {
        await using var t = await RedisTestContext.CreateAsync(ns => new RedisTargetOptions { KeyTemplate = ns + "user:{id}", Ttl = TimeSpan.FromMinutes(10) });
        await t.ApplyAsync(Change.Create(("id", 1), 10, ("name", "ada")));
        Assert.NotNull(await t.Db.KeyTimeToLiveAsync(t.Namespace + "user:1"));

        t.Target = t.Target with { Options = new RedisTargetOptions { KeyTemplate = t.Namespace + "user:{id}" } };
        await t.ApplyAsync(Change.Update(("id", 1), 11, ("name", "ada l")));

        Assert.Equal(["id=1|name=ada l"], await t.RowsAsync());
        Assert.Null(await t.Db.KeyTimeToLiveAsync(t.Namespace + "user:1"));
        Assert.Null(await t.Db.KeyTimeToLiveAsync(t.Keys.State(t.Table, t.Namespace + "user:1")));
    }

    [Fact]
    public async Task A_live_row_whose_key_was_overwritten_by_hand_with_another_type_is_replaced_by_the_next_update()
    {
        await using var t = await RedisTestContext.CreateAsync(ns => new RedisTargetOptions { KeyTemplate = ns + "user:{id}" });
        await t.ApplyAsync(Change.Create(("id", 1), 10, ("name", "ada")));
        await t.Db.StringSetAsync(t.Namespace + "user:1", "not a hash");

        var result = await t.ApplyAsync(Change.Update(("id", 1), 11, ("name", "ada l")), Change.Create(("id", 2), 12, ("name", "bob")));

        Assert.Equal(2, result.Upserted);
        Assert.Equal(["id=1|name=ada l", "id=2|name=bob"], await t.RowsAsync());
    }

    [Fact]
    public async Task A_change_with_an_lsn_over_a_stored_version_without_one_is_ordered_by_its_position_in_the_same_stream()
    {
        await using var t = await RedisTestContext.CreateAsync();
        await t.ApplyAsync(Change.Create(("id", 1), null, ("name", "first")).At(5));

        var older = await t.ApplyAsync(Change.Update(("id", 1), 50, ("name", "older")).At(4));
        var newer = await t.ApplyAsync(Change.Update(("id", 1), 60, ("name", "newer")).At(7));

        Assert.Equal(1, older.Stale);
        Assert.Equal(1, newer.Upserted);
        Assert.Equal(["id=1|name=newer"], await t.RowsAsync());
        var state = RedisState.TryParse((byte[]?)await t.Db.StringGetAsync(t.Keys.State(t.Table, t.Table + ":1")))!;
        Assert.Equal(60, state.Version.Lsn);
        Assert.Equal(new StreamPosition(0, 7), state.Version.Position);
    }

    [Fact]
    public async Task Field_selection_stores_only_the_listed_columns()
    {
        await using var t = await RedisTestContext.CreateAsync(ns => new RedisTargetOptions { KeyTemplate = ns + "user:{id}", Fields = ["name"] });

        await t.ApplyAsync(Change.Create(("id", 1), 10, ("name", "ada"), ("password_hash", "secret")));

        var fields = (await t.Db.HashGetAllAsync(t.Namespace + "user:1")).Select(e => e.Name.ToString());
        Assert.Equal(["name"], fields);
    }

    [Fact]
    public async Task A_ttl_expires_the_row_and_its_version_together()
    {
        await using var t = await RedisTestContext.CreateAsync(ns => new RedisTargetOptions { KeyTemplate = ns + "user:{id}", Ttl = TimeSpan.FromMinutes(10) });

        await t.ApplyAsync(Change.Create(("id", 1), 10, ("name", "ada")));

        var rowTtl = await t.Db.KeyTimeToLiveAsync(t.Namespace + "user:1");
        var stateTtl = await t.Db.KeyTimeToLiveAsync(t.Keys.State(t.Table, t.Namespace + "user:1"));
        Assert.InRange(rowTtl!.Value, TimeSpan.FromMinutes(9), TimeSpan.FromMinutes(10));
        Assert.InRange(stateTtl!.Value, TimeSpan.FromMinutes(9), TimeSpan.FromMinutes(10));
    }

    [Fact]
    public async Task Without_a_ttl_rows_and_versions_do_not_expire_but_delete_markers_do()
    {
        await using var t = await RedisTestContext.CreateAsync(ns => new RedisTargetOptions { KeyTemplate = ns + "user:{id}", DeleteMarkerTtl = TimeSpan.FromHours(2) });

        await t.ApplyAsync(Change.Create(("id", 1), 10, ("name", "a")), Change.Create(("id", 2), 11, ("name", "b")));
        await t.ApplyAsync(Change.Delete(("id", 2), 12));

        Assert.Null(await t.Db.KeyTimeToLiveAsync(t.Namespace + "user:1"));
        Assert.Null(await t.Db.KeyTimeToLiveAsync(t.Keys.State(t.Table, t.Namespace + "user:1")));
        Assert.False(await t.Db.KeyExistsAsync(t.Namespace + "user:2"));
        var marker = await t.Db.KeyTimeToLiveAsync(t.Keys.State(t.Table, t.Namespace + "user:2"));
        Assert.InRange(marker!.Value, TimeSpan.FromMinutes(119), TimeSpan.FromHours(2));
    }

    [Fact]
    public async Task After_a_delete_marker_expires_a_late_older_create_is_applied_again()
    {
        await using var t = await RedisTestContext.CreateAsync(ns => new RedisTargetOptions { KeyTemplate = ns + "user:{id}", DeleteMarkerTtl = TimeSpan.FromSeconds(1) });
        await t.ApplyAsync(Change.Create(("id", 1), 10, ("name", "a")));
        await t.ApplyAsync(Change.Delete(("id", 1), 20));

        var withinTtl = await t.ApplyAsync(Change.Create(("id", 1), 15, ("name", "late")));
        Assert.Equal(1, withinTtl.Stale);

        // The marker is gone once Redis expired it, however long that took.
        var deleteMarker = t.Keys.State(t.Table, t.Namespace + "user:1");
        await Sync.Testing.Process.Poll.UntilAsync(async () => !await t.Db.KeyExistsAsync(deleteMarker));
        var afterTtl = await t.ApplyAsync(Change.Create(("id", 1), 15, ("name", "late")));

        Assert.Equal(1, afterTtl.Upserted);
        Assert.Equal(["id=1|name=late"], await t.RowsAsync());
    }

    [Fact]
    public async Task Erase_leaves_an_erasure_marker_that_no_replay_and_no_newer_change_in_flight_gets_past()
    {
        await using var t = await RedisTestContext.CreateAsync(ns => new RedisTargetOptions { KeyTemplate = ns + "user:{id}" });
        await t.ApplyAsync(Change.Create(("id", 1), 10, ("name", "a")));
        await t.ApplyAsync(Change.Create(("id", 3), null, ("name", "c")).At(30));

        Assert.Equal(1, await t.Sink.EraseAsync(t.Target, new SubjectMatch("id", FieldValue.FromInt64(1)), CancellationToken.None));
        Assert.Equal(1, await t.Sink.EraseAsync(t.Target, new SubjectMatch("id", FieldValue.FromInt64(3)), CancellationToken.None));
        Assert.Equal(0, await t.Sink.EraseAsync(t.Target, new SubjectMatch("id", FieldValue.FromInt64(3)), CancellationToken.None));

        var marker = RedisState.TryParse((byte[]?)await t.Db.StringGetAsync(t.Keys.State(t.Table, t.Namespace + "user:1")))!;
        Assert.True(marker.Deleted);
        Assert.Equal(new ChangeVersion(10, Change.DefaultTopic, new StreamPosition(0, 10)).Erased(), marker.Version);

        var replay = await t.ApplyAsync(Change.Create(("id", 1), 10, ("name", "a")), Change.Create(("id", 3), null, ("name", "c")).At(30));
        var inFlight = await t.ApplyAsync(Change.Update(("id", 1), 12, ("name", "b")), Change.Update(("id", 3), null, ("name", "d")).At(31));
        Assert.Equal(2, replay.Stale);
        Assert.Equal(2, inFlight.Stale);
        Assert.Empty(await t.RowsAsync());
    }

    [Fact]
    public async Task Marking_a_deleted_key_erased_keeps_its_stream_and_the_delete_marker_ttl_and_leaves_a_foreign_value_alone()
    {
        await using var t = await RedisTestContext.CreateAsync(ns => new RedisTargetOptions { KeyTemplate = ns + "user:{id}", DeleteMarkerTtl = TimeSpan.FromMinutes(5) });
        await t.ApplyAsync(Change.Create(("id", 1), 10, ("name", "a")));
        await t.ApplyAsync(Change.Delete(("id", 1), 20));
        // A value sync never wrote (no state) under a key the template renders: not sync's to mark.
        await t.Db.StringSetAsync(t.Namespace + "user:2", "someone else's");

        var outcome = await t.Sink.MarkErasedManyAsync(t.Target, [Change.RowOf(("id", 1)), Change.RowOf(("id", 2)), Change.RowOf(("id", 1))], CancellationToken.None);

        Assert.Equal(new MarkOutcome(1, true), outcome);
        var stateKey = t.Keys.State(t.Table, t.Namespace + "user:1");
        var marker = RedisState.TryParse((byte[]?)await t.Db.StringGetAsync(stateKey))!;
        Assert.True(marker.Deleted);
        Assert.Equal(new ChangeVersion(20, Change.DefaultTopic, new StreamPosition(0, 20)).Erased(), marker.Version);
        var ttl = await t.Db.KeyTimeToLiveAsync(stateKey);
        Assert.InRange(ttl!.Value, TimeSpan.FromMinutes(4), TimeSpan.FromMinutes(5));
        Assert.Equal("someone else's", (string?)await t.Db.StringGetAsync(t.Namespace + "user:2"));
        Assert.False(await t.Db.KeyExistsAsync(t.Keys.State(t.Table, t.Namespace + "user:2")));
    }

    [Fact]
    public async Task Marking_keys_erased_says_it_cannot_when_the_key_template_names_a_column_that_is_not_a_key_column()
    {
        await using var t = await RedisTestContext.CreateAsync(ns => new RedisTargetOptions { KeyTemplate = ns + "user:{email}" });

        var outcome = await t.Sink.MarkErasedManyAsync(t.Target, [Change.RowOf(("id", 1))], CancellationToken.None);

        Assert.False(outcome.Supported);
        Assert.Equal(0, outcome.Written);
        Assert.Contains("names column \"email\", which is not a key column (key: \"id\")", outcome.Reason, StringComparison.Ordinal);
        Assert.Empty(t.Reader.GetServers()[0].Keys(t.Db.Database, t.Keys.StatePattern(t.Table)));
    }

    [Fact]
    public async Task Erase_by_an_unindexed_column_scans_a_table_larger_than_one_page()
    {
        await using var t = await RedisTestContext.CreateAsync(ns => new RedisTargetOptions { Format = RedisValueFormat.Json });
        await t.ApplyAsync([.. Enumerable.Range(1, 2500).Select(i => Change.Create(("id", i), i, ("customer", i % 1000 == 7 ? 7 : 1)))]);

        var match = new SubjectMatch("customer", FieldValue.FromInt64(7));
        Assert.Equal(3, await t.Sink.CountAsync(t.Target, match, CancellationToken.None));
        Assert.Equal(3, await t.Sink.EraseAsync(t.Target, match, CancellationToken.None));

        Assert.Equal(0, await t.Sink.CountAsync(t.Target, match, CancellationToken.None));
        Assert.Equal(2497, (await t.RowsAsync()).Count);
    }

    [Fact]
    public async Task A_composite_key_template_renders_every_key_column()
    {
        await using var t = await RedisTestContext.CreateAsync(ns => new RedisTargetOptions { KeyTemplate = ns + "{tenant}:user:{id}" });
        string ns = t.Namespace;

        await t.ApplyAsync(
            Change.Create([("tenant", "eu"), ("id", 1)], 10, ("name", "a")),
            Change.Create([("tenant", "us"), ("id", 1)], 11, ("name", "b")));
        await t.ApplyAsync(Change.Delete([("tenant", "eu"), ("id", 1)], 12));

        Assert.False(await t.Db.KeyExistsAsync(ns + "eu:user:1"));
        Assert.Equal("b", (string?)await t.Db.HashGetAsync(ns + "us:user:1", "name"));
        Assert.Equal(1, await t.Sink.CountAsync(t.Target, new SubjectMatch("tenant", FieldValue.FromString("us")), CancellationToken.None));
        Assert.Equal(0, await t.Sink.CountAsync(t.Target, new SubjectMatch("tenant", FieldValue.FromString("eu")), CancellationToken.None));
        Assert.Equal(1, await t.Sink.EraseAsync(t.Target, new SubjectMatch("tenant", FieldValue.FromString("us")), CancellationToken.None));
        Assert.Empty(await t.RowsAsync());
    }

    [Fact]
    public async Task A_key_template_over_a_non_key_column_or_missing_a_key_column_rejects_the_change_with_the_reason()
    {
        await using var t = await RedisTestContext.CreateAsync(ns => new RedisTargetOptions { KeyTemplate = ns + "user:{email}" });

        var byEmail = await t.ApplyAsync(Change.Create(("id", 1), 10, ("email", "a@x")));
        t.Target = t.Target with { Options = new RedisTargetOptions { KeyTemplate = t.Namespace + "user:{id}" } };
        var partial = await t.ApplyAsync(Change.Create([("tenant", "eu"), ("id", 1)], 11, ("name", "a")), Change.Create(("id", 2), 12, ("name", "b")));

        var first = Assert.Single(byEmail.Rejected).Reason;
        Assert.Contains("names column \"email\", which is not a key column (key: \"id\")", first, StringComparison.Ordinal);
        Assert.DoesNotContain("a@x", first, StringComparison.Ordinal);
        var second = Assert.Single(partial.Rejected).Reason;
        Assert.Contains("leaves out key column \"tenant\"", second, StringComparison.Ordinal);
        Assert.Equal(1, partial.Upserted);
    }

    [Fact]
    public async Task Key_values_with_template_and_pattern_characters_are_stored_verbatim()
    {
        await using var t = await RedisTestContext.CreateAsync(ns => new RedisTargetOptions { KeyTemplate = ns + "user:{id}", Indexes = [ns + "by_tag:{tag}"] });
        string ns = t.Namespace;
        string[] ids = ["a*", "a", "a:b", "{id}", "x}{y", "with space", "line\nbreak", "[ab]", "?", "\\*", "ä漢🙂"];

        await t.ApplyAsync([.. ids.Select((id, i) => Change.Create(("id", id), 10 + i, ("tag", id + "*")))]);

        foreach (var id in ids)
        {
            Assert.Equal(id, (string?)await t.Db.HashGetAsync(ns + "user:" + id, "id"));
            Assert.Equal([ns + "user:" + id], await t.MembersAsync(ns + "by_tag:" + id + "*"));
        }

        Assert.Equal(1, await t.Sink.EraseAsync(t.Target, new SubjectMatch("id", FieldValue.FromString("a*")), CancellationToken.None));
        Assert.Equal(1, await t.Sink.EraseAsync(t.Target, new SubjectMatch("tag", FieldValue.FromString("[ab]*")), CancellationToken.None));
        Assert.Equal(0, await t.Sink.CountAsync(t.Target, new SubjectMatch("id", FieldValue.FromString("*")), CancellationToken.None));
        Assert.Equal(ids.Length - 2, (await t.RowsAsync()).Count);
        Assert.True(await t.Db.KeyExistsAsync(ns + "user:a"));
        Assert.True(await t.Db.KeyExistsAsync(ns + "user:?"));
    }

    [Fact]
    public async Task A_value_that_would_render_a_key_inside_syncs_own_namespace_is_rejected()
    {
        await using var t = await RedisTestContext.CreateAsync(ns => new RedisTargetOptions { KeyTemplate = "{id}", Indexes = ["{email}"] });
        var checkpointKey = t.Keys.Checkpoint(RedisTestContext.Materializer);
        await t.ApplyAsync(Change.Create(("id", t.Namespace + "ok"), 1, ("email", t.Namespace + "mail")));

        var result = await t.ApplyAsync(
            Change.Create(("id", checkpointKey), 10, ("email", "x")),
            Change.Create(("id", t.Namespace + "2"), 11, ("email", t.Keys.Prefix + "x")));

        Assert.Equal(2, result.Rejected.Count);
        Assert.Contains("would start with keyPrefix", result.Rejected[0].Reason, StringComparison.Ordinal);
        Assert.Contains("its index key for {email} would start with keyPrefix", result.Rejected[1].Reason, StringComparison.Ordinal);
        Assert.Equal(RedisType.Hash, await t.Db.KeyTypeAsync(checkpointKey));
        Assert.Equal(new StreamPosition(0, 11), (await t.Sink.LoadCheckpointAsync(RedisTestContext.Materializer, CancellationToken.None))[Change.DefaultTopic]);
    }

    [Fact]
    public async Task Table_names_with_pattern_characters_never_reach_another_tables_keys()
    {
        await using var t = await RedisTestContext.CreateAsync();
        var star = new TargetSpec(t.Namespace + "x*");
        var plain = new TargetSpec(t.Namespace + "xy");
        await t.ApplyAsync(star, Change.Create(("id", 1), 10, ("customer", 7)));
        await t.ApplyAsync(plain, Change.Create(("id", 1), 10, ("customer", 7)));

        Assert.Equal(1, await t.Sink.EraseAsync(star, new SubjectMatch("customer", FieldValue.FromInt64(7)), CancellationToken.None));

        Assert.Empty(await t.RowsAsync(star));
        Assert.Equal(["customer=7|id=1"], await t.RowsAsync(plain));
    }

    [Fact]
    public async Task Two_keys_that_render_alike_are_caught_and_the_second_is_rejected()
    {
        await using var t = await RedisTestContext.CreateAsync(ns => new RedisTargetOptions { KeyTemplate = ns + "{a}:{b}" });

        var first = await t.ApplyAsync(Change.Create([("a", "x:y"), ("b", "z")], 10, ("name", "first")));
        var second = await t.ApplyAsync(Change.Create([("a", "x"), ("b", "y:z")], 11, ("name", "second")));

        Assert.Equal(1, first.Upserted);
        var rejected = Assert.Single(second.Rejected);
        Assert.Contains("already holds the row of another key", rejected.Reason, StringComparison.Ordinal);
        Assert.Equal("first", (string?)await t.Db.HashGetAsync(t.Namespace + "x:y:z", "name"));
    }

    [Fact]
    public async Task A_tombstone_without_an_lsn_keeps_the_stored_lsn_so_an_older_change_from_another_stream_stays_stale()
    {
        await using var t = await RedisTestContext.CreateAsync();

        await t.ApplyAsync(Change.Create(("id", 1), 100, ("name", "a")).At(5));
        await t.ApplyAsync(Change.Tombstone(("id", 1), 6));
        var replay = await t.ApplyAsync(Change.Create(("id", 1), 90, ("name", "old")).OnTopic("persistent://public/default/replay").At(1));

        Assert.Equal(1, replay.Stale);
        Assert.Empty(await t.RowsAsync());
        var marker = RedisState.TryParse((byte[]?)await t.Db.StringGetAsync(t.Keys.State(t.Table, t.Table + ":1")))!;
        Assert.Equal(100, marker.Version.Lsn);
        Assert.Equal(new StreamPosition(0, 6), marker.Version.Position);
    }

    [Fact]
    public async Task Versions_compare_exactly_beyond_double_precision()
    {
        await using var t = await RedisTestContext.CreateAsync();
        const long big = (1L << 62) + 1;

        await t.ApplyAsync(Change.Create(("id", 1), big, ("name", "new")));
        var older = await t.ApplyAsync(Change.Update(("id", 1), big - 1, ("name", "old")));

        Assert.Equal(1, older.Stale);
        Assert.Equal(["id=1|name=new"], await t.RowsAsync());
    }

    [Fact]
    public async Task A_truncate_removes_older_rows_keeps_newer_ones_and_stops_late_older_changes()
    {
        await using var t = await RedisTestContext.CreateAsync();
        await t.ApplyAsync(Change.Create(("id", 1), 10, ("name", "a")), Change.Create(("id", 2), 30, ("name", "b")));

        var result = await t.ApplyAsync(Change.Truncate(20));
        var late = await t.ApplyAsync(Change.Create(("id", 3), 15, ("name", "late")), Change.Create(("id", 1), 12, ("name", "late")));
        var replayed = await t.ApplyAsync(Change.Truncate(20));

        Assert.Equal(1, result.Deleted);
        Assert.Equal(2, late.Stale);
        Assert.Equal(0, replayed.Deleted);
        Assert.Equal(["id=2|name=b"], await t.RowsAsync());
    }

    [Fact]
    public async Task A_row_key_holding_a_foreign_value_rejects_that_row_and_the_rest_applies()
    {
        await using var t = await RedisTestContext.CreateAsync(ns => new RedisTargetOptions { KeyTemplate = ns + "user:{id}" });
        await t.Db.StringSetAsync(t.Namespace + "user:2", "not a hash");

        var result = await t.ApplyAsync(Change.Create(("id", 1), 10, ("name", "a")), Change.Create(("id", 2), 11, ("name", "b")));

        Assert.Equal(1, result.Upserted);
        var rejected = Assert.Single(result.Rejected);
        Assert.Equal(2, rejected.Change.Key.Values[0].AsInt64);
        Assert.Contains("holds a string, not a hash (WRONGTYPE)", rejected.Reason, StringComparison.Ordinal);
        Assert.Equal("not a hash", (string?)await t.Db.StringGetAsync(t.Namespace + "user:2"));
    }

    [Fact]
    public async Task Rejections_reach_BeforeCommit_before_the_checkpoint_moves_and_a_failing_BeforeCommit_keeps_the_old_checkpoint()
    {
        await using var t = await RedisTestContext.CreateAsync();
        var poison = Change.Create(("id", 2), 11, ("name", "m")).WithAfter(Change.RowOf(("name", "m"))).At(11);
        ChangeEvent[] changes = [Change.Create(("id", 1), 10, ("name", "a")).At(10), poison];
        var checkpoint = new Dictionary<string, StreamPosition> { [Change.DefaultTopic] = new(0, 11) };
        string? seenCheckpoint = "unset";
        var failing = new SinkBatch(RedisTestContext.Materializer, t.Target, changes, checkpoint)
        {
            BeforeCommit = BeforeCommitHooks.Observing(rejected =>
            {
                seenCheckpoint = t.Db.HashGet(t.Keys.Checkpoint(RedisTestContext.Materializer), Change.DefaultTopic);
                throw new IOException("dead-letter file is full");
            }),
        };

        await Assert.ThrowsAsync<IOException>(async () => await t.Sink.ApplyAsync(failing, CancellationToken.None));
        Assert.Null(seenCheckpoint);
        Assert.Empty(await t.Sink.LoadCheckpointAsync(RedisTestContext.Materializer, CancellationToken.None));

        IReadOnlyList<RejectedChange>? deadLetters = null;
        var result = await t.Sink.ApplyAsync(failing with { BeforeCommit = BeforeCommitHooks.Observing(r => deadLetters = r) }, CancellationToken.None);

        Assert.Same(poison, Assert.Single(deadLetters!).Change);
        Assert.Equal(1, result.Upserted);
        Assert.Equal(new StreamPosition(0, 11), (await t.Sink.LoadCheckpointAsync(RedisTestContext.Materializer, CancellationToken.None))[Change.DefaultTopic]);
        Assert.Equal(["id=1|name=a"], await t.RowsAsync());
    }

    [Fact]
    public async Task Replaying_from_an_old_checkpoint_after_a_restart_changes_nothing()
    {
        await using var t = await RedisTestContext.CreateAsync();
        var log = Changelogs.Random([.. Enumerable.Range(0, 300).Select(i => (byte)(i * 37))], [.. Enumerable.Range(0, 300).Select(i => (byte)(i * 11))], keyCount: 20);
        var batches = log.Chunk(25).Select(b => Engine.Runtime.Collapser.Collapse(b).ToArray()).ToList();
        foreach (var batch in batches)
        {
            await t.ApplyAsync(batch);
        }

        var before = await t.RowsAsync();
        var checkpoint = await t.Sink.LoadCheckpointAsync(RedisTestContext.Materializer, CancellationToken.None);
        await t.RestartAsync();

        var upserted = 0;
        foreach (var batch in batches.Skip(batches.Count / 2))
        {
            upserted += (await t.ApplyAsync(batch)).Upserted;
        }

        var expected = Changelogs.FinalState(log).Values.Select(Canonical).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(expected, before);
        Assert.Equal(before, await t.RowsAsync());
        Assert.Equal(checkpoint, await t.Sink.LoadCheckpointAsync(RedisTestContext.Materializer, CancellationToken.None));
    }

    [Fact]
    public async Task Two_sinks_writing_the_same_keys_at_once_leave_the_newest_version_of_each()
    {
        await using var t = await RedisTestContext.CreateAsync(ns => new RedisTargetOptions { KeyTemplate = ns + "user:{id}", Indexes = [ns + "by_v:{v}"] });
        await using var other = await RedisSink.OpenAsync("cache2", t.Options, CancellationToken.None);
        var random = new Random(7);
        var lsns = Enumerable.Range(1, 4000).OrderBy(_ => random.Next()).ToArray();
        ChangeEvent ChangeOf(int lsn) => lsn % 7 == 0
            ? Change.Delete(("id", lsn % 50), lsn)
            : Change.Update(("id", lsn % 50), lsn, ("v", lsn));

        async Task RunAsync(ISink sink, IEnumerable<int> mine)
        {
            foreach (var chunk in mine.Chunk(40))
            {
                await sink.ApplyAsync(new SinkBatch("m", t.Target, [.. Engine.Runtime.Collapser.Collapse([.. chunk.Select(ChangeOf)])], new Dictionary<string, StreamPosition>()), CancellationToken.None);
            }
        }

        await Task.WhenAll(RunAsync(t.Sink, lsns.Where((_, i) => i % 2 == 0)), RunAsync(other, lsns.Where((_, i) => i % 2 == 1)));

        var expected = Enumerable.Range(0, 50)
            .Select(id => Enumerable.Range(1, 4000).Where(l => l % 50 == id).Max())
            .Where(lsn => lsn % 7 != 0)
            .Select(lsn => $"id={lsn % 50}|v={lsn}")
            .Order(StringComparer.Ordinal)
            .ToList();
        Assert.Equal(expected, await t.RowsAsync());
        foreach (var lsn in Enumerable.Range(1, 4000).Where(l => l % 7 != 0))
        {
            var members = await t.MembersAsync(t.Namespace + "by_v:" + lsn);
            Assert.Equal(expected.Contains($"id={lsn % 50}|v={lsn}") ? [t.Namespace + "user:" + (lsn % 50)] : [], members);
        }
    }

    [Fact]
    public async Task A_batch_larger_than_one_script_call_is_applied_in_pipelined_calls()
    {
        await using var t = await RedisTestContext.CreateAsync(configure: o => o.ChangesPerScript = 7);

        var result = await t.ApplyAsync([.. Enumerable.Range(1, 100).Select(i => Change.Create(("id", i), i, ("name", "n" + i)))]);

        Assert.Equal(100, result.Upserted);
        Assert.Equal(100, (await t.RowsAsync()).Count);
    }

    [Fact]
    public async Task Hash_rows_with_thousands_of_columns_are_written_in_chunks()
    {
        await using var t = await RedisTestContext.CreateAsync();
        var columns = Enumerable.Range(0, 3000).Select(i => ($"c{i:0000}", (object?)i)).ToArray();

        await t.ApplyAsync(Change.Create(("id", 1), 10, columns));

        Assert.Equal(3001, await t.Db.HashLengthAsync(t.Table + ":1"));
    }

    [Fact]
    public async Task An_acl_user_with_a_password_connects_and_a_wrong_password_fails_without_showing_it()
    {
        await using var admin = await RedisTestServer.ConnectAsync();
        var ns = RedisTestServer.NewNamespace();
        var user = "u" + ns.TrimEnd(':');
        const string password = "pässwörd-Secret-42";
        var server = admin.GetServers()[0];
        await server.ExecuteAsync("ACL", "SETUSER", user, "on", ">" + password, "~" + ns + "*", "+@all");
        try
        {
            var options = RedisTestServer.Options(ns);
            options.User = user;
            options.Password = password;
            await using (var sink = await RedisSink.OpenAsync("cache", options, CancellationToken.None))
            {
                var target = new TargetSpec(ns + "users");
                var result = await sink.ApplyAsync(new SinkBatch("m", target, [Change.Create(("id", 1), 10, ("name", "a"))], new Dictionary<string, StreamPosition>()), CancellationToken.None);
                Assert.Equal(1, result.Upserted);
            }

            options.Password = "wrong-Secret-99";
            var error = await Assert.ThrowsAsync<SinkFatalException>(async () => await RedisSink.OpenAsync("cache", options, CancellationToken.None));
            var text = error.ToString();
            Assert.Contains($"authentication as user '{user}' failed", text, StringComparison.Ordinal);
            Assert.DoesNotContain("wrong-Secret-99", text, StringComparison.Ordinal);
            Assert.DoesNotContain(password, text, StringComparison.Ordinal);
        }
        finally
        {
            await server.ExecuteAsync("ACL", "DELUSER", user);
            await RedisTestServer.CleanAsync(ns);
        }
    }

    [Fact]
    public async Task Target_options_of_another_shape_are_refused_with_every_problem_named()
    {
        await using var t = await RedisTestContext.CreateAsync();
        var bad = t.Target with { Options = new RedisTargetOptions { KeyTemplate = "user:{id", DeleteMarkerTtl = TimeSpan.Zero } };

        var error = await Assert.ThrowsAsync<ArgumentException>(async () => await t.ApplyAsync(bad, Change.Create(("id", 1), 10)));

        Assert.Contains("target.keyTemplate (user:{id) has an unclosed { at position 5", error.Message, StringComparison.Ordinal);
        Assert.Contains("target.deleteMarkerTtl (0ms) must be between 1s and 3650d", error.Message, StringComparison.Ordinal);
    }

    private static string Canonical(Row row) =>
        string.Join('|', row.Names.Select((n, i) => (n, v: row.Values[i].ToText() ?? "null")).OrderBy(c => c.n, StringComparer.Ordinal).Select(c => $"{c.n}={c.v}"));
}
