using System.Text.Json.Nodes;
using Elastic.Clients.Elasticsearch;
using FieldValue = Sync.Engine.Changes.FieldValue;
using TimeUnit = Sync.Engine.Changes.TimeUnit;

namespace Sync.Sinks.Tests.Elasticsearch;

public sealed class ElasticsearchSinkTests
{
    private const string Materializer = "es-tests";

    [Fact]
    public async Task Version_conflicts_in_a_bulk_are_counted_as_stale_not_as_errors()
    {
        await using var h = await ElasticsearchTestHarness.CreateAsync();
        var t = h.Target("conflicts");
        await ApplyAsync(h, t, Change.Create(("id", 1), 10, ("name", "a")), Change.Create(("id", 2), 10, ("name", "b")));

        var result = await ApplyAsync(h, t,
            Change.Update(("id", 1), 5, ("name", "older")),
            Change.Update(("id", 2), 20, ("name", "newer")),
            Change.Delete(("id", 3), 1));

        Assert.Equal(new ApplyResult(1, 1, 1, []), result with { Rejected = [] });
        Assert.Empty(result.Rejected);
        Assert.Equal(["id=1|name=a", "id=2|name=newer"], h.Read("conflicts"));
    }

    [Fact]
    public async Task A_429_storm_on_bulk_items_resends_only_the_failed_items()
    {
        await using var h = await ElasticsearchTestHarness.CreateAsync();
        var t = h.Target("storm");
        h.Fake.Faults.FailNextBulkItems(5, 429);

        var result = await ApplyAsync(h, t, [.. Enumerable.Range(1, 4).Select(i => Change.Create(("id", i), 10 + i, ("name", $"n{i}")))]);

        Assert.Equal(4, result.Upserted);
        Assert.Equal(5, h.Fake.Faults.Fired("bulkItem"));
        Assert.Equal([4, 4, 1], h.Fake.BulkSizes);
        Assert.Equal(4, h.Read("storm").Count);
    }

    [Fact]
    public async Task Items_answered_503_are_resent_and_the_rest_is_not_written_twice()
    {
        await using var h = await ElasticsearchTestHarness.CreateAsync();
        var t = h.Target("unavailable");
        h.Fake.Faults.FailNextBulkItems(1, 503);

        var result = await ApplyAsync(h, t, Change.Create(("id", 1), 10, ("name", "a")), Change.Create(("id", 2), 11, ("name", "b")));

        Assert.Equal(new ApplyResult(2, 0, 0, []), result with { Rejected = [] });
        Assert.Equal([2, 1], h.Fake.BulkSizes);
        Assert.Equal(ExternalVersions.LsnBase + 11, h.Fake.VersionOf("unavailable", "2"));
    }

    [Fact]
    public async Task Whole_requests_answered_429_are_retried_until_they_pass()
    {
        await using var h = await ElasticsearchTestHarness.CreateAsync();
        var t = h.Target("busy");
        h.Fake.Faults.FailNextRequests(5, 429, "/_bulk");

        var result = await ApplyAsync(h, t, Change.Create(("id", 1), 10, ("name", "a")));

        Assert.Equal(1, result.Upserted);
        Assert.Equal(5, h.Fake.Faults.Fired("request"));
        Assert.Equal(["id=1|name=a"], h.Read("busy"));
    }

    [Fact]
    public async Task A_storm_longer_than_the_retry_budget_throws_unavailable_and_the_replay_is_safe()
    {
        await using var h = await ElasticsearchTestHarness.CreateAsync(o =>
        {
            o.Retry = new RetryPolicy { InitialDelay = TimeSpan.Zero, MaxDelay = TimeSpan.Zero, MaxAttempts = 3 };
            return o;
        });
        var t = h.Target("outlasted");
        ChangeEvent[] batch = [Change.Create(("id", 1), 10, ("name", "a")), Change.Create(("id", 2), 11, ("name", "b"))];
        h.Fake.Faults.FailNextBulkItems(100, 429);

        var error = await Assert.ThrowsAsync<SinkUnavailableException>(async () => await ApplyAsync(h, t, batch));
        Assert.Contains("after 3 attempts", error.Message, StringComparison.Ordinal);
        Assert.Empty(await h.Sink.LoadCheckpointAsync(Materializer, CancellationToken.None));
        Assert.Equal(6, h.Fake.Faults.Fired("bulkItem"));

        h.Fake.Faults.Clear();
        var replay = await ApplyAsync(h, t, batch);
        Assert.Equal(["id=1|name=a", "id=2|name=b"], h.Read("outlasted"));
        Assert.Equal(2, replay.Upserted + replay.Stale);
    }

