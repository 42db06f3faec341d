using static Sync.Engine.Tests.Formats.Messages;

namespace Sync.Engine.Tests.Formats;

/// <summary>Debezium's transaction metadata (<c>provide.transaction.metadata=true</c>): the
/// <c>transaction</c> block of each change event and the BEGIN/END records of the transaction topic.
/// Shapes from debezium/debezium: <c>debezium-connector-common/src/main/java/io/debezium/schema/SchemaFactory.java</c>
/// (<c>transactionBlockSchema</c>, <c>transactionValueSchema</c>, <c>transactionEventCountPerDataCollectionSchema</c>),
/// <c>pipeline/txmetadata/AbstractTransactionStructMaker.java</c>, <c>TransactionContext.event</c>
/// (<c>data_collection</c> is the table's <c>DataCollectionId.toString()</c>, <c>schema.table</c> for
/// PostgreSQL), <c>debezium-connector-postgres/.../pipeline/txmetadata/PostgresTransactionMonitor.java</c>
/// (2.0 and later: ids <c>txId:LSN</c> of each record); tag v1.9.7.Final
/// <c>debezium-core/.../pipeline/txmetadata/TransactionMonitor.java</c> (bare txId, no <c>ts_ms</c>);
/// <c>documentation/modules/ROOT/pages/connectors/postgresql.adoc</c> "Transaction metadata".</summary>
public class TransactionMetadataTests
{
    // postgresql.adoc "Transaction metadata", the BEGIN and END examples (2.x: ts_ms, txId:LSN ids).
    private const string Begin = """{"status":"BEGIN","id":"571:53195829","ts_ms":1486500577125,"event_count":null,"data_collections":null}""";
    private const string End =
        """{"status":"END","id":"571:53195832","ts_ms":1486500577691,"event_count":2,"data_collections":[{"data_collection":"s1.a","event_count":1},{"data_collection":"s2.a","event_count":1}]}""";

    // tests/corpus/debezium/non-row-messages: 1.9.7 through Pulsar IO (bare txId, no ts_ms).
    private const string End19 = """{"status":"END","id":"900","event_count":2,"data_collections":[{"data_collection":"public.accounts","event_count":2}]}""";

    // SchemaFactory.transactionValueSchema as JsonConverter writes it with schemas enabled.
    private const string TransactionSchema =
        """{"type":"struct","fields":[{"type":"string","optional":false,"field":"status"},{"type":"string","optional":false,"field":"id"},{"type":"int64","optional":true,"field":"event_count"},{"type":"array","items":{"type":"struct","fields":[{"type":"string","optional":false,"field":"data_collection"},{"type":"int64","optional":false,"field":"event_count"}],"optional":false,"name":"event.collection","version":1},"optional":true,"field":"data_collections"},{"type":"int64","optional":false,"field":"ts_ms"}],"optional":false,"name":"io.debezium.connector.common.TransactionMetadataValue","version":1}""";

    private static string WithBlock(string block) =>
        Bare("c", null, """{"id":1,"name":"ada","price":null,"born":null}""").Replace("\"transaction\":null", $"\"transaction\":{block}", StringComparison.Ordinal);

    [Fact]
    public void Begin_and_end_records_decode_with_their_counts()
    {
        var begin = TransactionRecordDecoder.Decode(Value(Begin, PlainKey("""{"id":"571:53195829"}""")));
        var end = TransactionRecordDecoder.Decode(Value(End));

        Assert.Equal(TransactionStatus.Begin, begin.Status);
        Assert.Null(begin.EventCount);
        Assert.Empty(begin.DataCollections);
        Assert.Equal(1486500577125, begin.TsMs);
        Assert.Equal(TransactionStatus.End, end.Status);
        Assert.Equal(2, end.EventCount);
        Assert.Equal([new DataCollectionCount("s1.a", 1), new DataCollectionCount("s2.a", 1)], end.DataCollections);
        // The ids differ (each record's LSN); the transaction is the part before the colon.
        Assert.NotEqual(begin.Id, end.Id);
        Assert.Equal("571", begin.TransactionKey);
        Assert.Equal(begin.TransactionKey, end.TransactionKey);
    }

