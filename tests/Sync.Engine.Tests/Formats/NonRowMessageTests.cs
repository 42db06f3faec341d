using static Sync.Engine.Tests.Formats.Messages;

namespace Sync.Engine.Tests.Formats;

/// <summary>Debezium's messages that are not row changes are recognised from their shapes, with and
/// without JsonConverter's schema wrapper, and never mistaken for row changes. Shapes from
/// debezium/debezium: heartbeat (debezium-connector-common/.../heartbeat/HeartbeatImpl.java,
/// schema/SchemaFactory.java; 1.9.7 debezium-core/.../heartbeat/HeartbeatImpl.java), transaction
/// metadata (pipeline/txmetadata/AbstractTransactionStructMaker.java; 1.9.7 TransactionMonitor.java;
/// documentation/modules/ROOT/pages/connectors/postgresql.adoc "Transaction metadata"), logical
/// decoding messages (debezium-connector-postgres/.../LogicalDecodingMessageMonitor.java; postgresql.adoc
/// "message events"), schema changes (SchemaFactory.schemaHistoryConnectorValueSchema,
/// relational/history/HistoryRecord.java; partials/.../shared-mariadb-mysql.adoc "schema-change";
/// sqlserver.adoc "schema change topic").</summary>
public class NonRowMessageTests
{
    // HeartbeatImpl.messageValue: a struct io.debezium.connector.common.Heartbeat with one int64 ts_ms.
    private const string Heartbeat = """{"ts_ms":1700000000000}""";
    private const string HeartbeatWrapped =
        """{"schema":{"type":"struct","fields":[{"type":"int64","optional":false,"field":"ts_ms"}],"optional":false,"name":"io.debezium.connector.common.Heartbeat","version":1},"payload":{"ts_ms":1700000000000}}""";

    // A 1.9 BEGIN (no ts_ms yet; optional fields written as null) and a 2.x END (PostgreSQL ids are txId:LSN).
    private const string Begin = """{"status":"BEGIN","id":"571:53195829","event_count":null,"data_collections":null}""";
    private const string End =
        """{"status":"END","id":"571:53195832","ts_ms":1486500577691,"event_count":2,"data_collections":[{"data_collection":"s1.a","event_count":1},{"data_collection":"s2.a","event_count":1}]}""";

    private const string TransactionSchema =
        """{"type":"struct","fields":[{"type":"string","optional":false,"field":"status"},{"type":"string","optional":false,"field":"id"},{"type":"int64","optional":true,"field":"event_count"},{"type":"array","items":{"type":"struct","fields":[{"type":"string","optional":false,"field":"data_collection"},{"type":"int64","optional":false,"field":"event_count"}],"optional":false,"name":"event.collection","version":1},"optional":true,"field":"data_collections"},{"type":"int64","optional":false,"field":"ts_ms"}],"optional":false,"name":"io.debezium.connector.common.TransactionMetadataValue","version":1}""";

    // The PostgreSQL connector's message events: a transactional one has the txId, a non-transactional one none.
    private const string MessageSource =
        """{"version":"2.7.3.Final","connector":"postgresql","name":"db1","ts_ms":1559033904863,"snapshot":"false","db":"postgres","sequence":null,"schema":"","table":"","txId":556,"lsn":46523128,"xmin":null}""";

    private const string NonTransactionalSource =
        """{"version":"2.7.3.Final","connector":"postgresql","name":"db1","ts_ms":1559033904863,"snapshot":"false","db":"postgres","sequence":null,"schema":"","table":"","txId":null,"lsn":46523200,"xmin":null}""";

    private static readonly string Transactional = $$$"""{"op":"m","ts_ms":1559033904961,"source":{{{MessageSource}}},"message":{"prefix":"foo","content":"Ymfy"}}""";

    private static readonly string NonTransactional = $$$"""{"op":"m","ts_ms":1559033904961,"source":{{{NonTransactionalSource}}},"message":{"prefix":"audit","content":"aGVsbG8="}}""";

    private static readonly string MessageWrapped =
        $$"""{"schema":{"type":"struct","fields":[{"type":"string","optional":false,"field":"op"},{"type":"int64","optional":true,"field":"ts_ms"},{{SourceSchema}},{"type":"struct","fields":[{"type":"string","optional":true,"field":"prefix"},{"type":"bytes","optional":true,"field":"content"}],"optional":false,"name":"io.debezium.connector.postgresql.Message","field":"message"}],"optional":false,"name":"io.debezium.connector.postgresql.MessageValue"},"payload":{{Transactional}}}""";

