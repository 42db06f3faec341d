namespace Sync.Sinks.Tests.Elasticsearch;

/// <summary>Columns the source did not send (<see cref="FieldValue.Unavailable"/>): Debezium's PostgreSQL
/// connector puts its unavailable-value placeholder in place of an unchanged TOASTed column under REPLICA
/// IDENTITY DEFAULT (https://debezium.io/documentation/reference/stable/connectors/postgresql.html,
/// "Considerations when using TOAST"). The sink reads the stored <c>_source</c> with a realtime <c>_mget</c>
/// (https://www.elastic.co/docs/api/doc/elasticsearch/operation/operation-mget; the stored <c>_source</c> is
/// the original JSON body, https://www.elastic.co/docs/reference/elasticsearch/mapping-reference/mapping-source-field)
/// and indexes the whole document with its external version.</summary>
public sealed class ElasticsearchUnavailableValueTests
{
    private const string Materializer = "es-unavailable";
    private static readonly FieldValue Unsent = FieldValue.Unavailable;

    [Fact]
    public async Task An_update_keeps_the_stored_value_of_an_unsent_column_byte_for_byte_at_its_new_version()
    {
        await using var h = await ElasticsearchTestHarness.CreateAsync();
        var t = h.Target("users");
        var doc = FieldValue.FromJson("{\"n\":12345678901234567,\"d\":12.30,\"s\":\"a\\\"},{[\",\"e\":1.5E+300}");
        await ApplyAsync(h, t, Change.Create(("id", 1), 10, ("name", "ada"), ("doc", doc), ("bio", new string('b', 9000))));

        var result = await ApplyAsync(h, t, Change.Update(("id", 1), 11, ("name", "ada l"), ("doc", Unsent), ("bio", Unsent)));

        Assert.Equal((1, 0, 0), (result.Upserted, result.Unavailable, result.Stale));
        Assert.Equal(
            "{\"id\":1,\"name\":\"ada l\",\"doc\":{\"n\":12345678901234567,\"d\":12.30,\"s\":\"a\\\"},{[\",\"e\":1.5E+300},\"bio\":\"" + new string('b', 9000) + "\"}",
            h.Fake.Documents("users")["1"]);
        Assert.Equal(ExternalVersions.Encode(Change.Update(("id", 1), 11).Version, out _), h.Fake.VersionOf("users", "1"));
    }

    [Fact]
    public async Task A_batch_of_many_keys_mixing_rows_with_and_without_unsent_columns_fills_only_those_that_lack_them()
    {
        await using var h = await ElasticsearchTestHarness.CreateAsync();
        var t = h.Target("users");
        const int keys = 2500; // over two _mget requests of MultiGetIds (1000)
        await ApplyAsync(h, t, [.. Enumerable.Range(1, keys).Select(i => Change.Create(("id", i), 10, ("name", "n" + i), ("bio", "bio " + i)))]);
        var before = h.Fake.Requests.Count(r => r.Contains("_mget", StringComparison.Ordinal));

        var result = await ApplyAsync(h, t, [.. Enumerable.Range(1, keys + 1).Select(i => i % 2 == 0
            ? Change.Update(("id", i), 20, ("name", "m" + i), ("bio", "new " + i))
            : Change.Update(("id", i), 20, ("name", "m" + i), ("bio", Unsent)))]);

        Assert.Equal((keys + 1, 1), (result.Upserted, result.Unavailable));
        Assert.Equal(2, h.Fake.Requests.Count(r => r.Contains("_mget", StringComparison.Ordinal)) - before);
        var expected = Enumerable.Range(1, keys + 1)
            .Select(i => i % 2 == 0 ? $"bio=new {i}|id={i}|name=m{i}" : i > keys ? $"bio=null|id={i}|name=m{i}" : $"bio=bio {i}|id={i}|name=m{i}")
            .Order(StringComparer.Ordinal);
        Assert.Equal(expected, h.Read("users"));
    }