    [Fact]
    public async Task A_fatal_answer_stops_the_batch_before_the_checkpoint()
    {
        await using var h = await ElasticsearchTestHarness.CreateAsync();
        var t = h.Target("fatal");
        h.Fake.Faults.FailNextRequests(1, 500, "/_bulk");

        await Assert.ThrowsAsync<SinkFatalException>(async () => await ApplyAsync(h, t, Change.Create(("id", 1), 10, ("name", "a")).At(7)));

        Assert.Empty(await h.Sink.LoadCheckpointAsync(Materializer, CancellationToken.None));
        await ApplyAsync(h, t, Change.Create(("id", 1), 10, ("name", "a")).At(7));
        Assert.Equal(new StreamPosition(0, 7), (await h.Sink.LoadCheckpointAsync(Materializer, CancellationToken.None))[Change.DefaultTopic]);
    }

    [Fact]
    public async Task Mappings_are_created_from_the_Debezium_schema_with_exact_types()
    {
        await using var h = await ElasticsearchTestHarness.CreateAsync();
        var t = new TargetSpec("typed") { Options = new ElasticsearchTargetOptions { TextFields = ["bio"], Alias = "typed-current" } };
        var change = Change.Create(("id", 1), 10,
                ("name", "ada"),
                ("bio", "wrote the first program"),
                ("small", 12.5m),
                ("price", FieldValue.FromDecimalText("12.30")),
                ("huge", FieldValue.FromDecimalText("12345678901234567890.1234567890")),
                ("ratio", FieldValue.FromDecimalText("0.333333333333333333333")),
                ("score", 1.5),
                ("ok", true),
                ("born", new DateOnly(1815, 12, 10)),
                ("seen", FieldValue.FromTimestamp(-4_733_856_000_000_001, TimeUnit.Microseconds)),
                ("at", FieldValue.FromTimestampTz("2024-02-29T23:59:59.123456789+01:00")),
                ("wake", FieldValue.FromTime(25_200_000_000_000)),
                ("uid", Guid.Parse("6f1c9a0e-2b7d-4c55-9d1e-0a4c1e2b3c4d")),
                ("doc", FieldValue.FromJson("{\"tags\":[\"a\",\"b\"],\"n\":1}")),
                ("blob", new byte[] { 0, 1, 2, 255 }),
                ("took", TimeSpan.FromMinutes(90)))
            .WithSchema(
                new ColumnSchema("id", LogicalType.Int64, false),
                new ColumnSchema("name", LogicalType.String, true),
                new ColumnSchema("bio", LogicalType.String, true),
                new ColumnSchema("small", LogicalType.Float32, true),
                new ColumnSchema("price", LogicalType.Decimal, true, "org.apache.kafka.connect.data.Decimal", Precision: 10, Scale: 2),
                new ColumnSchema("huge", LogicalType.Decimal, true, "org.apache.kafka.connect.data.Decimal", Precision: 30, Scale: 10),
                new ColumnSchema("ratio", LogicalType.VariableDecimal, true, "io.debezium.data.VariableScaleDecimal"),
                new ColumnSchema("score", LogicalType.Float64, true),
                new ColumnSchema("ok", LogicalType.Boolean, true),
                new ColumnSchema("born", LogicalType.Date, true, "io.debezium.time.Date"),
                new ColumnSchema("seen", LogicalType.Timestamp, true, "io.debezium.time.MicroTimestamp"),
                new ColumnSchema("at", LogicalType.TimestampTz, true, "io.debezium.time.ZonedTimestamp"),
                new ColumnSchema("wake", LogicalType.Time, true, "io.debezium.time.MicroTime"),
                new ColumnSchema("uid", LogicalType.Uuid, true, "io.debezium.data.Uuid"),
                new ColumnSchema("doc", LogicalType.Json, true, "io.debezium.data.Json"),
                new ColumnSchema("blob", LogicalType.Bytes, true),
                new ColumnSchema("took", LogicalType.Interval, true, "io.debezium.time.MicroDuration"));

        var result = await h.Sink.ApplyAsync(new SinkBatch(Materializer, t, [change], new Dictionary<string, StreamPosition>()), CancellationToken.None);

        Assert.Empty(result.Rejected);
        var mapping = h.Fake.Mapping("typed")!;
        var p = (JsonObject)mapping["properties"]!;
        string TypeOf(string field) => p[field]!["type"]!.GetValue<string>();
        Assert.Equal("long", TypeOf("id"));
        Assert.Equal("keyword", TypeOf("name"));
        Assert.Equal("text", TypeOf("bio"));
        Assert.Equal("keyword", p["bio"]!["fields"]!["keyword"]!["type"]!.GetValue<string>());
        Assert.Equal("float", TypeOf("small"));
        Assert.Equal("scaled_float", TypeOf("price"));
        Assert.Equal(100, p["price"]!["scaling_factor"]!.GetValue<double>());
        Assert.Equal("keyword", TypeOf("huge"));
        Assert.Equal("keyword", TypeOf("ratio"));
        Assert.Equal("double", TypeOf("score"));
        Assert.Equal("boolean", TypeOf("ok"));
        Assert.Equal(("date", "strict_date"), (TypeOf("born"), p["born"]!["format"]!.GetValue<string>()));
        Assert.Equal(("date", "strict_date_optional_time_nanos"), (TypeOf("seen"), p["seen"]!["format"]!.GetValue<string>()));
        Assert.Equal("date", TypeOf("at"));
        Assert.Equal("keyword", TypeOf("wake"));
        Assert.Equal("keyword", TypeOf("uid"));
        Assert.Equal("flattened", TypeOf("doc"));
        Assert.Equal("binary", TypeOf("blob"));
        Assert.Equal("keyword", TypeOf("took"));
        Assert.False(mapping["date_detection"]!.GetValue<bool>());
        Assert.Equal("86400s", h.Fake.Settings("typed")!["index.gc_deletes"]);
        Assert.Equal(["typed-current"], h.Fake.Aliases("typed"));

        // Every value reads back as the decoder's canonical text: no digit of a decimal lost, pre-1970 timestamps exact.
        var expected = string.Join('|', change.After!.Names.Select((n, i) => (n, v: change.After.Values[i].ToText() ?? "null"))
            .OrderBy(c => c.n, StringComparer.Ordinal).Select(c => $"{c.n}={c.v}"));
        Assert.Equal([expected], h.Read("typed"));
        using var source = JsonDocument.Parse(h.Fake.Documents("typed")["1"]);
        Assert.Equal(JsonValueKind.Number, source.RootElement.GetProperty("price").ValueKind);
        Assert.Equal("12.30", source.RootElement.GetProperty("price").GetRawText());
        Assert.Equal(JsonValueKind.String, source.RootElement.GetProperty("huge").ValueKind);
    }

