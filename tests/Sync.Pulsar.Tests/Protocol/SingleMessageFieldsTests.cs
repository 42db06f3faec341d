using FsCheck;
using FsCheck.Xunit;
using Google.Protobuf;

namespace Sync.Pulsar.Tests.Protocol;

/// <summary>The hand-written reader of SingleMessageMetadata against golden bytes of a real client
/// and against the generated parser (the field numbers are apache/pulsar's
/// pulsar-common/src/main/proto/PulsarApi.proto, message SingleMessageMetadata).</summary>
public class SingleMessageFieldsTests
{
    // apache/pulsar-client-go, pulsar/consumer_partition_test.go, rawBatchMessage1: the one batched
    // message's SingleMessageMetadata, properties a=1 and b=2, payload_size 5, event_time 5, sequence_id 0.
    private const string GoSingleMetadata = "0A060A0161120131" + "0A060A0162120132" + "1805" + "2805" + "4000";

    private static byte[] Bytes(string hex) => Convert.FromHexString(hex);

    /// <summary>What the generated parser reads, in the reader's shape; null when it refuses the bytes.</summary>
    private static SingleMessageFields? Generated(byte[] bytes)
    {
        SingleMessageMetadata parsed;
        try
        {
            parsed = SingleMessageMetadata.Parser.ParseFrom(bytes);
        }
        catch (InvalidProtocolBufferException)
        {
            return null;
        }

        return new SingleMessageFields
        {
            PayloadSize = parsed.PayloadSize,
            PartitionKey = parsed.HasPartitionKey ? parsed.PartitionKey : null,
            PartitionKeyB64Encoded = parsed.PartitionKeyB64Encoded,
            Properties = [.. parsed.Properties.Select(p => KeyValuePair.Create(p.Key, p.Value))],
            CompactedOut = parsed.CompactedOut,
            EventTime = parsed.HasEventTime ? parsed.EventTime : null,
            SequenceId = parsed.HasSequenceId ? parsed.SequenceId : null,
            NullValue = parsed.NullValue,
        };
    }

    private static SingleMessageFields? Handwritten(byte[] bytes)
    {
        try
        {
            return SingleMessageFields.Read(bytes);
        }
        catch (PulsarProtocolException)
        {
            return null;
        }
    }

    private static bool Same(SingleMessageFields? a, SingleMessageFields? b) =>
        a is null || b is null
            ? a is null && b is null
            : a.Value with { Properties = [] } == b.Value with { Properties = [] } && a.Value.Properties.SequenceEqual(b.Value.Properties);

    private static void AssertAgree(byte[] bytes)
    {
        var generated = Generated(bytes);
        var handwritten = Handwritten(bytes);
        Assert.True(Same(generated, handwritten), $"{Convert.ToHexString(bytes)}: generated {Describe(generated)}, hand-written {Describe(handwritten)}");
    }

    private static string Describe(SingleMessageFields? fields) =>
        fields is { } f ? $"{f with { Properties = [] }} properties [{string.Join(", ", f.Properties)}]" : "refused";

    [Fact]
    public void Go_clients_batched_message_metadata_reads_to_its_fields()
    {
        var fields = SingleMessageFields.Read(Bytes(GoSingleMetadata));

        Assert.Equal(5, fields.PayloadSize);
        Assert.Equal([KeyValuePair.Create("a", "1"), KeyValuePair.Create("b", "2")], fields.Properties);
        Assert.Equal(5ul, fields.EventTime);
        Assert.Equal(0ul, fields.SequenceId);
        Assert.Null(fields.PartitionKey);
        Assert.False(fields.PartitionKeyB64Encoded);
        Assert.False(fields.CompactedOut);
        Assert.False(fields.NullValue);
        AssertAgree(Bytes(GoSingleMetadata));
    }

