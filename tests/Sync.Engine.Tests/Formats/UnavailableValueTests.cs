using static Sync.Engine.Tests.Formats.Messages;

namespace Sync.Engine.Tests.Formats;

/// <summary>The PostgreSQL connector's placeholder for an unchanged TOASTed column decodes as
/// <see cref="FieldValue.Unavailable"/>. The forms per column type follow debezium/debezium,
/// debezium-connector-postgres: UnchangedToastedReplicationMessageColumn.setUnchangedToastValue,
/// UnchangedToastedPlaceholder, PostgresValueConverter (convertString, convertBinaryToBytes,
/// handleUnknownData); the placeholder is <c>unavailable.value.placeholder</c> (PostgresConnectorConfig,
/// default <c>__debezium_unavailable_value</c>, a <c>hex:</c> prefix for octets).</summary>
public class UnavailableValueTests
{
    private const string P = "__debezium_unavailable_value";
    private static readonly string PBase64 = Convert.ToBase64String(Encoding.UTF8.GetBytes(P));
    private static readonly MessageKey Key7 = Base64Key("""{"id":7}""");

    /// <summary>A table with TOASTable columns, as the connector's schema names them: text, jsonb
    /// (io.debezium.data.Json), xml (io.debezium.data.Xml), bytea (bytes), text[] (array of string),
    /// integer[] (array of int32), hstore (map, hstore.handling.mode=map) and a short varchar.</summary>
    private const string ToastFields =
        """{"type":"int32","optional":false,"field":"id"},{"type":"string","optional":true,"field":"bio"},{"type":"string","optional":true,"name":"io.debezium.data.Json","version":1,"field":"doc"},{"type":"string","optional":true,"name":"io.debezium.data.Xml","version":1,"field":"page"},{"type":"bytes","optional":true,"field":"photo"},{"type":"array","items":{"type":"string","optional":true},"optional":true,"field":"tags"},{"type":"array","items":{"type":"int32","optional":true},"optional":true,"field":"nums"},{"type":"map","keys":{"type":"string","optional":false},"values":{"type":"string","optional":true},"optional":true,"field":"attrs"},{"type":"string","optional":true,"field":"name"}""";

    private static string NumsPlaceholder => "[" + string.Join(",", Encoding.UTF8.GetBytes(P).Select(b => (int)b)) + "]";

    private static string ToastedAfter => $$"""{"id":7,"bio":"{{P}}","doc":"{{P}}","page":"{{P}}","photo":"{{PBase64}}","tags":["{{P}}"],"nums":{{NumsPlaceholder}},"attrs":{"{{P}}":"{{P}}"},"name":"Zoë"}""";

    private const string FullAfter =
        """{"id":7,"bio":"long text","doc":"{\"a\":1}","page":"<p/>","photo":"AQI=","tags":["x"],"nums":[1,2],"attrs":{"k":"v"},"name":"Zoë"}""";

    [Fact]
    public void With_a_schema_each_toastable_column_holding_the_placeholder_is_unavailable()
    {
        var e = Debezium(Wrapped(ToastFields, "u", null, ToastedAfter), Key7);

        var after = e.After!;
        foreach (var column in new[] { "bio", "doc", "page", "photo", "tags", "nums", "attrs" })
        {
            Assert.True(after[column].IsUnavailable, column);
        }

        Assert.Equal(7, after["id"].AsInt64);
        Assert.Equal("Zoë", after["name"].AsText);
    }

    [Fact]
    public void With_a_schema_real_values_of_the_same_columns_decode_as_before()
    {
        var e = Debezium(Wrapped(ToastFields, "u", null, FullAfter), Key7);

        Assert.DoesNotContain(e.After!.Values, v => v.IsUnavailable);
        Assert.Equal("long text", e.After!["bio"].AsText);
        Assert.Equal("""["x"]""", e.After!["tags"].AsText);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Without_a_schema_the_string_the_base64_bytes_and_the_list_forms_are_unavailable(bool singlePass)
    {
        var after = $$"""{"id":7,"bio":"{{P}}","photo":"{{PBase64}}","tags":["{{P}}"],"spaced":[ "{{P}}" ],"nums":{{NumsPlaceholder}},"name":"Zoë","other":["{{P}}","x"]}""";
        var decoder = new DebeziumJsonDecoder(NoOptions, singlePass);

        var e = decoder.Decode(Value(Bare("u", null, after), Key7));

        var unavailable = e.After!.Names.Where((_, i) => e.After.Values[i].IsUnavailable).ToArray();
        Assert.Equal(["bio", "photo", "tags", "spaced", "nums"], unavailable);
        Assert.Equal($$"""["{{P}}","x"]""", e.After["other"].AsText);
    }

    [Fact]
    public void The_before_image_holding_the_placeholder_never_carries_it_as_a_value()
    {
        var before = $$"""{"id":7,"bio":"{{P}}","name":"Zoe"}""";
        var after = $$"""{"id":7,"bio":"{{P}}","name":"Zoë"}""";

        var e = Debezium(Bare("u", before, after), Key7);

        Assert.True(e.Before!["bio"].IsUnavailable);
        Assert.True(e.After!["bio"].IsUnavailable);
    }

    [Fact]
    public void A_configured_placeholder_replaces_the_default()
    {
        var options = new DecoderOptions { UnavailableValuePlaceholder = "<toast>" };
        var after = $$"""{"id":7,"bio":"<toast>","photo":"{{Convert.ToBase64String("<toast>"u8.ToArray())}}","name":"{{P}}"}""";

        var e = Debezium(Bare("u", null, after), Key7, options);

        Assert.True(e.After!["bio"].IsUnavailable);
        Assert.True(e.After!["photo"].IsUnavailable);
        Assert.Equal(P, e.After!["name"].AsText);
    }

    [Fact]
    public void A_hex_placeholder_names_octets_as_the_connector_reads_them()
    {
        // "hex:" followed by octets, as PostgresConnectorConfig.getUnavailableValuePlaceholder reads it: 0x3c 0x74 0x3e is "<t>".
        var options = new DecoderOptions { UnavailableValuePlaceholder = "hex:3c743e" };

        var e = Debezium(Bare("u", null, """{"id":7,"bio":"<t>","name":"hex:3c743e"}"""), Key7, options);

        Assert.True(e.After!["bio"].IsUnavailable);
        Assert.False(e.After!["name"].IsUnavailable);
    }

    [Fact]
    public void A_key_column_holding_the_placeholder_is_a_decode_error_that_names_it()
    {
        var key = Base64Key($$"""{"id":"{{P}}"}""");

        var error = Assert.Throws<DecodeException>(() => Debezium(Bare("u", null, $$"""{"id":"{{P}}","name":"x"}"""), key));

        Assert.Contains("key.id", error.Message, StringComparison.Ordinal);
        Assert.Contains("never TOASTed", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_key_column_of_the_image_holding_the_placeholder_is_a_decode_error_too()
    {
        var options = new DecoderOptions { KeyColumns = ["id"] };

        var error = Assert.Throws<DecodeException>(() => Debezium(Bare("u", null, $$"""{"id":"{{P}}","name":"x"}"""), default, options));

        Assert.Contains("id", error.Message, StringComparison.Ordinal);
        Assert.Contains("unavailable-value placeholder", error.Message, StringComparison.Ordinal);
    }
}