    [Fact]
    public async Task A_schema_column_that_appears_later_gets_its_mapping_before_the_bulk()
    {
        await using var h = await ElasticsearchTestHarness.CreateAsync();
        var t = h.Target("evolving");
        await ApplyAsync(h, t, Change.Create(("id", 1), 10, ("name", "a")).WithSchema(new ColumnSchema("id", LogicalType.Int64, false), new ColumnSchema("name", LogicalType.String, true)));

        await ApplyAsync(h, t, Change.Create(("id", 2), 11, ("name", "b"), ("amount", FieldValue.FromDecimalText("1.50")))
            .WithSchema(new ColumnSchema("id", LogicalType.Int64, false), new ColumnSchema("name", LogicalType.String, true), new ColumnSchema("amount", LogicalType.Decimal, true, Precision: 5, Scale: 2)));

        Assert.Equal("scaled_float", h.Fake.Mapping("evolving")!["properties"]!["amount"]!["type"]!.GetValue<string>());
        Assert.Contains(h.Fake.Requests, r => r.StartsWith("PUT /evolving/_mapping", StringComparison.Ordinal));
        Assert.Equal(["amount=1.50|id=2|name=b", "amount=null|id=1|name=a"], h.Read("evolving"));
    }

    [Fact]
    public async Task Ids_with_special_characters_are_stored_verbatim()
    {
        await using var h = await ElasticsearchTestHarness.CreateAsync();
        var t = h.Target("ids");
        string[] keys = ["a/b", "what?x=1&y=2", "#fragment", "with space", "ünïcødé 漢字 🙂", "%2F", "..", "a+b", "back\\slash", "\"quoted\""];

        var result = await ApplyAsync(h, t, [.. keys.Select((k, i) => Change.Create(("id", k), 10 + i, ("n", i)))]);

        Assert.Equal(keys.Length, result.Upserted);
        Assert.Equal(keys.Order(StringComparer.Ordinal), h.Fake.Documents("ids").Keys.Order(StringComparer.Ordinal));
        // "." and ".." are stored verbatim too, but no client can GET them: URI normalisation removes dot segments.
        foreach (var key in keys.Where(k => k is not ("." or "..")))
        {
            // The client escapes the id in the URL path; the fake decodes it back to the same id.
            var got = await h.ElasticsearchSink.Client.GetAsync<JsonElement>("ids", key);
            Assert.True(got.Found, key);
            Assert.Equal(key, got.Id);
        }

        Assert.Equal(1, await h.Sink.EraseAsync(t, new SubjectMatch("id", FieldValue.FromString("a/b")), CancellationToken.None));
        Assert.Equal(keys.Length - 1, h.Fake.Documents("ids").Count);
    }

