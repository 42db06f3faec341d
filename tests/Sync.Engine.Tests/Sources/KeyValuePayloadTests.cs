namespace Sync.Engine.Tests.Sources;

/// <summary>
/// The INLINE KeyValue payload, checked against the rule of apache/pulsar
/// pulsar-client-api/src/main/java/org/apache/pulsar/common/schema/KeyValue.java (encode: a
/// ByteBuffer of putInt(key length, -1 for null) put(key) putInt(value length, -1 for null)
/// put(value), Java ByteBuffer being big-endian), and its changelog-file form.
/// </summary>
public class KeyValuePayloadTests
{
    private const string Topic = "persistent://public/default/db1.public.customers";

    [Fact]
    public void Inline_payload_is_big_endian_key_length_key_value_length_value()
    {
        var key = "{\"id\":42}"u8.ToArray();
        var value = "{\"op\":\"c\"}"u8.ToArray();

        var payload = KeyValuePayload.EncodeInline(key, false, value, false);

        // Written out by hand from the rule: 00 00 00 09, the 9 key bytes, 00 00 00 0A, the 10 value bytes.
        byte[] expected =
        [
            0x00, 0x00, 0x00, 0x09, 0x7B, 0x22, 0x69, 0x64, 0x22, 0x3A, 0x34, 0x32, 0x7D,
            0x00, 0x00, 0x00, 0x0A, 0x7B, 0x22, 0x6F, 0x70, 0x22, 0x3A, 0x22, 0x63, 0x22, 0x7D,
        ];
        Assert.Equal(expected, payload);
        Assert.True(KeyValuePayload.TryDecodeInline(payload, out var k, out var v, out var error), error);
        Assert.Equal(key, k!.Value.ToArray());
        Assert.Equal(value, v!.Value.ToArray());
    }

    [Fact]
    public void A_null_key_or_value_has_length_minus_one_and_no_bytes()
    {
        var payload = KeyValuePayload.EncodeInline([], true, [], true);

        Assert.Equal(new byte[] { 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF }, payload);
        Assert.True(KeyValuePayload.TryDecodeInline(payload, out var k, out var v, out _));
        Assert.Null(k);
        Assert.Null(v);
        // An empty key is not a null key.
        Assert.True(KeyValuePayload.TryDecodeInline(new byte[] { 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF }, out var empty, out _, out _));
        Assert.Equal(0, empty!.Value.Length);
    }

    [Theory]
    [InlineData(new byte[] { 0x00, 0x00, 0x00, 0x20, 0x41 }, "key length of 32 at byte 0, beyond the 1 bytes after it")]
    [InlineData(new byte[] { 0x00, 0x00 }, "ends before its key length")]
    [InlineData(new byte[] { 0x00, 0x00, 0x00, 0x01, 0x41, 0x00, 0x00, 0x00, 0x05, 0x42 }, "value length of 5 at byte 5")]
    [InlineData(new byte[] { 0x00, 0x00, 0x00, 0x01, 0x41, 0x00, 0x00, 0x00, 0x00, 0x42 }, "1 bytes after its value")]
    [InlineData(new byte[] { 0xFF, 0xFF, 0xFF, 0xFE, 0x00, 0x00, 0x00, 0x00 }, "key length of -2")]
    public void A_malformed_inline_payload_is_refused_with_the_reason(byte[] payload, string reason)
    {
        Assert.False(KeyValuePayload.TryDecodeInline(payload, out _, out _, out var error));
        Assert.Contains(reason, error, StringComparison.Ordinal);
    }

    [Fact]
    public void An_inline_message_takes_key_and_value_from_the_payload_when_the_message_key_agrees()
    {
        var keyBytes = "{\"id\":42}"u8.ToArray();
        var payload = KeyValuePayload.EncodeInline(keyBytes, false, "{\"op\":\"c\"}"u8, false);
        // PulsarSink sends the base64 text of the key bytes as a plain key (TypedMessageBuilderImpl.key).
        var wire = Message(new MessageKey(Convert.ToBase64String(keyBytes), false), payload);

        var unwrapped = KeyValuePayload.UnwrapInline(wire, out var error);

        Assert.Null(error);
        Assert.Equal(MessageKey.FromBytesAsBase64(keyBytes), unwrapped!.Key);
        Assert.Equal("{\"op\":\"c\"}", Encoding.UTF8.GetString(unwrapped.Value.Span));
        Assert.Equal(KeyValueEncoding.Inline, unwrapped.KeyValueEncoding);
        Assert.Equal(payload, unwrapped.Inline!.Payload.ToArray());
    }

