namespace Sync.Engine.Tests.Formats;

/// <summary>Removing the before image from a key's latest message, for an erasure whose subject is
/// named only by what the row was before it changed owner.
/// Debezium's envelope makes <c>before</c> an optional field that is null where there is no previous
/// state (a create) and, under PostgreSQL's default replica identity, for updates too: Debezium
/// documentation, PostgreSQL connector, "Change event values" (also the Red Hat build's Debezium User
/// Guide, "Debezium PostgreSQL change event values", replica identity and create events). So a null
/// <c>before</c> is a valid envelope, with or without the schema that declares it optional.</summary>
public class BeforeImageScrubberTests
{
    private const string RowFields = """{"type":"int32","optional":false,"field":"id"},{"type":"int32","optional":true,"field":"user_id"},{"type":"string","optional":true,"field":"note"}""";
    private const string Before = """{"id":7,"user_id":15,"note":"from 15"}""";
    private const string After = """{"id":7,"user_id":243,"note":"räksmörgås \u00e9 1.50"}""";

    [Fact]
    public void A_bare_envelope_loses_its_before_image_and_keeps_every_other_byte()
    {
        var value = Messages.Bare("u", Before, After);

        var scrubbed = Text(BeforeImageScrubber.Scrub(MessageFormats.DebeziumJson, Messages.Value(value)));

        Assert.Equal(value.Replace(Before, "null", StringComparison.Ordinal), scrubbed);
    }

    [Fact]
    public void A_wrapped_envelope_loses_the_before_image_inside_its_payload_and_keeps_its_schema()
    {
        var value = Messages.Wrapped(RowFields, "u", Before, After);

        var scrubbed = Text(BeforeImageScrubber.Scrub(MessageFormats.DebeziumJson, Messages.Value(value)));

        Assert.Equal(value.Replace(Before, "null", StringComparison.Ordinal), scrubbed);
        Assert.Contains("\"field\":\"before\"", scrubbed, StringComparison.Ordinal); // the schema is untouched
    }

    [Fact]
    public void A_scrubbed_message_decodes_as_the_same_change_at_the_same_version()
    {
        var original = Messages.Value(Messages.Wrapped(RowFields, "u", Before, After), Messages.PlainKey("""{"id":7}"""));
        var copy = new SourceMessage
        {
            Topic = original.Topic,
            Position = original.Position,
            Key = original.Key,
            Value = BeforeImageScrubber.Scrub(MessageFormats.DebeziumJson, original),
        };
        var decoder = new DebeziumJsonDecoder(Messages.NoOptions);

        var before = decoder.Decode(original);
        var after = decoder.Decode(copy);

        // The same LSN: a sink finds the version "same" and rewrites identical values.
        Assert.Equal(VersionOrder.Same, after.Version.CompareTo(before.Version));
        Assert.Equal(before.Op, after.Op);
        Assert.Equal(before.After!.Values, after.After!.Values);
        Assert.Null(after.Before);
        Assert.NotNull(before.Before);
    }

    [Fact]
    public void A_message_without_a_before_image_is_left_as_it_is()
    {
        var value = Messages.Value(Messages.Bare("c", null, After));

        Assert.Equal(value.Value.ToArray(), BeforeImageScrubber.Scrub(MessageFormats.DebeziumJson, value).ToArray());
    }

    [Fact]
    public void A_plain_json_row_has_no_before_image_to_remove()
    {
        var value = Messages.Value(After);

        Assert.Equal(value.Value.ToArray(), BeforeImageScrubber.Scrub(MessageFormats.Json, value).ToArray());
    }

    [Theory]
    [InlineData("{\"before\":{\"user_id\":15},\"after\":", "the value is not valid JSON")]
    [InlineData("[1,2]", "value is an array, not a JSON object")]
    [InlineData("{\"schema\":{},\"payload\":[15]}", "payload is an array, not a Debezium envelope")]
    [InlineData("{\"before\":null} trailing", "the value is not valid JSON")]
    public void Malformed_input_is_refused_naming_the_topic_and_position_but_no_value(string value, string problem)
    {
        var error = Assert.Throws<DecodeException>(() => BeforeImageScrubber.Scrub(MessageFormats.DebeziumJson, Messages.Value(value)));

        Assert.StartsWith($"{Messages.Topic} @ 7:3:-1: cannot remove the before image: {problem}", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("15", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("trailing", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_unknown_format_is_named()
    {
        var error = Assert.Throws<ArgumentException>(() => BeforeImageScrubber.Scrub("avro", Messages.Value("{}")));

        Assert.StartsWith("unknown message format 'avro'", error.Message, StringComparison.Ordinal);
    }

    private static string Text(ReadOnlyMemory<byte> bytes) => Encoding.UTF8.GetString(bytes.Span);
}