    [Fact]
    public async Task An_id_longer_than_512_bytes_is_rejected_without_failing_the_batch()
    {
        await using var h = await ElasticsearchTestHarness.CreateAsync();
        var t = h.Target("long-ids");

        var result = await ApplyAsync(h, t, Change.Create(("id", new string('漢', 200)), 10, ("n", 1)), Change.Create(("id", "ok"), 11, ("n", 2)));

        var rejected = Assert.Single(result.Rejected);
        Assert.Contains("at most 512", rejected.Reason, StringComparison.Ordinal);
        Assert.Equal(["id=ok|n=2"], h.Read("long-ids"));
    }

    [Fact]
    public async Task A_mapping_error_rejects_only_that_change_with_a_reason_that_holds_no_values_before_the_checkpoint_moves()
    {
        await using var h = await ElasticsearchTestHarness.CreateAsync();
        var t = h.Target("poison");
        await ApplyAsync(h, t, Change.Create(("id", 1), 10, ("n", 1)).WithSchema(new ColumnSchema("id", LogicalType.Int64, false), new ColumnSchema("n", LogicalType.Int64, true)).At(1));
        var poison = Change.Create(("id", 2), 11, ("n", "secret-value")).At(2);
        string? checkpointAtCallback = null;
        var batch = new SinkBatch(Materializer, t, [poison, Change.Create(("id", 3), 12, ("n", 3)).At(3)], new Dictionary<string, StreamPosition> { [Change.DefaultTopic] = new(0, 3) })
        {
            BeforeCommit = BeforeCommitHooks.Observing(_ => checkpointAtCallback = h.Fake.Documents("sync-checkpoints")[Materializer]),
        };

        var result = await h.Sink.ApplyAsync(batch, CancellationToken.None);

        var rejected = Assert.Single(result.Rejected);
        Assert.Same(poison, rejected.Change);
        Assert.Contains("document_parsing_exception", rejected.Reason, StringComparison.Ordinal);
        Assert.Contains("field [n] of type [long]", rejected.Reason, StringComparison.Ordinal);
        Assert.Contains("'<id>'", rejected.Reason, StringComparison.Ordinal);
        Assert.DoesNotContain("secret", rejected.Reason, StringComparison.Ordinal);
        Assert.Equal(1, result.Upserted);
        Assert.Contains("\"0:1:-1\"", checkpointAtCallback, StringComparison.Ordinal);
        Assert.Equal(new StreamPosition(0, 3), (await h.Sink.LoadCheckpointAsync(Materializer, CancellationToken.None))[Change.DefaultTopic]);
    }

    [Fact]
    public async Task When_the_dead_letters_cannot_be_written_the_checkpoint_does_not_move()
    {
        await using var h = await ElasticsearchTestHarness.CreateAsync();
        var t = h.Target("dead-letters");
        var poison = Change.Create(("id", 1), 10, ("name", "a")).WithAfter(Change.RowOf(("name", "a")));
        var batch = new SinkBatch(Materializer, t, [poison, Change.Create(("id", 2), 11, ("name", "b"))], new Dictionary<string, StreamPosition> { [Change.DefaultTopic] = new(0, 11) })
        {
            BeforeCommit = BeforeCommitHooks.Observing(_ => throw new IOException("dead-letter file is full")),
        };

        await Assert.ThrowsAsync<IOException>(async () => await h.Sink.ApplyAsync(batch, CancellationToken.None));

        Assert.Empty(await h.Sink.LoadCheckpointAsync(Materializer, CancellationToken.None));
    }