    [Fact]
    public async Task A_batch_without_unsent_columns_reads_nothing()
    {
        await using var h = await ElasticsearchTestHarness.CreateAsync();
        var t = h.Target("users");

        await ApplyAsync(h, t, Change.Create(("id", 1), 10, ("name", "ada")), Change.Update(("id", 1), 11, ("name", "ada l")));

        Assert.DoesNotContain(h.Fake.Requests, r => r.Contains("_mget", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Without_a_stored_document_an_unsent_column_is_null_and_counted()
    {
        await using var h = await ElasticsearchTestHarness.CreateAsync();
        var t = h.Target("users");
        await ApplyAsync(h, t, Change.Create(("id", 2), 10, ("name", "bob"), ("bio", "old")));
        await ApplyAsync(h, t, Change.Delete(("id", 2), 11));
        await ApplyAsync(h, t, Change.Create(("id", 3), 12, ("name", "cy")));

        var result = await ApplyAsync(h, t,
            Change.Update(("id", 1), 20, ("name", "ada"), ("bio", Unsent)),
            Change.Update(("id", 2), 21, ("name", "bob"), ("bio", Unsent)),
            Change.Update(("id", 3), 22, ("name", "cy"), ("bio", Unsent)));

        Assert.Equal((3, 3), (result.Upserted, result.Unavailable));
        Assert.Equal(["bio=null|id=1|name=ada", "bio=null|id=2|name=bob", "bio=null|id=3|name=cy"], h.Read("users"));
        Assert.Equal("{\"id\":1,\"name\":\"ada\",\"bio\":null}", h.Fake.Documents("users")["1"]);
    }

    [Fact]
    public async Task An_older_change_with_an_unsent_column_is_stale_and_writes_nothing()
    {
        await using var h = await ElasticsearchTestHarness.CreateAsync();
        var t = h.Target("users");
        await ApplyAsync(h, t, Change.Create(("id", 1), 20, ("name", "new"), ("bio", "kept")));
        var version = h.Fake.VersionOf("users", "1");

        var result = await ApplyAsync(h, t, Change.Update(("id", 1), 15, ("name", "old"), ("bio", Unsent)));

        Assert.Equal((0, 1, 0), (result.Upserted, result.Stale, result.Unavailable));
        Assert.Equal(["bio=kept|id=1|name=new"], h.Read("users"));
        Assert.Equal(version, h.Fake.VersionOf("users", "1"));
    }

    [Fact]
    public async Task A_newer_write_landing_between_the_read_and_the_bulk_wins_and_the_change_is_stale()
    {
        await using var h = await ElasticsearchTestHarness.CreateAsync();
        await using var other = await h.OpenAnotherSinkAsync("es2");
        var t = h.Target("users");
        await ApplyAsync(h, t, Change.Create(("id", 1), 10, ("name", "ada"), ("bio", "first")));
        h.Fake.Faults.BeforeNextRequest("_bulk", async () =>
        {
            var newer = Change.Update(("id", 1), 30, ("name", "ada 30"), ("bio", "third"));
            await other.ApplyAsync(new SinkBatch("m2", t, [newer], new Dictionary<string, StreamPosition>()), CancellationToken.None);
        });

        var result = await ApplyAsync(h, t, Change.Update(("id", 1), 20, ("name", "ada 20"), ("bio", Unsent)));

        Assert.Equal(1, h.Fake.Faults.Fired("before"));
        Assert.Equal((0, 1), (result.Upserted, result.Stale));
        Assert.Equal(["bio=third|id=1|name=ada 30"], h.Read("users"));
    }

    [Fact]
    public async Task A_retried_bulk_item_keeps_the_filled_value()
    {
        await using var h = await ElasticsearchTestHarness.CreateAsync();
        var t = h.Target("users");
        await ApplyAsync(h, t, Change.Create(("id", 1), 10, ("name", "ada"), ("bio", "kept")));
        h.Fake.Faults.FailNextBulkItems(1, 429);

        var result = await ApplyAsync(h, t, Change.Update(("id", 1), 11, ("name", "ada l"), ("bio", Unsent)));

        Assert.Equal((1, 0), (result.Upserted, result.Unavailable));
        Assert.Equal(["bio=kept|id=1|name=ada l"], h.Read("users"));
    }

    [Fact]
    public async Task An_unsent_tenant_column_names_no_index_and_dead_letters_the_change_instead_of_failing_the_batch()
    {
        await using var h = await ElasticsearchTestHarness.CreateAsync();
        var t = new TargetSpec("orders") { Options = new ElasticsearchTargetOptions { Index = "{table}-{tenant}", TenantField = "org" } };

        var result = await ApplyAsync(h, t,
            Change.Update(("id", 1), 10, ("org", Unsent), ("bio", "x")),
            Change.Update(("id", 2), 11, ("org", "acme"), ("bio", Unsent)));

        Assert.Equal((1, 1), (result.Upserted, result.Unavailable));
        var rejected = Assert.Single(result.Rejected);
        Assert.Contains("the tenant column \"org\" is missing or NULL", rejected.Reason, StringComparison.Ordinal);
        Assert.Equal(["bio=null|id=2|org=acme"], h.Read("orders-acme"));
    }

    private static async Task<ApplyResult> ApplyAsync(ElasticsearchTestHarness harness, TargetSpec target, params ChangeEvent[] changes)
    {
        var checkpoint = changes.GroupBy(c => c.Origin.Topic).ToDictionary(g => g.Key, g => g.Max(c => c.Origin.Position));
        return await harness.Sink.ApplyAsync(new SinkBatch(Materializer, target, changes, checkpoint), CancellationToken.None);
    }
}