    // MySQL's schema change topic (shared-mariadb-mysql.adoc), shortened to one column.
    private const string MySqlSchemaChange =
        """{"source":{"version":"2.7.3.Final","connector":"mysql","name":"mysql","ts_ms":1651535750218,"snapshot":"false","db":"inventory","sequence":null,"table":"customers","server_id":223344,"gtid":null,"file":"mysql-bin.000003","pos":570,"row":0,"thread":null,"query":null},"ts_ms":1651535750218,"databaseName":"inventory","schemaName":null,"ddl":"ALTER TABLE customers ADD middle_name varchar(255) AFTER first_name","tableChanges":[{"type":"ALTER","id":"\"inventory\".\"customers\"","table":{"defaultCharsetName":"utf8mb4","primaryKeyColumnNames":["id"],"columns":[{"name":"id","jdbcType":4,"nativeType":null,"typeName":"INT","typeExpression":"INT","charsetName":null,"length":null,"scale":null,"position":1,"optional":false,"autoIncremented":true,"generated":true}]}}]}""";

    // SQL Server's schema change topic: ddl is null (sqlserver.adoc).
    private const string SqlServerSchemaChange =
        """{"source":{"version":"2.7.3.Final","connector":"sqlserver","name":"server1","ts_ms":0,"snapshot":"true","db":"testDB","schema":"dbo","table":"customers","change_lsn":null,"commit_lsn":"00000025:00000d98:00a2","event_serial_no":null},"ts_ms":1588252618953,"databaseName":"testDB","schemaName":"dbo","ddl":null,"tableChanges":[{"type":"CREATE","id":"\"testDB\".\"dbo\".\"customers\"","table":{"defaultCharsetName":null,"primaryKeyColumnNames":["id"],"columns":[]}}]}""";

    // A record of the connector's internal schema history topic (HistoryRecord: source, position, databaseName, ddl, tableChanges).
    private const string HistoryRecord =
        """{"source":{"server":"mysql"},"position":{"ts_sec":1651535750,"file":"mysql-bin.000003","pos":570,"server_id":223344},"ts_ms":1651535750218,"databaseName":"inventory","ddl":"CREATE DATABASE `inventory`","tableChanges":[]}""";