    [Fact]
    public async Task Json_columns_that_are_not_objects_are_dead_lettered_with_flattened_and_kept_with_disabled()
    {
        await using var h = await ElasticsearchTestHarness.CreateAsync();
        ChangeEvent Row(int id, string json) => Change.Create(("id", id), 10 + id, ("doc", FieldValue.FromJson(json)))
            .WithSchema(new ColumnSchema("id", LogicalType.Int64, false), new ColumnSchema("doc", LogicalType.Json, true, "io.debezium.data.Json"));

        var flattened = await h.Sink.ApplyAsync(new SinkBatch(Materializer, h.Target("flat"), [Row(1, "{\"a\":1}"), Row(2, "[1,2]")], new Dictionary<string, StreamPosition>()), CancellationToken.None);
        var disabled = await h.Sink.ApplyAsync(new SinkBatch(Materializer, new TargetSpec("opaque") { Options = new ElasticsearchTargetOptions { JsonMapping = JsonMapping.Disabled } }, [Row(1, "{\"a\":1}"), Row(2, "[1,2]")], new Dictionary<string, StreamPosition>()), CancellationToken.None);

        Assert.Equal(1, flattened.Upserted);
        Assert.Contains("flattened", Assert.Single(flattened.Rejected).Reason, StringComparison.Ordinal);
        Assert.Equal(2, disabled.Upserted);
        Assert.Equal(["doc=[1,2]|id=2", "doc={\"a\":1}|id=1"], h.Read("opaque"));
    }

    [Fact]
    public async Task The_checkpoint_merges_streams_and_survives_a_restart()
    {
        await using var h = await ElasticsearchTestHarness.CreateAsync();
        var t = h.Target("streams");
        await ApplyAsync(h, t, Change.Create(("id", 1), 10, ("n", 1)).OnTopic("topic-a").At(5), Change.Create(("id", 2), 11, ("n", 2)).OnTopic("persistent://public/default/db1.public.b").At(7));
        await ApplyAsync(h, t, Change.Create(("id", 3), 12, ("n", 3)).OnTopic("topic-a").At(9));
        await h.RestartAsync();

        var checkpoint = await h.Sink.LoadCheckpointAsync(Materializer, CancellationToken.None);

        Assert.Equal(new StreamPosition(0, 9), checkpoint["topic-a"]);
        Assert.Equal(new StreamPosition(0, 7), checkpoint["persistent://public/default/db1.public.b"]);
    }

    [Fact]
    public async Task A_tombstone_without_an_LSN_after_its_delete_leaves_the_row_deleted_and_older_creates_stale()
    {
        await using var h = await ElasticsearchTestHarness.CreateAsync();
        var t = h.Target("tombstones");
        await ApplyAsync(h, t, Change.Create(("id", 1), 10, ("name", "a")), Change.Delete(("id", 1), 20));

        var tombstone = await ApplyAsync(h, t, Change.Tombstone(("id", 1), 21));
        var late = await ApplyAsync(h, t, Change.Create(("id", 1), 15, ("name", "late")));

        Assert.Equal(1, tombstone.Stale);
        Assert.Equal(1, late.Stale);
        Assert.Empty(h.Read("tombstones"));
        Assert.Equal(ExternalVersions.LsnBase + 20, h.Fake.VersionOf("tombstones", "1"));

        await ApplyAsync(h, t, Change.Create(("id", 1), 30, ("name", "again")));
        var redelivered = await ApplyAsync(h, t, Change.Tombstone(("id", 1), 21));
        Assert.Equal(1, redelivered.Stale);
        Assert.Equal(["id=1|name=again"], h.Read("tombstones"));
    }

    [Fact]
    public async Task Changes_without_any_LSN_are_ordered_by_position()
    {
        await using var h = await ElasticsearchTestHarness.CreateAsync();
        var t = h.Target("positions");

        await ApplyAsync(h, t, Change.Create(("id", 1), null, ("name", "b")).At(new StreamPosition(3, 2)));
        var older = await ApplyAsync(h, t, Change.Create(("id", 1), null, ("name", "a")).At(new StreamPosition(3, 1)));
        await ApplyAsync(h, t, Change.Tombstone(("id", 1), 0).At(new StreamPosition(4, 0)));
        var beforeDelete = await ApplyAsync(h, t, Change.Create(("id", 1), null, ("name", "c")).At(new StreamPosition(3, 9, 5)));

        Assert.Equal(1, older.Stale);
        Assert.Equal(1, beforeDelete.Stale);
        Assert.Empty(h.Read("positions"));
    }

