using static Sync.Engine.Tests.Formats.Messages;

namespace Sync.Engine.Tests.Formats;

/// <summary>Flattened events as Debezium's ExtractNewRecordState SMT writes them (debezium/debezium
/// debezium-connect-plugins io/debezium/transforms/ExtractNewRecordState.java,
/// extractnewstate/DefaultDeleteHandlingStrategy.java; documentation
/// modules/ROOT/pages/transformations/event-flattening.adoc), serialized by Kafka's JsonConverter.</summary>
public class DebeziumFlatDecoderTests
{
    private static readonly MessageKey Key = Base64Key("""{"id":1004}""");

    private static ChangeEvent Flat(string json, MessageKey? key = null, DecoderOptions? options = null) =>
        new DebeziumFlatDecoder(options ?? NoOptions).Decode(Value(json, key ?? Key));

    /// <summary>The flattened value schema: the after struct's fields plus what add.fields appends
    /// (AbstractExtractNewRecordState makeUpdatedSchema keeps the row fields, then one field per
    /// added name with the source field's schema: op string, table string, lsn int64, source.ts_ms
    /// int64) and, in rewrite mode, __deleted as an optional string (InsertField with a static value).</summary>
    private const string RewriteSchema =
        """{"type":"struct","fields":[{"type":"int32","optional":false,"field":"id"},{"type":"string","optional":false,"field":"first_name"},{"type":"double","optional":true,"field":"weight"},{"type":"string","optional":true,"field":"__op"},{"type":"string","optional":true,"field":"__table"},{"type":"int64","optional":true,"field":"__lsn"},{"type":"int64","optional":true,"field":"__source_ts_ms"},{"type":"string","optional":true,"field":"__deleted"}],"optional":false,"name":"dbserver1.inventory.customers.Value"}""";

    [Fact]
    public void A_flattened_row_is_an_upsert_of_the_row_without_its_bookkeeping_fields()
    {
        var change = Flat("""{"id":1004,"first_name":"Anne","weight":5.5,"__op":"c","__table":"customers","__lsn":24023128,"__source_ts_ms":1559033904863,"__deleted":"false"}""");

        Assert.Equal(ChangeOp.Create, change.Op);
        Assert.Equal("""{"id":1004,"first_name":"Anne","weight":5.5}""", change.After!.ToJson());
        Assert.Equal("""{"id":1004}""", change.Key.ToJson());
        Assert.Equal(24023128L, change.Version.Lsn);
        Assert.Equal("customers", change.Source!.Table);
        Assert.Equal(1559033904863L, change.Source.TsMs);
    }

    [Fact]
    public void With_schemas_the_row_is_typed_and_the_lsn_is_the_version()
    {
        var change = Flat($$$"""{"schema":{{{RewriteSchema}}},"payload":{"id":1004,"first_name":"Anne","weight":5.5,"__op":"u","__table":"customers","__lsn":24023200,"__source_ts_ms":1559033904863,"__deleted":"false"}}""");

        Assert.Equal(ChangeOp.Update, change.Op);
        Assert.Equal(["id", "first_name", "weight"], change.After!.Names);
        Assert.Equal(ValueKind.Double, change.After.Values[2].Kind);
        Assert.Equal(LogicalType.Float64, change.After.Schema!.Columns[2].Type);
        Assert.Equal(24023200L, change.Version.Lsn);
    }

    [Fact]
    public void An_unchanged_toasted_column_is_unavailable_with_and_without_schemas()
    {
        // The SMT keeps the after image's values as the connector wrote them, the PostgreSQL
        // connector's unavailable-value placeholder included (postgresql.adoc, "Toasted values").
        var schemaless = Flat("""{"id":1004,"first_name":"__debezium_unavailable_value","weight":5.5,"__op":"u","__lsn":24023201}""");
        var typed = Flat($$$"""{"schema":{{{RewriteSchema}}},"payload":{"id":1004,"first_name":"__debezium_unavailable_value","weight":5.5,"__op":"u","__table":"customers","__lsn":24023202,"__source_ts_ms":1559033904863,"__deleted":"false"}}""");

        Assert.True(schemaless.After!["first_name"].IsUnavailable);
        Assert.True(typed.After!["first_name"].IsUnavailable);
        Assert.Equal(5.5, typed.After["weight"].AsDouble);
    }