    [Fact]
    public void A_1_9_end_record_without_ts_ms_and_a_wrapped_record_decode_alike()
    {
        var bare = TransactionRecordDecoder.Decode(Value(End19));
        var wrapped = TransactionRecordDecoder.Decode(Value($$"""{"schema":{{TransactionSchema}},"payload":{{End}}}"""));

        Assert.Null(bare.TsMs);
        Assert.Equal("900", bare.TransactionKey);
        Assert.Equal([new DataCollectionCount("public.accounts", 2)], bare.DataCollections);
        Assert.Equal(2, wrapped.EventCount);
        Assert.Equal("571", wrapped.TransactionKey);
    }

    [Theory]
    [InlineData("""{"status":"COMMIT","id":"1"}""", "status: expected BEGIN or END")]
    [InlineData("""{"status":"END","id":"1","data_collections":[]}""", "event_count: missing")]
    [InlineData("""{"status":"BEGIN","id":7}""", "id: expected a string, found Number")]
    [InlineData("""{"status":"END","id":"1","event_count":1,"data_collections":[{"data_collection":"a"}]}""", "data_collections[0].event_count: missing")]
    [InlineData("""[1]""", "value: expected a JSON object")]
    public void A_record_that_is_no_boundary_is_refused_naming_the_field(string json, string expected)
    {
        var error = Assert.Throws<DecodeException>(() => TransactionRecordDecoder.Decode(Value(json)));
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_change_carries_its_transaction_block_on_both_decoding_paths()
    {
        // postgresql.adoc "Change data event enrichment"; JsonConverter writes the INT64 orders as numbers.
        var json = WithBlock("""{"id":"571:53195832","total_order":3,"data_collection_order":1}""");
        foreach (var decoder in new[] { new DebeziumJsonDecoder(NoOptions), new DebeziumJsonDecoder(NoOptions, singlePass: false) })
        {
            var change = decoder.Decode(Value(json, PlainKey("""{"id":1}""")));
            Assert.Equal(new TransactionBlock("571:53195832", 3, 1), change.Transaction);
            Assert.Equal("571", change.Transaction!.TransactionKey);
        }
    }

    [Fact]
    public void Quoted_orders_as_in_the_documentation_example_are_taken()
    {
        var change = Debezium(WithBlock("""{"id":"571:53195832","total_order":"1","data_collection_order":"1"}"""), PlainKey("""{"id":1}"""));
        Assert.Equal(new TransactionBlock("571:53195832", 1, 1), change.Transaction);
    }

    [Fact]
    public void A_wrapped_change_carries_its_transaction_block()
    {
        var json = $$"""{"schema":{{EnvelopeSchema(UserFields)}},"payload":{{WithBlock("""{"id":"900","total_order":2,"data_collection_order":2}""")}}}""";
        Assert.Equal(new TransactionBlock("900", 2, 2), Debezium(json, PlainKey("""{"id":1}""")).Transaction);
    }

    [Fact]
    public void A_change_without_metadata_has_no_block()
    {
        Assert.Null(Debezium(Bare("c", null, """{"id":1,"name":"ada","price":null,"born":null}"""), PlainKey("""{"id":1}""")).Transaction);
    }

    [Theory]
    [InlineData("""{"id":5,"total_order":1,"data_collection_order":1}""", "transaction.id: expected a string")]
    [InlineData("""{"id":"5","data_collection_order":1}""", "transaction.total_order: expected an integer, found nothing")]
    [InlineData("""[]""", "transaction: expected a JSON object")]
    public void A_malformed_block_is_refused_naming_the_field(string block, string expected)
    {
        var error = Assert.Throws<DecodeException>(() => Debezium(WithBlock(block), PlainKey("""{"id":1}""")));
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("571:53195832", "571")]
    [InlineData("900", "900")]
    // A MySQL GTID and a SQL Server commit LSN keep their colons: they are the same in every record.
    [InlineData("3E11FA47-71CA-11E1-9E33-C80AA9429562:23", "3E11FA47-71CA-11E1-9E33-C80AA9429562:23")]
    [InlineData("00000025:00000d98:00a2", "00000025:00000d98:00a2")]
    public void The_transaction_key_drops_only_postgres_lsn_suffix(string id, string key) =>
        Assert.Equal(key, TransactionBlock.KeyOf(id));
}