    [Fact]
    public async Task Erase_leaves_the_highest_external_version_so_no_replay_or_newer_change_returns()
    {
        await using var h = await ElasticsearchTestHarness.CreateAsync();
        var t = h.Target("erasure");
        await ApplyAsync(h, t, Change.Create(("id", 1), 10, ("customer", "c-7")), Change.Create(("id", 2), 11, ("customer", "c-7")), Change.Create(("id", 3), 12, ("customer", "c-8")));

        Assert.Equal(2, await h.Sink.CountAsync(t, new SubjectMatch("customer", FieldValue.FromString("c-7")), CancellationToken.None));
        Assert.Equal(2, await h.Sink.EraseAsync(t, new SubjectMatch("customer", FieldValue.FromString("c-7")), CancellationToken.None));

        Assert.Equal(ExternalVersions.Erased, h.Fake.VersionOf("erasure", "1"));
        Assert.Equal(ExternalVersions.Erased, h.Fake.VersionOf("erasure", "2"));
        Assert.Equal(0, await h.Sink.CountAsync(t, new SubjectMatch("customer", FieldValue.FromString("c-7")), CancellationToken.None));
        var replay = await ApplyAsync(h, t, Change.Create(("id", 1), 10, ("customer", "c-7")), Change.Create(("id", 2), 4_000_000, ("customer", "c-9")));
        Assert.Equal(2, replay.Stale);
        Assert.Equal(["customer=c-8|id=3"], h.Read("erasure"));
        Assert.Equal(1, await h.Sink.EraseAsync(t, new SubjectMatch("id", FieldValue.FromInt64(3)), CancellationToken.None));
        Assert.Empty(h.Read("erasure"));
        Assert.Equal(0, await h.Sink.EraseAsync(h.Target("never-written"), new SubjectMatch("id", FieldValue.FromInt64(1)), CancellationToken.None));
        Assert.Equal(0, await h.Sink.CountAsync(h.Target("never-written"), new SubjectMatch("id", FieldValue.FromInt64(1)), CancellationToken.None));
    }

    [Fact]
    public async Task Marking_keys_erased_says_why_it_cannot_for_a_template_an_alias_of_several_indices_and_a_missing_index()
    {
        await using var h = await ElasticsearchTestHarness.CreateAsync();
        var template = new TargetSpec("orders") { Options = new ElasticsearchTargetOptions { Index = "{table}-{tenant}", TenantField = "tenant", Alias = "{table}" } };
        await ApplyAsync(h, template,
            Change.Create([("tenant", "Acme"), ("id", 1)], 10, ("customer", 7)),
            Change.Create([("tenant", "Globex"), ("id", 2)], 11, ("customer", 8)));
        Row[] keys = [Change.RowOf(("tenant", "Acme"), ("id", 1)), Change.RowOf(("tenant", "Acme"), ("id", 3))];

        var byTemplate = await h.Sink.MarkErasedManyAsync(template, keys, CancellationToken.None);
        var byAlias = await h.Sink.MarkErasedManyAsync(h.Target("orders"), keys, CancellationToken.None);
        var missing = await h.Sink.MarkErasedManyAsync(h.Target("never-written"), [Change.RowOf(("id", 1))], CancellationToken.None);

        Assert.Equal((false, 0L), (byTemplate.Supported, byTemplate.Written));
        Assert.Contains("is a template", byTemplate.Reason, StringComparison.Ordinal);
        Assert.Equal((false, 0L), (byAlias.Supported, byAlias.Written));
        Assert.Contains("is an alias of 2 indices", byAlias.Reason, StringComparison.Ordinal);
        Assert.Equal((false, 0L), (missing.Supported, missing.Written));
        Assert.Contains("does not exist", missing.Reason, StringComparison.Ordinal);
        Assert.DoesNotContain("never-written", h.Fake.IndexNames);
        Assert.Equal(["customer=7|id=1|tenant=Acme"], h.Read("orders-acme"));
    }

    [Fact]
    public async Task Marking_keys_erased_reads_in_realtime_so_a_document_not_yet_refreshed_is_left_alone()
    {
        await using var h = await ElasticsearchTestHarness.CreateAsync();
        var t = h.Target("realtime");
        await ApplyAsync(h, t, Change.Create(("id", 1), 10, ("name", "a")));
        await ApplyAsync(h, t, Change.Create(("id", 2), 11, ("name", "b")));

        var outcome = await h.Sink.MarkErasedManyAsync(t, [Change.RowOf(("id", 1)), Change.RowOf(("id", 2)), Change.RowOf(("id", 9))], CancellationToken.None);

        Assert.Equal(new MarkOutcome(1, true), outcome);
        Assert.Equal(["id=1|name=a", "id=2|name=b"], h.Read("realtime"));
        var late = await ApplyAsync(h, t, Change.Create(("id", 9), 50, ("name", "z")), Change.Update(("id", 2), 51, ("name", "b2")));
        Assert.Equal(1, late.Stale);
        Assert.Equal(["id=1|name=a", "id=2|name=b2"], h.Read("realtime"));
    }