    [Theory]
    // ordering_key (7, bytes) and null_partition_key (10, bool): real fields the consumer does not read.
    [InlineData("3A026B31" + "5001")]
    // Fields of a later protocol version, one of each wire type: fixed64, fixed32, length-delimited,
    // varint, and a group holding a varint.
    [InlineData("A1010102030405060708" + "AD0101020304" + "B2010378797A" + "B8019601" + "BB010807BC01")]
    // A known number with another wire type is an unknown field, not the known one.
    [InlineData("1A0100" + "2A00")]
    public void Unknown_and_unread_fields_are_skipped_as_the_generated_parser_skips_them(string extra)
    {
        var bytes = Bytes(GoSingleMetadata + extra);

        var fields = SingleMessageFields.Read(bytes);

        Assert.Equal(SingleMessageFields.Read(Bytes(GoSingleMetadata)) with { Properties = fields.Properties }, fields);
        Assert.Equal([KeyValuePair.Create("a", "1"), KeyValuePair.Create("b", "2")], fields.Properties);
        AssertAgree(bytes);
    }

    [Theory]
    [InlineData("1805" + "28", "varint")] // ends inside a varint
    [InlineData("1805" + "2A05616263", "length")] // a length beyond the bytes
    [InlineData("1805" + "0F", "wire type")] // wire type 7 does not exist
    [InlineData("1805" + "BB01", "group")] // a group that never ends
    [InlineData("1805" + "2C", "end-group")] // an end-group tag without its start
    [InlineData("1805" + "FFFFFFFFFFFFFFFFFFFF01", "varint")] // a tag longer than ten bytes
    public void Malformed_metadata_is_a_protocol_error_naming_what_is_wrong(string hex, string named)
    {
        var bytes = Bytes(hex);

        var error = Assert.Throws<PulsarProtocolException>(() => SingleMessageFields.Read(bytes));

        Assert.Contains(named, error.Message, StringComparison.Ordinal);
        Assert.Null(Generated(bytes));
    }

    [Fact]
    public void Text_that_is_not_UTF_8_is_refused_as_the_generated_parser_refuses_it()
    {
        // partition_key = FF 61 FE (not UTF-8), payload_size 0.
        var bytes = Bytes("1203FF61FE" + "1800");

        var error = Assert.Throws<PulsarProtocolException>(() => SingleMessageFields.Read(bytes));

        Assert.Contains("UTF-8", error.Message, StringComparison.Ordinal);
        AssertAgree(bytes);
    }

    [Theory]
    [InlineData("0A060A0161120131" + "2805")] // payload_size missing
    [InlineData("0A030A0161" + "1805")] // a property without its value
    public void Missing_required_fields_read_as_their_defaults_as_the_generated_parser_reads_them(string hex)
    {
        // Google.Protobuf does not check proto2 required fields when parsing; neither does the reader,
        // so a consumer splits such a batch as it did before (and refuses it if the sizes do not add up).
        AssertAgree(Bytes(hex));
    }

    // Protobuf strings are UTF-8: a lone surrogate cannot survive, and no peer would send one.
    private static string Clean(string? value) => new((value ?? string.Empty).Where(c => !char.IsSurrogate(c)).ToArray());

    [Property]
    public bool Any_metadata_and_any_cut_of_it_read_as_the_generated_parser_reads_them(
        (string? Key, string? Value)[]? properties, string? partitionKey, bool b64, int payloadSize, bool compactedOut,
        (bool Set, ulong Value) eventTime, (bool Set, ulong Value) sequenceId, bool nullValue, byte[]? orderingKey, bool nullPartitionKey)
    {
        var metadata = new SingleMessageMetadata { PayloadSize = payloadSize, PartitionKeyB64Encoded = b64, CompactedOut = compactedOut, NullValue = nullValue };
        foreach (var (key, value) in properties ?? [])
        {
            metadata.Properties.Add(new KeyValue { Key = Clean(key), Value = Clean(value) });
        }

        if (partitionKey is not null)
        {
            metadata.PartitionKey = Clean(partitionKey);
        }

        if (eventTime.Set)
        {
            metadata.EventTime = eventTime.Value;
        }

        if (sequenceId.Set)
        {
            metadata.SequenceId = sequenceId.Value;
        }

        if (orderingKey is not null)
        {
            metadata.OrderingKey = ByteString.CopyFrom(orderingKey);
        }

        if (nullPartitionKey)
        {
            metadata.NullPartitionKey = true;
        }

        var bytes = metadata.ToByteArray();
        for (var length = 0; length <= bytes.Length; length++)
        {
            if (!Same(Generated(bytes[..length]), Handwritten(bytes[..length])))
            {
                return false;
            }
        }

        return Same(Generated(bytes), SingleMessageFields.Read(bytes));
    }
}
