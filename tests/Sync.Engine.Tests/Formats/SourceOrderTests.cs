using FsCheck;
using FsCheck.Xunit;
using static Sync.Engine.Tests.Formats.Messages;

namespace Sync.Engine.Tests.Formats;

/// <summary>Every relational connector's source coordinates become one 64-bit order that keeps the
/// connector's own order, and a coordinate that does not fit gives no order rather than a wrong one.</summary>
public class SourceOrderTests
{
    // ---- order preserved over random coordinates in range ----

    [Property(MaxTest = 2000)]
    public void MySql_order_is_the_order_of_file_index_then_pos_then_row(DoNotSize<int> seed)
    {
        var random = new Random(seed.Item);
        (long File, long Pos, long Row) Next() =>
            (random.NextInt64(1L << SourceOrder.MySqlFileBits), random.NextInt64(1L << SourceOrder.MySqlPosBits), random.NextInt64(1L << SourceOrder.MySqlRowBits));
        var a = Next();
        var b = random.Next(4) switch
        {
            0 => a with { Row = random.NextInt64(1L << SourceOrder.MySqlRowBits) },
            1 => a with { Pos = random.NextInt64(1L << SourceOrder.MySqlPosBits) },
            _ => Next(),
        };
        long Order((long File, long Pos, long Row) c) =>
            SourceOrder.MySql(string.Create(CultureInfo.InvariantCulture, $"mysql-bin.{c.File:D6}"), c.Pos, c.Row)!.Value;

        Assert.Equal(a.CompareTo(b), Math.Sign(Order(a).CompareTo(Order(b))));
        Assert.True(Order(a) >= 0);
    }

    [Property(MaxTest = 2000)]
    public void SqlServer_order_is_the_byte_order_of_the_lsn(DoNotSize<int> seed)
    {
        var random = new Random(seed.Item);
        (long Vlf, long Block, long Slot) Next() =>
            (random.NextInt64(1L << SourceOrder.SqlServerVlfBits), random.NextInt64(1L << SourceOrder.SqlServerBlockBits), random.NextInt64(1L << SourceOrder.SqlServerSlotBits));
        var a = Next();
        var b = random.Next(3) switch
        {
            0 => a with { Slot = random.NextInt64(1L << SourceOrder.SqlServerSlotBits) },
            1 => a with { Block = random.NextInt64(1L << SourceOrder.SqlServerBlockBits) },
            _ => Next(),
        };

        // Debezium's Lsn.compareTo compares the 10 bytes unsigned, in order: the text's order.
        static string Text((long Vlf, long Block, long Slot) c) =>
            string.Create(CultureInfo.InvariantCulture, $"{c.Vlf:x8}:{c.Block:x8}:{c.Slot:x4}");
        var native = Math.Sign(string.CompareOrdinal(Text(a), Text(b)));
        Assert.Equal(native, Math.Sign(SourceOrder.SqlServer(Text(a))!.Value.CompareTo(SourceOrder.SqlServer(Text(b))!.Value)));
    }

    [Property(MaxTest = 2000)]
    public void Db2_order_is_the_byte_order_of_the_lsn_below_2_to_the_63(DoNotSize<int> seed)
    {
        var random = new Random(seed.Item);
        string Next()
        {
            var bytes = new byte[10];
            random.NextBytes(bytes);
            bytes[0] = bytes[1] = 0;
            bytes[2] &= 0x7F;
            var hex = Convert.ToHexStringLower(bytes);
            return $"{hex[..8]}:{hex[8..16]}:{hex[16..]}";
        }

        var a = Next();
        var b = random.Next(3) == 0 ? a[..^2] + "00" : Next();
        Assert.Equal(Math.Sign(string.CompareOrdinal(a, b)), Math.Sign(SourceOrder.Db2(a)!.Value.CompareTo(SourceOrder.Db2(b)!.Value)));
    }

    // ---- limits: no order, never a wrong one ----

    [Theory]
    [InlineData("mysql-bin.262144", 4L, 0L)]
    [InlineData("mysql-bin.000003", 4294967296L, 0L)]
    [InlineData("mysql-bin.000003", 4L, 8192L)]
    [InlineData("mysql-bin", 4L, 0L)]
    [InlineData("mysql-bin.00000x", 4L, 0L)]
    public void MySql_coordinates_past_the_layout_give_no_order_and_are_counted(string file, long pos, long row)
    {
        var before = SourceOrder.Unorderable;
        Assert.Null(SourceOrder.MySql(file, pos, row));
        Assert.True(SourceOrder.Unorderable > before);
    }

    [Theory]
    [InlineData("10000000:00000758:0005")]
    [InlineData("00000027:00800000:0005")]
    [InlineData("00000027:00000758:1000")]
    [InlineData("00000027:00000758")]
    [InlineData("NULL")]
    public void SqlServer_lsns_past_the_layout_give_no_order(string lsn) => Assert.Null(SourceOrder.SqlServer(lsn));

    [Fact]
    public void The_largest_coordinates_that_fit_give_the_largest_non_negative_orders()
    {
        Assert.Equal(long.MaxValue, SourceOrder.MySql("mysql-bin.262143", uint.MaxValue, 8191));
        Assert.Equal(long.MaxValue, SourceOrder.SqlServer("0fffffff:007fffff:0fff"));
        Assert.Equal(long.MaxValue, SourceOrder.Db2("00007fff:ffffffff:ffff"));
        Assert.Null(SourceOrder.Db2("00008000:00000000:0000"));
        Assert.Null(SourceOrder.Oracle("9223372036854775808"));
        Assert.Null(SourceOrder.PostgreSql(-1));
    }