    [Fact]
    public async Task A_tenant_template_routes_documents_to_indices_and_erase_and_count_span_them()
    {
        await using var h = await ElasticsearchTestHarness.CreateAsync();
        var t = new TargetSpec("orders") { Options = new ElasticsearchTargetOptions { Index = "{table}-{tenant}", TenantField = "tenant", Alias = "{table}" } };

        var result = await ApplyAsync(h, t,
            Change.Create([("tenant", "Acme"), ("id", 1)], 10, ("customer", 7)),
            Change.Create([("tenant", "Globex"), ("id", 1)], 11, ("customer", 7)),
            Change.Create([("tenant", "Globex"), ("id", 2)], 12, ("customer", 8)),
            Change.Create([("tenant", "bad/name"), ("id", 3)], 13, ("customer", 7)));

        Assert.Equal(3, result.Upserted);
        Assert.Contains("must not contain", Assert.Single(result.Rejected).Reason, StringComparison.Ordinal);
        Assert.Equal(["orders-acme", "orders-globex"], h.Fake.IndexNames.Where(n => n.StartsWith("orders", StringComparison.Ordinal)));
        Assert.Equal(["orders"], h.Fake.Aliases("orders-acme"));
        Assert.Equal(["{\"tenant\":\"Acme\",\"id\":1}"], h.Fake.Documents("orders-acme").Keys);
        var subject = new SubjectMatch("customer", FieldValue.FromInt64(7));
        Assert.Equal(2, await h.Sink.CountAsync(t, subject, CancellationToken.None));
        Assert.Equal(2, await h.Sink.EraseAsync(t, subject, CancellationToken.None));
        Assert.Equal(["customer=8|id=2|tenant=Globex"], h.Read("orders-globex"));

        var delete = await ApplyAsync(h, t, Change.Delete([("tenant", "Globex"), ("id", 2)], 20));
        Assert.Equal(1, delete.Deleted);
        Assert.Empty(h.Read("orders-globex"));
    }