    [Fact]
    public void A_placeholder_in_a_key_column_is_a_decode_error_naming_it()
    {
        var e = Assert.Throws<DecodeException>(() => Flat("""{"id":"__debezium_unavailable_value","first_name":"Anne","__op":"u"}""", Base64Key("""{"id":"__debezium_unavailable_value"}""")));

        Assert.Contains("id", e.Message, StringComparison.Ordinal);
        Assert.Contains("unavailable-value placeholder", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_rewritten_delete_deletes_the_key_and_keeps_its_version()
    {
        // event-flattening.adoc, delete.tombstone.handling.mode=rewrite: "__deleted": "true" with the before image.
        var change = Flat($$$"""{"schema":{{{RewriteSchema}}},"payload":{"id":1004,"first_name":"Anne","weight":null,"__op":"d","__table":"customers","__lsn":24023300,"__source_ts_ms":1559033904900,"__deleted":"true"}}""");

        Assert.Equal(ChangeOp.Delete, change.Op);
        Assert.True(change.IsDelete);
        Assert.Null(change.After);
        Assert.Equal("""{"id":1004,"first_name":"Anne","weight":null}""", change.Before!.ToJson());
        Assert.Equal(24023300L, change.Version.Lsn);
    }

    [Fact]
    public void Deleted_true_deletes_without_an_op_field_and_as_a_boolean()
    {
        Assert.Equal(ChangeOp.Delete, Flat("""{"pk":2,"cola":null,"__deleted":"true"}""").Op);
        Assert.Equal(ChangeOp.Delete, Flat("""{"pk":2,"cola":null,"__deleted":true}""").Op);
        Assert.Equal(ChangeOp.Update, Flat("""{"pk":2,"cola":null,"__deleted":"false"}""").Op);
    }

    [Fact]
    public void Tombstone_mode_writes_a_null_value_which_deletes_the_key()
    {
        // DefaultDeleteHandlingStrategy TOMBSTONE: the after field's (optional) schema with a null value;
        // JsonConverter writes {"schema":…,"payload":null} with schemas and null without.
        var afterSchema = RewriteSchema.Replace("\"optional\":false,\"name\"", "\"optional\":true,\"name\"", StringComparison.Ordinal);
        var wrapped = Flat($$"""{"schema":{{afterSchema}},"payload":null}""");
        var bare = Flat("null");

        Assert.Equal(ChangeOp.Delete, wrapped.Op);
        Assert.Equal("""{"id":1004}""", wrapped.Key.ToJson());
        Assert.Equal(ChangeOp.Delete, bare.Op);
    }

    [Fact]
    public void A_tombstone_deletes_the_key()
    {
        // rewrite-with-tombstone keeps the connector's tombstone; delete-to-tombstone turns the delete into one.
        var change = new DebeziumFlatDecoder(NoOptions).Decode(Tombstone(Key));

        Assert.Equal(ChangeOp.Tombstone, change.Op);
        Assert.Equal("""{"id":1004}""", change.Key.ToJson());
    }

    [Theory]
    [InlineData("__source_lsn")]
    [InlineData("__lsn")]
    public void The_lsn_is_the_version_with_or_without_the_struct_name(string field)
    {
        Assert.Equal(24023128L, Flat($$"""{"id":1,"{{field}}":24023128}""").Version.Lsn);
        Assert.Equal(24023128L, Flat($$"""{"id":1,"{{field}}":"24023128"}""").Version.Lsn);
    }

    [Fact]
    public void MySql_binlog_coordinates_added_as_fields_give_the_version()
    {
        var change = Flat("""{"id":1,"__connector":"mysql","__file":"mysql-bin.000003","__pos":484,"__row":1}""");

        Assert.Equal((3L << 45) | (484L << 13) | 1, change.Version.Lsn);
    }

    [Fact]
    public void SqlServer_commit_lsn_added_as_a_field_gives_the_version()
    {
        var change = Flat("""{"id":1,"__source_commit_lsn":"00000027:00000758:0005","__source_change_lsn":"00000027:00000758:0003"}""");

        Assert.Equal((0x27L << 35) | (0x758L << 12) | 5, change.Version.Lsn);
    }

    [Fact]
    public void Without_added_fields_a_change_has_no_source_and_is_ordered_by_its_position()
    {
        var change = Flat("""{"id":1,"name":"x"}""");

        Assert.Null(change.Source);
        Assert.Null(change.Version.Lsn);
        Assert.Equal(ChangeOp.Update, change.Op);
    }

    [Fact]
    public void A_message_without_a_key_takes_the_key_columns_from_the_row()
    {
        var change = new DebeziumFlatDecoder(new DecoderOptions { KeyColumns = ["id"] }).Decode(Value("""{"id":9,"name":"x","__deleted":"true"}"""));

        Assert.Equal(ChangeOp.Delete, change.Op);
        Assert.Equal("""{"id":9}""", change.Key.ToJson());
    }

    [Theory]
    [InlineData("""{"id":1,"__deleted":5}""", "value.__deleted")]
    [InlineData("""{"id":1,"__op":"x"}""", "value.__op")]
    [InlineData("""[1,2]""", "value")]
    public void Bad_bookkeeping_fields_name_their_path(string json, string path)
    {
        var error = Assert.Throws<DecodeException>(() => Flat(json));
        Assert.StartsWith(path + ":", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_null_value_without_a_key_is_a_clear_error()
    {
        var error = Assert.Throws<DecodeException>(() => new DebeziumFlatDecoder(NoOptions).Decode(Value("null")));
        Assert.Contains("no key", error.Message, StringComparison.Ordinal);
    }
}