    [Fact]
    public void An_inline_message_whose_message_key_disagrees_with_its_payload_is_refused()
    {
        var payload = KeyValuePayload.EncodeInline("{\"id\":42}"u8, false, "{}"u8, false);
        var wire = Message(new MessageKey(Convert.ToBase64String("{\"id\":43}"u8), false), payload);

        Assert.Null(KeyValuePayload.UnwrapInline(wire, out var error));
        Assert.Contains("does not match the key in the INLINE KeyValue payload (base64 eyJpZCI6NDJ9)", error, StringComparison.Ordinal);
    }

    [Fact]
    public void A_changelog_line_with_an_inline_payload_reads_as_its_key_and_value_and_writes_back_unchanged()
    {
        var payload = KeyValuePayload.EncodeInline("{\"id\":1}"u8, false, "{\"schema\":{},\"payload\":{\"op\":\"c\"}}"u8, false);
        var line = $$"""{"topic":"{{Topic}}","key":"eyJpZCI6MX0=","keyValue":"inline","payload":"{{Convert.ToBase64String(payload)}}","publishTime":"2024-01-05T10:00:00.000Z"}""";

        var message = ChangelogLineParser.Parse(Encoding.UTF8.GetBytes(line), StreamPosition.ForLine(1), out _);

        Assert.Equal(new MessageKey("eyJpZCI6MX0=", true), message.Key);
        Assert.Equal("{\"schema\":{},\"payload\":{\"op\":\"c\"}}", Encoding.UTF8.GetString(message.Value.Span));
        Assert.Equal(line, Encoding.UTF8.GetString(ChangelogLineWriter.ToLine(message)));
    }

    [Fact]
    public void A_changelog_line_marked_inline_with_a_value_builds_the_payload_pulsar_io_would_send()
    {
        var line = $$"""{"topic":"{{Topic}}","key":"eyJpZCI6MX0=","keyBase64":true,"value":{"op":"c"},"keyValue":"inline"}""";

        var message = ChangelogLineParser.Parse(Encoding.UTF8.GetBytes(line), StreamPosition.ForLine(1), out _);

        Assert.Equal(KeyValuePayload.EncodeInline("{\"id\":1}"u8, false, "{\"op\":\"c\"}"u8, false), message.Inline!.Payload.ToArray());
        Assert.Equal(new MessageKey("eyJpZCI6MX0=", false), message.Inline.MessageKey);
        Assert.Equal("{\"op\":\"c\"}", Encoding.UTF8.GetString(message.Value.Span));
    }

    [Fact]
    public void A_separated_line_keeps_its_marker_through_a_write()
    {
        var line = $$"""{"topic":"{{Topic}}","key":"eyJpZCI6MX0=","keyBase64":true,"value":{"op":"c"},"keyValue":"separated"}""";

        var message = ChangelogLineParser.Parse(Encoding.UTF8.GetBytes(line), StreamPosition.ForLine(1), out _);

        Assert.Equal(KeyValueEncoding.Separated, message.KeyValueEncoding);
        Assert.Equal(line, Encoding.UTF8.GetString(ChangelogLineWriter.ToLine(message)));
    }

    [Theory]
    [InlineData("\"keyValue\":\"inline\",\"payload\":\"AAAAIEE=\"", "key length of 32")]
    [InlineData("\"keyValue\":\"inline\",\"payload\":\"%%%\"", "\"payload\" is not valid base64")]
    [InlineData("\"payload\":\"AAAAAAAAAAA=\"", "\"payload\" belongs to \"keyValue\": \"inline\" lines")]
    [InlineData("\"keyValue\":\"inline\"", "needs \"payload\" (base64) or \"value\"")]
    [InlineData("\"keyValue\":\"both\",\"value\":{}", "\"keyValue\" (both) must be inline, separated or none")]
    public void A_bad_inline_line_is_refused_with_the_reason(string fields, string reason)
    {
        var line = $$"""{"topic":"{{Topic}}",{{fields}}}""";

        var e = Assert.Throws<FormatException>(() => ChangelogLineParser.Parse(Encoding.UTF8.GetBytes(line), StreamPosition.ForLine(3), out _));

        Assert.Contains(reason, e.Message, StringComparison.Ordinal);
    }

    private static SourceMessage Message(MessageKey key, byte[] payload) => new()
    {
        Topic = Topic,
        Position = new StreamPosition(7, 3, -1),
        Key = key,
        Value = payload,
    };
}