    // ---- decoding: source blocks as the Debezium docs show them ----

    /// <summary>debezium/debezium documentation/modules/ROOT/partials/modules/all-connectors/shared-mariadb-mysql.adoc, the update event's source block.</summary>
    private const string MySqlSource =
        """{"version":"2.7.3.Final","name":"mysql-server-1","connector":"mysql","ts_ms":1465581029100,"snapshot":"false","db":"inventory","table":"customers","server_id":223344,"gtid":null,"file":"mysql-bin.000003","pos":484,"row":0,"thread":7,"query":null}""";

    /// <summary>debezium/debezium documentation/modules/ROOT/pages/connectors/sqlserver.adoc, the create event's source block.</summary>
    private const string SqlServerSource =
        """{"version":"2.7.3.Final","connector":"sqlserver","name":"server1","ts_ms":1559729468470,"snapshot":"false","db":"testDB","schema":"dbo","table":"customers","change_lsn":"00000027:00000758:0003","commit_lsn":"00000027:00000758:0005","event_serial_no":"1"}""";

    /// <summary>sqlserver.adoc, the schema-change (snapshot) event: no change_lsn, the snapshot's commit_lsn.</summary>
    private const string SqlServerSnapshotSource =
        """{"version":"2.7.3.Final","connector":"sqlserver","name":"server1","ts_ms":0,"snapshot":"true","db":"testDB","schema":"dbo","table":"customers","change_lsn":null,"commit_lsn":"00000025:00000d98:00a2","event_serial_no":null}""";

    /// <summary>debezium/debezium documentation/modules/ROOT/pages/connectors/oracle.adoc, the source block of its example.</summary>
    private const string OracleSource =
        """{"version":"2.7.3.Final","connector":"oracle","name":"server1","ts_ms":1588252618953,"snapshot":"false","db":"ORCLPDB1","schema":"DEBEZIUM","table":"CUSTOMERS","txId":null,"scn":"1513734","commit_scn":"1513754","lcr_position":null,"rs_id":"001234.00012345.0124","ssn":1,"redo_thread":1,"user_name":"user","row_id":"AAASgjAAMAAAACnAAA"}""";

    /// <summary>debezium/debezium documentation/modules/ROOT/pages/connectors/db2.adoc, the create event's source block.</summary>
    private const string Db2Source =
        """{"version":"2.7.3.Final","connector":"db2","name":"myconnector","ts_ms":1559729468470,"snapshot":"false","db":"mydatabase","schema":"MYSCHEMA","table":"CUSTOMERS","change_lsn":"00000027:00000758:0003","commit_lsn":"00000027:00000758:0005"}""";

    public static TheoryData<string, string, long> SourceBlocks() => new()
    {
        { "postgresql", Source, 24023128L },
        { "mysql", MySqlSource, (3L << 45) | (484L << 13) },
        { "mariadb", MySqlSource.Replace("\"mysql\"", "\"mariadb\"", StringComparison.Ordinal), (3L << 45) | (484L << 13) },
        { "sqlserver", SqlServerSource, (0x27L << 35) | (0x758L << 12) | 5 },
        { "sqlserver snapshot", SqlServerSnapshotSource, (0x25L << 35) | (0xd98L << 12) | 0xa2 },
        { "oracle", OracleSource, 1513754L },
        { "oracle snapshot", OracleSource.Replace("\"commit_scn\":\"1513754\"", "\"commit_scn\":null", StringComparison.Ordinal), 1513734L },
        { "db2", Db2Source, 0x0000002700000758_0005L },
    };

    [Theory]
    [MemberData(nameof(SourceBlocks))]
    public void Every_relational_connector_gives_a_version_from_its_source_block(string connector, string source, long expected)
    {
        _ = connector;
        var json = Bare("u", """{"id":1}""", """{"id":1}""", source);
        var singlePass = new DebeziumJsonDecoder(NoOptions).Decode(Value(json, PlainKey("""{"id":1}""")));
        var document = new DebeziumJsonDecoder(NoOptions, singlePass: false).Decode(Value(json, PlainKey("""{"id":1}""")));
        Assert.Equal(expected, singlePass.Version.Lsn);
        Assert.Equal(expected, document.Version.Lsn);
    }

    [Fact]
    public void Two_rows_of_one_binlog_event_are_ordered_by_their_row_number()
    {
        long? Of(int row) => Debezium(Bare("c", null, """{"id":1}""", MySqlSource.Replace("\"row\":0", $"\"row\":{row}", StringComparison.Ordinal)), PlainKey("""{"id":1}""")).Version.Lsn;
        Assert.True(Of(1) > Of(0));
        Assert.Equal(Of(0) + 1, Of(1));
    }

    [Fact]
    public void A_source_block_without_coordinates_gives_no_version()
    {
        var change = Debezium(Bare("c", null, """{"id":1}""", """{"connector":"mongodb","name":"m","db":"inventory"}"""), PlainKey("""{"id":1}"""));
        Assert.Null(change.Version.Lsn);
    }
}
