using static Sync.Engine.Tests.Formats.Messages;

namespace Sync.Engine.Tests.Formats;

public class DebeziumEnvelopeTests
{
    private const string Alice = """{"id":42,"name":"Alice","price":"MDk=","born":-1}""";
    private const string AliceRenamed = """{"id":42,"name":"Alicia","price":"MDk=","born":-1}""";
    private static readonly MessageKey Key42 = Base64Key("""{"id":42}""");

    [Fact]
    public void A_create_has_the_after_image_and_no_before_image()
    {
        var e = Debezium(Wrapped(UserFields, "c", null, Alice), Key42);

        Assert.Equal(ChangeOp.Create, e.Op);
        Assert.Null(e.Before);
        Assert.Equal("Alice", e.After!["name"].AsText);
        Assert.Equal("""{"id":42}""", e.KeyText);
        Assert.False(e.IsDelete);
    }

    [Fact]
    public void An_update_has_both_images()
    {
        var e = Debezium(Wrapped(UserFields, "u", Alice, AliceRenamed), Key42);

        Assert.Equal(ChangeOp.Update, e.Op);
        Assert.Equal("Alice", e.Before!["name"].AsText);
        Assert.Equal("Alicia", e.After!["name"].AsText);
    }

    [Fact]
    public void An_update_without_a_before_image_is_accepted_as_replica_identity_default_sends_it()
    {
        var e = Debezium(Wrapped(UserFields, "u", null, AliceRenamed), Key42);

        Assert.Equal(ChangeOp.Update, e.Op);
        Assert.Null(e.Before);
    }

    [Fact]
    public void A_delete_has_the_before_image_and_is_a_delete()
    {
        var e = Debezium(Wrapped(UserFields, "d", Alice, null), Key42);

        Assert.Equal(ChangeOp.Delete, e.Op);
        Assert.Equal("Alice", e.Before!["name"].AsText);
        Assert.Null(e.After);
        Assert.Null(e.Image);
        Assert.True(e.IsDelete);
        Assert.Equal("""{"id":42}""", e.KeyText);
    }

    [Fact]
    public void A_delete_without_a_before_image_takes_its_key_from_the_message_key()
    {
        var e = Debezium(Bare("d", null, null), Key42);

        Assert.Equal(ChangeOp.Delete, e.Op);
        Assert.Null(e.Before);
        Assert.Equal("""{"id":42}""", e.KeyText);
    }

    [Fact]
    public void A_snapshot_read_is_a_read_with_the_after_image()
    {
        var e = Debezium(Wrapped(UserFields, "r", null, Alice), Key42);

        Assert.Equal(ChangeOp.Read, e.Op);
        Assert.Equal(42, e.After!["id"].AsInt64);
    }

    [Fact]
    public void A_truncate_has_no_key_and_no_images()
    {
        var e = Debezium(Bare("t", null, null));

        Assert.Equal(ChangeOp.Truncate, e.Op);
        Assert.Equal(0, e.Key.Count);
        Assert.Equal("{}", e.KeyText);
        Assert.Null(e.Before);
        Assert.Null(e.After);
        Assert.Equal("users", e.Source!.Table);
    }

    [Fact]
    public void A_tombstone_is_a_delete_of_its_key_without_images()
    {
        var e = new DebeziumJsonDecoder(NoOptions).Decode(Tombstone(Key42));

        Assert.Equal(ChangeOp.Tombstone, e.Op);
        Assert.True(e.IsDelete);
        Assert.Equal("""{"id":42}""", e.KeyText);
        Assert.Null(e.Before);
        Assert.Null(e.After);
        Assert.Null(e.Source);
        Assert.Equal(Key42, e.Origin.Key);
    }

    [Fact]
    public void An_empty_value_is_a_tombstone_too()
    {
        var e = new DebeziumJsonDecoder(NoOptions).Decode(Bytes([], PlainKey("""{"id":42}""")));

        Assert.Equal(ChangeOp.Tombstone, e.Op);
        Assert.Equal("""{"id":42}""", e.KeyText);
    }

    [Fact]
    public void A_wrapped_tombstone_with_a_null_payload_is_a_tombstone()
    {
        var e = Debezium("""{"schema":null,"payload":null}""", Key42);

        Assert.Equal(ChangeOp.Tombstone, e.Op);
    }