    public static TheoryData<string, NonRowKind> Shapes() => new()
    {
        { Heartbeat, NonRowKind.Heartbeat },
        { HeartbeatWrapped, NonRowKind.Heartbeat },
        { Begin, NonRowKind.Transaction },
        { End, NonRowKind.Transaction },
        { $$"""{"schema":{{TransactionSchema}},"payload":{{End}}}""", NonRowKind.Transaction },
        { Transactional, NonRowKind.Message },
        { NonTransactional, NonRowKind.Message },
        { MessageWrapped, NonRowKind.Message },
        { MySqlSchemaChange, NonRowKind.SchemaChange },
        { SqlServerSchemaChange, NonRowKind.SchemaChange },
        { HistoryRecord, NonRowKind.SchemaChange },
    };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void A_message_that_is_not_a_row_change_is_recognised_by_its_shape(string value, NonRowKind kind)
    {
        var e = Assert.Throws<NonRowMessageException>(() => Debezium(value, PlainKey("""{"serverName":"db1"}""")));

        Assert.Equal(kind, e.Skipped.Kind);
        Assert.Contains(NonRowMessage.NameOf(kind), e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_message_without_a_key_is_recognised_too()
    {
        // Transaction and heartbeat records have keys; a changelog line may not carry one.
        var e = Assert.Throws<NonRowMessageException>(() => Debezium(Begin));

        Assert.Equal(NonRowKind.Transaction, e.Skipped.Kind);
    }

    [Fact]
    public void A_wrapped_heartbeat_is_recognised_again_when_its_schema_comes_from_the_cache()
    {
        var decoder = new DebeziumJsonDecoder(NoOptions);

        var first = Assert.Throws<NonRowMessageException>(() => decoder.Decode(Value(HeartbeatWrapped)));
        var second = Assert.Throws<NonRowMessageException>(() => decoder.Decode(Value(HeartbeatWrapped)));

        Assert.Equal((NonRowKind.Heartbeat, NonRowKind.Heartbeat), (first.Skipped.Kind, second.Skipped.Kind));
        Assert.Equal(1, decoder.SchemasCompiled);
    }

    [Fact]
    public void A_logical_decoding_message_carries_its_prefix_content_and_source()
    {
        var e = Assert.Throws<NonRowMessageException>(() => Debezium(MessageWrapped, PlainKey("""{"prefix":"foo"}""")));

        var message = e.Skipped.Message!;
        Assert.Equal(("foo", "Ymfy", 46523128L, "556", 1559033904961L), (message.Prefix, message.Content, message.Source!.Lsn!.Value, message.Source.TxId, message.TsMs!.Value));
        Assert.True(message.Transactional);
        Assert.False(Assert.Throws<NonRowMessageException>(() => Debezium(NonTransactional)).Skipped.Message!.Transactional);
    }

    [Fact]
    public void A_kept_logical_decoding_message_is_an_upsert_keyed_by_its_lsn_with_the_content_as_bytes()
    {
        var message = Assert.Throws<NonRowMessageException>(() => Debezium(Transactional)).Skipped.Message!;

        var change = NonRowMessages.ToChange(message, Value(Transactional).ToOrigin(), "bytes");

        Assert.Equal(ChangeOp.Create, change.Op);
        Assert.Equal("""{"lsn":46523128}""", change.KeyText);
        Assert.Equal(["lsn", "prefix", "content", "transactional"], change.After!.Names);
        Assert.Equal("foo", change.After["prefix"].AsText);
        // The docs' example content "Ymfy" is base64 (JsonConverter writes bytes as base64) of 0x62 0x67 0xF2.
        Assert.Equal([0x62, 0x67, 0xF2], change.After["content"].AsBytes);
        Assert.True(change.After["transactional"].AsBoolean);
        Assert.Equal(46523128L, change.Version.Lsn);
    }

    [Theory]
    [InlineData("hex", "626172")]
    [InlineData("base64", "YmFy")]
    [InlineData("base64-url-safe", "YmFy")]
    public void The_content_of_a_kept_message_decodes_as_the_binary_handling_mode_wrote_it(string mode, string content)
    {
        var message = new LogicalDecodingMessage("p", content, new SourceInfo { Lsn = 9 }, null);

        var change = NonRowMessages.ToChange(message, Value(Transactional).ToOrigin(), mode);

        Assert.Equal("bar"u8.ToArray(), change.After!["content"].AsBytes);
        Assert.False(change.After["transactional"].AsBoolean);
    }

    [Fact]
    public void A_kept_message_without_an_lsn_or_with_content_that_does_not_decode_is_a_decode_error()
    {
        var origin = Value(Transactional).ToOrigin();

        var noLsn = Assert.Throws<DecodeException>(() => NonRowMessages.ToChange(new LogicalDecodingMessage("p", "YmFy", new SourceInfo(), null), origin, "bytes"));
        var notHex = Assert.Throws<DecodeException>(() => NonRowMessages.ToChange(new LogicalDecodingMessage("p", "zz", new SourceInfo { Lsn = 1 }, null), origin, "hex"));

        Assert.Contains("source.lsn", noLsn.Message, StringComparison.Ordinal);
        Assert.Contains("not hex", notHex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""{"ts_ms":1700000000000,"id":1}""")]
    [InlineData("""{"status":"COMMIT","id":"571:1"}""")]
    [InlineData("""{"op":"x","after":{"id":1}}""")]
    [InlineData("""{"op":"m","after":{"id":1}}""")]
    public void Anything_else_without_a_row_operation_stays_a_decode_error(string value)
    {
        var e = Assert.ThrowsAny<DecodeException>(() => Debezium(value, PlainKey("""{"id":1}""")));

        Assert.IsNotType<NonRowMessageException>(e);
        Assert.Contains("op", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_row_change_whose_columns_look_like_a_transaction_record_is_still_a_row_change()
    {
        var e = Debezium(Bare("c", null, """{"id":1,"status":"BEGIN","databaseName":"x","ddl":"y"}"""), PlainKey("""{"id":1}"""));

        Assert.Equal(ChangeOp.Create, e.Op);
        Assert.Equal("BEGIN", e.After!["status"].AsText);
    }
}