    [Fact]
    public async Task Refresh_policy_wait_for_makes_each_batch_searchable_and_none_does_not_refresh()
    {
        await using var waiting = await ElasticsearchTestHarness.CreateAsync(o =>
        {
            o.Refresh = RefreshPolicy.WaitFor;
            return o;
        });
        await using var lazy = await ElasticsearchTestHarness.CreateAsync();

        await ApplyAsync(waiting, waiting.Target("visible"), Change.Create(("id", 1), 10, ("name", "a")));
        await ApplyAsync(lazy, lazy.Target("visible"), Change.Create(("id", 1), 10, ("name", "a")));

        Assert.Equal(1, (await waiting.ElasticsearchSink.Client.CountAsync(c => c.Indices("visible"))).Count);
        Assert.Equal(0, (await lazy.ElasticsearchSink.Client.CountAsync(c => c.Indices("visible"))).Count);
        Assert.Contains(waiting.Fake.Requests, r => r.Contains("_bulk?refresh=wait_for", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_truncate_deletes_every_document_and_later_changes_apply()
    {
        await using var h = await ElasticsearchTestHarness.CreateAsync();
        var t = h.Target("truncated");

        var result = await ApplyAsync(h, t,
            Change.Create(("id", 1), 10, ("name", "a")),
            Change.Create(("id", 2), 11, ("name", "b")),
            Change.Truncate(12),
            Change.Create(("id", 3), 13, ("name", "c")));

        Assert.Equal(2, result.Deleted);
        Assert.Equal(["id=3|name=c"], h.Read("truncated"));
        Assert.Equal(1, (await ApplyAsync(h, t, Change.Create(("id", 1), 10, ("name", "a")))).Stale);
    }

    [Fact]
    public async Task The_sink_authenticates_with_an_api_key_or_basic_auth_and_fails_clearly_without()
    {
        var fake = new FakeElasticsearchOptions { RequiredApiKey = "aWQ6a2V5", RequiredBasicAuth = ("sync", "s3cret-pass") };
        await using (var withKey = await ElasticsearchTestHarness.CreateAsync(o =>
        {
            o.ApiKey = "aWQ6a2V5";
            return o;
        }, fake))
        {
            Assert.Equal(1, (await ApplyAsync(withKey, withKey.Target("secured"), Change.Create(("id", 1), 10, ("n", 1)))).Upserted);
        }

        await using (var withBasic = await ElasticsearchTestHarness.CreateAsync(o =>
        {
            o.Username = "sync";
            o.Password = "s3cret-pass";
            return o;
        }, fake))
        {
            Assert.Equal(1, (await ApplyAsync(withBasic, withBasic.Target("secured"), Change.Create(("id", 1), 10, ("n", 1)))).Upserted);
        }

        var error = await Assert.ThrowsAsync<SinkFatalException>(async () => await ElasticsearchTestHarness.CreateAsync(o =>
        {
            o.Username = "sync";
            o.Password = "wrong-password";
            return o;
        }, fake));
        Assert.Contains("401", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("wrong-password", error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_cluster_that_does_not_answer_makes_open_fail_as_unavailable()
    {
        var options = new ElasticsearchSinkOptions
        {
            Urls = ["http://127.0.0.1:9"],
            Retry = new RetryPolicy { InitialDelay = TimeSpan.Zero, MaxDelay = TimeSpan.Zero, MaxAttempts = 2 },
            RequestTimeout = TimeSpan.FromSeconds(5),
        };

        await Assert.ThrowsAsync<SinkUnavailableException>(async () => await ElasticsearchSink.OpenAsync("dead", options, CancellationToken.None));
    }

    [Fact]
    public async Task The_factory_opens_the_sink_by_type_with_target_options()
    {
        await using var fake = FakeElasticsearch.Start();
        var factory = new ElasticsearchSinkFactory();

        await using var sink = await factory.OpenAsync(new Sync.Engine.Config.ComponentConfig("search", "elasticsearch", new ElasticsearchSinkOptions { Urls = [fake.Url.ToString()] }, 1), CancellationToken.None);

        Assert.Equal("elasticsearch", factory.Type);
        Assert.Equal(typeof(ElasticsearchSinkOptions), factory.OptionsType);
        Assert.Equal(typeof(ElasticsearchTargetOptions), ((Sync.Engine.Sinks.ISinkFactory)factory).TargetOptionsType);
        Assert.Equal("search", sink.Name);
        Assert.Contains("sync-checkpoints", fake.IndexNames);
    }

    [Fact]
    public async Task A_column_with_a_dot_is_an_object_path_that_erasure_and_counts_find()
    {
        // Elasticsearch maps {"address.zip": 7} as object address with sub-field zip (subobjects: true,
        // the default), and a term on "address.zip" finds it; the stored _source keeps the name as sent.
        await using var h = await ElasticsearchTestHarness.CreateAsync();
        var t = h.Target("dotted");
        await ApplyAsync(h, t,
            Change.Create(("id", 1), 10, ("address.zip", 7), ("name", "a")),
            Change.Create(("id", 2), 11, ("address.zip", 8), ("name", "b")));
        var byZip = new SubjectMatches("address.zip", [FieldValue.FromInt64(7), FieldValue.FromString("x@example.com")]);

        Assert.Equal([1L, 0], await h.Sink.CountManyAsync(t, byZip, CancellationToken.None));
        Assert.Equal([null, "cannot match (long)"], await h.Sink.CannotMatchAsync(t, byZip, CancellationToken.None));
        Assert.Equal([1L, 0], await h.Sink.EraseManyAsync(t, byZip, CancellationToken.None));
        Assert.Equal(1L, await h.Sink.CountAsync(t, new SubjectMatch("address.zip", FieldValue.FromInt64(8)), CancellationToken.None));
        var left = Assert.Single(h.Fake.Documents("dotted"));
        Assert.Equal("2", left.Key);
        Assert.Equal(8, JsonNode.Parse(left.Value)!["address.zip"]!.GetValue<int>());
        Assert.Equal("long", h.Fake.Mapping("dotted")!["properties"]!["address"]!["properties"]!["zip"]!["type"]!.GetValue<string>());
    }

    [Fact]
    public async Task A_row_whose_columns_a_and_a_dot_b_collide_as_object_paths_is_dead_lettered_alone()
    {
        // "a" holding a number and "a.b" need "a" to be both a value and an object: the server refuses
        // the document (document_parsing_exception), so the change is rejected and the others are written.
        await using var h = await ElasticsearchTestHarness.CreateAsync();
        var t = h.Target("collide");

        var result = await ApplyAsync(h, t,
            Change.Create(("id", 1), 10, ("a", 1), ("a.b", 2)),
            Change.Create(("id", 2), 11, ("a", 3)));

        Assert.Single(result.Rejected);
        Assert.Equal(["a=3|id=2"], h.Read("collide"));
    }

    private static async Task<ApplyResult> ApplyAsync(ElasticsearchTestHarness harness, TargetSpec target, params ChangeEvent[] changes)
    {
        var checkpoint = changes.GroupBy(c => c.Origin.Topic).ToDictionary(g => g.Key, g => g.Max(c => c.Origin.Position));
        return await harness.Sink.ApplyAsync(new SinkBatch(Materializer, target, changes, checkpoint), CancellationToken.None);
    }
}
