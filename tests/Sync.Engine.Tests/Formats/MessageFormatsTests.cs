namespace Sync.Engine.Tests.Formats;

public class MessageFormatsTests
{
    [Fact]
    public void The_known_formats_are_debezium_json_json_and_debezium_flat()
    {
        Assert.Equal(["debezium-json", "json", "debezium-flat"], MessageFormats.Names);
    }

    [Fact]
    public void Each_name_creates_its_decoder()
    {
        Assert.IsType<DebeziumJsonDecoder>(MessageFormats.Create("debezium-json", new DecoderOptions()));
        Assert.IsType<JsonRowDecoder>(MessageFormats.Create("json", new DecoderOptions()));
        Assert.IsType<DebeziumFlatDecoder>(MessageFormats.Create("debezium-flat", new DecoderOptions()));
    }

    [Fact]
    public void An_unknown_format_names_itself_and_the_known_ones()
    {
        var error = Assert.Throws<ArgumentException>(() => MessageFormats.Create("avro", new DecoderOptions()));

        Assert.StartsWith("unknown message format 'avro'; known formats: debezium-json, json, debezium-flat", error.Message, StringComparison.Ordinal);
        Assert.Equal("name", error.ParamName);
    }
}