    [Fact]
    public void Wrapped_and_bare_envelopes_give_the_same_values()
    {
        var wrapped = Debezium(Wrapped(UserFields, "c", null, """{"id":42,"name":"Alice","price":"MDk=","born":18262}"""), Key42);
        var bare = Debezium(Bare("c", null, """{"id":42,"name":"Alice","price":123.45,"born":"2020-01-01"}"""), Key42);

        Assert.Equal(wrapped.After!.Names, bare.After!.Names);
        Assert.Equal("123.45", wrapped.After["price"].ToText());
        Assert.Equal("123.45", bare.After["price"].ToText());
        Assert.Equal("2020-01-01", wrapped.After["born"].ToText());
        Assert.Equal(ValueKind.Date, wrapped.After["born"].Kind);
        Assert.Equal(ValueKind.String, bare.After["born"].Kind);
        Assert.NotNull(wrapped.After.Schema);
        Assert.Null(bare.After.Schema);
        Assert.Equal(wrapped.Source, bare.Source);
        Assert.Equal(wrapped.TsMs, bare.TsMs);
    }

    [Fact]
    public void The_source_block_becomes_source_info()
    {
        var e = Debezium(Bare("c", null, Alice), Key42);

        Assert.Equal(
            new SourceInfo
            {
                Connector = "postgresql",
                Name = "db1",
                Db = "shop",
                Schema = "public",
                Table = "users",
                Lsn = 24023128,
                TxId = "748",
                TsMs = 1700000000000,
                Snapshot = "false",
            },
            e.Source);
        Assert.Equal(1700000000123, e.TsMs);
        Assert.Equal(24023128, e.Version.Lsn);
    }

    [Fact]
    public void A_boolean_snapshot_marker_and_a_text_transaction_id_are_kept_as_text()
    {
        var source = """{"connector":"mysql","name":"db2","db":"shop","table":"orders","snapshot":true,"txId":"file=binlog.000003,pos=154","lsn":"00000027:00000758:0005"}""";
        var e = Debezium(Bare("r", null, """{"id":1}""", source), PlainKey("""{"id":1}"""));

        Assert.Equal("true", e.Source!.Snapshot);
        Assert.Equal("file=binlog.000003,pos=154", e.Source.TxId);
        Assert.Null(e.Source.Lsn);
        Assert.Null(e.Source.Schema);
    }

    [Fact]
    public void A_last_snapshot_marker_is_kept_as_written()
    {
        var e = Debezium(Bare("r", null, """{"id":1}""", """{"snapshot":"last","lsn":5}"""), PlainKey("""{"id":1}"""));

        Assert.Equal("last", e.Source!.Snapshot);
        Assert.Equal(5, e.Source.Lsn);
    }

    [Fact]
    public void The_origin_is_the_message_topic_position_key_and_publish_time()
    {
        var message = Value(Bare("c", null, Alice), Key42);
        var e = new DebeziumJsonDecoder(NoOptions).Decode(message);

        Assert.Equal(Topic, e.Origin.Topic);
        Assert.Equal(new StreamPosition(7, 3), e.Origin.Position);
        Assert.Equal(Key42, e.Origin.Key);
        Assert.Equal(message.PublishTime, e.Origin.PublishTime);
    }

    [Fact]
    public void The_schema_gives_every_column_its_type()
    {
        var e = Debezium(Wrapped(UserFields, "c", null, Alice), Key42);

        Assert.Equal(
            [
                new ColumnSchema("id", LogicalType.Int32, false),
                new ColumnSchema("name", LogicalType.String, true),
                new ColumnSchema("price", LogicalType.Decimal, true, "org.apache.kafka.connect.data.Decimal", Precision: 10, Scale: 2),
                new ColumnSchema("born", LogicalType.Date, true, "io.debezium.time.Date"),
            ],
            e.After!.Schema!.Columns);
    }

    [Fact]
    public void Before_and_after_share_one_row_schema()
    {
        var e = Debezium(Wrapped(UserFields, "u", Alice, AliceRenamed), Key42);

        Assert.Same(e.Before!.Schema, e.After!.Schema);
    }

    [Fact]
    public void A_row_follows_schema_order_and_a_missing_field_is_null()
    {
        var e = Debezium(Wrapped(UserFields, "c", null, """{"born":-1,"id":42}"""), Key42);

        Assert.Equal(["id", "name", "price", "born"], e.After!.Names);
        Assert.True(e.After["name"].IsNull);
        Assert.Equal(-1, e.After["born"].AsInt64);
    }

    [Fact]
    public void A_schemaless_row_keeps_the_order_of_its_properties()
    {
        var e = Debezium(Bare("c", null, """{"z":1,"a":2,"m":3}"""), Key42);

        Assert.Equal(["z", "a", "m"], e.After!.Names);
    }

    [Fact]
    public void Unknown_envelope_properties_such_as_transaction_and_ts_us_are_ignored()
    {
        var json = """{"before":null,"after":{"id":1},"source":null,"op":"c","ts_ms":5,"ts_us":5000,"ts_ns":5000000,"transaction":{"id":"571:53195829","total_order":1,"data_collection_order":1}}""";
        var e = Debezium(json, PlainKey("""{"id":1}"""));

        Assert.Equal(5, e.TsMs);
        Assert.Null(e.Source);
    }
}
