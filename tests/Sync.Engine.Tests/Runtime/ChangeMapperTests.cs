namespace Sync.Engine.Tests.Runtime;

public class ChangeMapperTests
{
    [Fact]
    public void Without_settings_a_change_passes_through_unchanged()
    {
        var change = Change.Create(("id", 1), 10, ("name", "a"));
        Assert.Same(change, new ChangeMapper(new MaterializerOptions()).Map(change));
    }

    [Fact]
    public void Rename_applies_to_key_and_row_columns()
    {
        var mapper = new ChangeMapper(new MaterializerOptions
        {
            Columns = new ColumnsOptions { Rename = new() { ["id"] = "user_id", ["name"] = "full_name" } },
        });

        var mapped = mapper.Map(Change.Create(("id", 1), 10, ("name", "a")));

        Assert.Equal(["user_id"], mapped.Key.Names);
        Assert.Equal("{\"user_id\":1,\"full_name\":\"a\"}", mapped.After!.ToJson());
    }

    [Fact]
    public void Include_and_exclude_never_drop_key_columns()
    {
        var include = new ChangeMapper(new MaterializerOptions { Columns = new ColumnsOptions { Include = ["name"] } });
        var exclude = new ChangeMapper(new MaterializerOptions { Columns = new ColumnsOptions { Exclude = ["id", "secret"] } });
        var change = Change.Create(("id", 1), 10, ("name", "a"), ("secret", "s"));

        Assert.Equal("{\"id\":1,\"name\":\"a\"}", include.Map(change).After!.ToJson());
        Assert.Equal("{\"id\":1,\"name\":\"a\"}", exclude.Map(change).After!.ToJson());
    }

    [Fact]
    public void Metadata_columns_are_filled_from_the_change()
    {
        var mapper = new ChangeMapper(new MaterializerOptions
        {
            Metadata = new()
            {
                ["src_db"] = "source.db",
                ["src_table"] = "source.table",
                ["lsn"] = "source.lsn",
                ["topic"] = "topic",
                ["published"] = "publishTime",
                ["region"] = "property.region",
                ["missing"] = "property.nope",
            },
        });
        var change = Change.Create(("id", 1), 10, ("name", "a"));
        change = new ChangeEvent
        {
            Op = change.Op,
            Key = change.Key,
            After = change.After,
            Source = change.Source,
            Origin = change.Origin with
            {
                PublishTime = new DateTimeOffset(2025, 6, 2, 9, 0, 0, 123, TimeSpan.Zero),
                Properties = new Dictionary<string, string> { ["region"] = "eu" },
            },
        };

        var after = mapper.Map(change).After!;

        Assert.Equal("db1", after["src_db"].AsText);
        Assert.Equal("items", after["src_table"].AsText);
        Assert.Equal(10, after["lsn"].AsInt64);
        Assert.Equal(Change.DefaultTopic, after["topic"].AsText);
        Assert.Equal("2025-06-02T09:00:00.123Z", after["published"].ToText());
        Assert.Equal("eu", after["region"].AsText);
        Assert.True(after["missing"].IsNull);
    }

    [Fact]
    public void A_tenant_from_the_topic_name_joins_the_key_so_equal_ids_of_two_tenants_stay_apart()
    {
        var mapper = new ChangeMapper(new MaterializerOptions
        {
            Tenant = new TenantOptions { Column = "tenant", From = "topic", Pattern = @"persistent://public/default/(?<tenant>[^.]+)\.public\.users" },
        });

        var a = mapper.Map(Change.Create(("id", 1), 10, ("name", "a")).OnTopic("persistent://public/default/tenant_a.public.users"));
        var b = mapper.Map(Change.Create(("id", 1), 10, ("name", "b")).OnTopic("persistent://public/default/tenant_b.public.users"));

        Assert.Equal("{\"tenant\":\"tenant_a\",\"id\":1}", a.KeyText);
        Assert.Equal("{\"tenant\":\"tenant_b\",\"id\":1}", b.KeyText);
        Assert.Equal("{\"tenant\":\"tenant_b\",\"id\":1,\"name\":\"b\"}", b.After!.ToJson());
    }

    [Fact]
    public void A_tenant_can_come_from_the_source_database()
    {
        var mapper = new ChangeMapper(new MaterializerOptions { Tenant = new TenantOptions { Column = "tenant", From = "source.db" } });

        var deleted = mapper.Map(Change.Delete(("id", 1), 10));

        Assert.Equal("{\"tenant\":\"db1\",\"id\":1}", deleted.KeyText);
    }

    [Fact]
    public void A_topic_that_does_not_match_the_tenant_pattern_cannot_be_mapped()
    {
        var mapper = new ChangeMapper(new MaterializerOptions
        {
            Tenant = new TenantOptions { Column = "tenant", From = "topic", Pattern = "^tenants/(?<tenant>.+)$" },
        });

        var e = Assert.Throws<MapException>(() => mapper.Map(Change.Create(("id", 1), 10)));
        Assert.Equal($"tenant: topic '{Change.DefaultTopic}' does not match the pattern ^tenants/(?<tenant>.+)$", e.Message);
    }

    [Fact]
    public void Column_types_follow_the_renames_and_metadata_columns_get_types()
    {
        var mapper = new ChangeMapper(new MaterializerOptions
        {
            Columns = new ColumnsOptions { Rename = new() { ["price"] = "amount" } },
            Metadata = new() { ["published"] = "publishTime" },
        });
        var change = Change.Create(("id", 1), 10, ("price", 1.5m))
            .WithSchema(new ColumnSchema("id", LogicalType.Int32, false), new ColumnSchema("price", LogicalType.Decimal, false, Precision: 10, Scale: 2));

        var schema = mapper.Map(change).After!.Schema!;

        Assert.Equal(LogicalType.Decimal, schema.Find("amount")!.Type);
        Assert.Equal(2, schema.Find("amount")!.Scale);
        Assert.Equal(LogicalType.TimestampTz, schema.Find("published")!.Type);
        Assert.Same(schema, mapper.Map(change).After!.Schema);
    }
}
