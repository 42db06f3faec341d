namespace Sync.Cli.Tests;

/// <summary>A table with floating-point columns, sent with its schema as Debezium Server writes it
/// (JsonConverter with schemas enabled for key and value), runs from a changelog file into SQLite.</summary>
public sealed class ConnectFloatColumnTests : WorkspaceTests
{
    private const string Topic = "persistent://public/default/dbserver1.inventory.products";

    // Column types: MySQL DOUBLE is FLOAT64 and FLOAT (no precision) is FLOAT32 (the MySQL data type
    // table in debezium/debezium documentation/.../all-connectors/shared-mariadb-mysql.adoc);
    // JsonConverter spells them "double" and "float" (apache/kafka connect/json JsonSchema.DOUBLE_TYPE_NAME,
    // FLOAT_TYPE_NAME) and adds "optional" to every field and "default" where one is set
    // (JsonConverter.asJsonSchema).
    private const string RowFields =
        """{"type":"int32","optional":false,"default":0,"field":"id"},"""
        + """{"type":"string","optional":false,"field":"name"},"""
        + """{"type":"double","optional":true,"field":"weight"},"""
        + """{"type":"float","optional":true,"default":0.0,"field":"rating"}""";

    // The MySQL connector's source block and its schema, after the change event example in the same
    // shared-mariadb-mysql.adoc (binlog file, pos and row instead of an LSN).
    private const string SourceSchema =
        """{"type":"struct","fields":[{"type":"string","optional":false,"field":"version"},{"type":"string","optional":false,"field":"connector"},{"type":"string","optional":false,"field":"name"},{"type":"int64","optional":false,"field":"ts_ms"},{"type":"string","optional":true,"name":"io.debezium.data.Enum","version":1,"parameters":{"allowed":"true,first,first_in_data_collection,last_in_data_collection,last,false,incremental"},"default":"false","field":"snapshot"},{"type":"string","optional":false,"field":"db"},{"type":"string","optional":true,"field":"sequence"},{"type":"string","optional":true,"field":"table"},{"type":"int64","optional":false,"field":"server_id"},{"type":"string","optional":true,"field":"gtid"},{"type":"string","optional":false,"field":"file"},{"type":"int64","optional":false,"field":"pos"},{"type":"int32","optional":false,"field":"row"},{"type":"int64","optional":true,"field":"thread"},{"type":"string","optional":true,"field":"query"}],"optional":false,"name":"io.debezium.connector.mysql.Source","field":"source"}""";

    private const string ValueSchema =
        """{"type":"struct","fields":[{"type":"struct","fields":[""" + RowFields + """],"optional":true,"name":"dbserver1.inventory.products.Value","field":"before"},"""
        + """{"type":"struct","fields":[""" + RowFields + """],"optional":true,"name":"dbserver1.inventory.products.Value","field":"after"},"""
        + SourceSchema + ","
        + """{"type":"string","optional":false,"field":"op"},{"type":"int64","optional":true,"field":"ts_ms"}],"optional":false,"name":"dbserver1.inventory.products.Envelope","version":1}""";

    private const string KeySchema =
        """{"type":"struct","fields":[{"type":"int32","optional":false,"default":0,"field":"id"}],"optional":false,"name":"dbserver1.inventory.products.Key"}""";

    private static string Line(int id, string op, string? before, string? after, int pos, string snapshot = "false") =>
        $$$$"""{"topic":"{{{{Topic}}}}","key":{"schema":{{{{KeySchema}}}},"payload":{"id":{{{{id}}}}}},"value":{"schema":{{{{ValueSchema}}}},"payload":{"before":{{{{before ?? "null"}}}},"after":{{{{after ?? "null"}}}},"source":{"version":"2.7.3.Final","connector":"mysql","name":"dbserver1","ts_ms":1748854805000,"snapshot":"{{{{snapshot}}}}","db":"inventory","sequence":null,"table":"products","server_id":223344,"gtid":null,"file":"mysql-bin.000003","pos":{{{{pos}}}},"row":0,"thread":7,"query":null},"op":"{{{{op}}}}","ts_ms":1748854805100}}}""";

    [Fact]
    public async Task Rows_with_float_and_double_columns_land_and_nothing_is_dead_lettered()
    {
        Workspace.Write("data/products.jsonl", string.Join('\n',
            Line(101, "r", null, """{"id":101,"name":"scooter","weight":3.14,"rating":4.5}""", 154, "true"),
            Line(102, "c", null, """{"id":102,"name":"car battery","weight":8.1,"rating":null}""", 484),
            Line(101, "u", """{"id":101,"name":"scooter","weight":3.14,"rating":4.5}""", """{"id":101,"name":"scooter","weight":5.25,"rating":3.75}""", 812),
            Line(103, "c", null, """{"id":103,"name":"hammer","weight":-0.0078125,"rating":1.0E-3}""", 1097)) + "\n");
        var config = Workspace.WriteFileToSqliteConfig("data/products.jsonl", "products.db", $"""
            materializers:
              products: {"{"} source: changelog, topics: ['{Topic}'], format: debezium-json, sink: local, table: products {"}"}
            """);

        var run = await Workspace.Sync("run", "--config", config);

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Equal(
            [
                "id=101|name=scooter|weight=5.25|rating=3.75",
                "id=102|name=car battery|weight=8.1|rating=null",
                "id=103|name=hammer|weight=-0.0078125|rating=0.001",
            ],
            SqliteTables.Rows(Workspace.File("products.db"), "products"));
        Assert.False(File.Exists(Workspace.File("products.deadletter.jsonl")), run.ToString());
        Assert.DoesNotContain("cannot be decoded", run.Error, StringComparison.Ordinal);
    }
}
