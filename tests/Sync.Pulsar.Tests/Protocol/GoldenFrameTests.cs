using Google.Protobuf;

namespace Sync.Pulsar.Tests.Protocol;

/// <summary>
/// Frames captured by other Pulsar clients, taken byte for byte from their public test suites.
/// Decoding them proves we read the real wire format; re-encoding the same fields and getting
/// the same bytes proves we write it.
/// </summary>
public class GoldenFrameTests
{
    // streamnative/pulsar-rs, src/message.rs, parse_simple_command: a CONNECT frame.
    private static readonly byte[] RustConnectFrame = Convert.FromHexString(
        "000000220000001E0802121A0A10322E302E312D696E63756261" +
        "74696E67200C2A046E6F6E65");

    // streamnative/pulsar-rs, src/message.rs, parse_payload_command: a SEND frame.
    private static readonly byte[] RustSendFrame = Convert.FromHexString(
        "0000003D0000000808063204080010080E01428354B5000000190A0E" +
        "7374616E64616C6F6E652D302D33" +
        "1008" + "18BEC0FC84D22C" +
        "68656C6C6F2D70756C7361722D38");

    // apache/pulsar-client-go, pulsar/consumer_partition_test.go, rawCompatSingleMessage:
    // the message part of a MESSAGE (from the magic on), properties a=1, b=2, payload "hello".
    private static readonly byte[] GoSingleMessage = Convert.FromHexString(
        "0E010836B466000000310A0F7374616E64616C6F6E652D37342D30" +
        "1000" + "18ACEFE8A0E22D" +
        "22060A0161120131" + "22060A0162120132" +
        "4805" + "6005" + "820100" +
        "68656C6C6F");

    // Same file, rawBatchMessage1: a batch of one message with properties a=1, b=2.
    private static readonly byte[] GoBatchOfOne = Convert.FromHexString(
        "0E011F800968" + "0000001F" + "0A0F7374616E64616C6F6E652D37342D31" +
        "1000" + "18DB80F4A0E22D" + "5801" + "820100" +
        "00000016" + "0A060A0161120131" + "0A060A0162120132" + "1805" + "2805" + "4000" + "68656C6C6F");

    [Fact]
    public void Rust_client_CONNECT_frame_decodes_to_its_fields()
    {
        var frame = FrameDecoder.Decode(RustConnectFrame);

        Assert.Equal(BaseCommand.Types.Type.Connect, frame.Command.Type);
        Assert.Equal("2.0.1-incubating", frame.Command.Connect.ClientVersion);
        Assert.Equal("none", frame.Command.Connect.AuthMethodName);
        Assert.Equal(12, frame.Command.Connect.ProtocolVersion);
        Assert.False(frame.HasPayload);
    }

    [Fact]
    public void Our_CONNECT_with_the_same_fields_is_byte_identical_to_the_Rust_client()
    {
        var command = new BaseCommand
        {
            Type = BaseCommand.Types.Type.Connect,
            Connect = new CommandConnect
            {
                ClientVersion = "2.0.1-incubating",
                ProtocolVersion = 12,
                AuthMethodName = "none",
            },
        };

        Assert.Equal(RustConnectFrame, FrameEncoder.EncodeCommand(command));
    }

    [Fact]
    public void Rust_client_SEND_frame_decodes_with_a_valid_checksum()
    {
        var frame = FrameDecoder.Decode(RustSendFrame);

        Assert.Equal(BaseCommand.Types.Type.Send, frame.Command.Type);
        Assert.Equal(0ul, frame.Command.Send.ProducerId);
        Assert.Equal(8ul, frame.Command.Send.SequenceId);
        Assert.True(frame.HasChecksum);
        Assert.True(frame.ChecksumMatches);
        Assert.Equal("standalone-0-3", frame.Metadata!.ProducerName);
        Assert.Equal(8ul, frame.Metadata.SequenceId);
        Assert.Equal(1533850624062ul, frame.Metadata.PublishTime);
        Assert.Equal("hello-pulsar-8", Encoding.ASCII.GetString(frame.Payload.Span));
        Assert.Equal(0x428354B5u, FrameDecoder.ReadAnnouncedChecksum(frame.MessageBytes.Span));
    }

    [Fact]
    public void Our_SEND_with_the_same_fields_is_byte_identical_to_the_Rust_client()
    {
        var command = new BaseCommand
        {
            Type = BaseCommand.Types.Type.Send,
            // producer_id 0 is written explicitly in the capture: proto2 presence, not a default.
            Send = new CommandSend { ProducerId = 0, SequenceId = 8 },
        };
        var metadata = new MessageMetadata
        {
            ProducerName = "standalone-0-3",
            SequenceId = 8,
            PublishTime = 1533850624062,
        };

        var bytes = FrameEncoder.EncodePayloadCommand(command, metadata, Encoding.ASCII.GetBytes("hello-pulsar-8"));

        Assert.Equal(RustSendFrame, bytes);
    }

    [Fact]
    public void Go_client_single_message_decodes_with_properties_and_a_valid_checksum()
    {
        var frame = FrameDecoder.DecodeMessagePart(MessageCommand(), GoSingleMessage);

        Assert.True(frame.HasChecksum);
        Assert.True(frame.ChecksumMatches);
        var metadata = frame.Metadata!;
        Assert.Equal("standalone-74-0", metadata.ProducerName);
        Assert.Equal(0ul, metadata.SequenceId);
        Assert.Equal([("a", "1"), ("b", "2")], metadata.Properties.Select(p => (p.Key, p.Value)));
        Assert.Equal(5u, metadata.UncompressedSize);
        Assert.Equal(5ul, metadata.EventTime);
        Assert.True(metadata.HasSchemaVersion);
        Assert.False(metadata.HasNumMessagesInBatch);
        Assert.Equal("hello", Encoding.ASCII.GetString(frame.Payload.Span));
        Assert.Equal(GoSingleMessage, frame.MessageBytes.ToArray());
    }

    [Fact]
    public void Our_message_part_with_the_Go_clients_fields_is_byte_identical()
    {
        var metadata = new MessageMetadata
        {
            ProducerName = "standalone-74-0",
            SequenceId = 0,
            PublishTime = GoPublishTime(GoSingleMessage),
            UncompressedSize = 5,
            EventTime = 5,
            SchemaVersion = ByteString.Empty,
        };
        metadata.Properties.Add(new KeyValue { Key = "a", Value = "1" });
        metadata.Properties.Add(new KeyValue { Key = "b", Value = "2" });

        Assert.Equal(GoSingleMessage, FrameEncoder.EncodeMessagePart(metadata, "hello"u8));
    }

    [Fact]
    public void Go_client_batch_of_one_decodes_to_its_single_message()
    {
        var frame = FrameDecoder.DecodeMessagePart(MessageCommand(), GoBatchOfOne);

        Assert.True(frame.ChecksumMatches);
        Assert.Equal(1, frame.Metadata!.NumMessagesInBatch);
        Assert.True(frame.Metadata.HasNumMessagesInBatch);
        var item = Assert.Single(BatchPayload.Decode(frame.Payload, frame.Metadata.NumMessagesInBatch));
        Assert.Equal(0, item.Index);
        Assert.Equal([("a", "1"), ("b", "2")], item.Metadata.Properties.Select(p => (p.Key, p.Value)));
        Assert.Equal(5ul, item.Metadata.EventTime);
        Assert.Equal(0ul, item.Metadata.SequenceId);
        Assert.Equal("hello", Encoding.ASCII.GetString(item.Payload.Span));
    }

    [Fact]
    public void Go_client_batch_of_ten_decodes_with_sequence_ids_in_order()
    {
        var bytes = GoBatchOfTen();
        var frame = FrameDecoder.DecodeMessagePart(MessageCommand(), bytes);

        Assert.True(frame.ChecksumMatches);
        Assert.Equal(0x7B288C08u, FrameDecoder.ReadAnnouncedChecksum(bytes));
        var items = BatchPayload.Decode(frame.Payload, frame.Metadata!.NumMessagesInBatch);
        Assert.Equal(10, items.Length);
        Assert.Equal(Enumerable.Range(0, 10).Select(i => (ulong)i), items.Select(i => i.Metadata.SequenceId));
        Assert.All(items, item => Assert.Equal("hello", Encoding.ASCII.GetString(item.Payload.Span)));
    }

    [Fact]
    public void Go_client_batch_of_ten_reads_with_the_consumers_fields()
    {
        var frame = FrameDecoder.DecodeMessagePart(MessageCommand(), GoBatchOfTen());

        var messages = BatchPayload.ReadExact(frame.Payload, frame.Metadata!.NumMessagesInBatch);

        Assert.Equal(Enumerable.Range(0, 10), messages.Select(m => m.Index));
        Assert.Equal(Enumerable.Range(0, 10).Select(i => (ulong?)i), messages.Select(m => m.Fields.SequenceId));
        Assert.All(messages, m =>
        {
            Assert.Equal([KeyValuePair.Create("a", "1"), KeyValuePair.Create("b", "2")], m.Fields.Properties);
            Assert.Equal(5ul, m.Fields.EventTime);
            Assert.Null(m.Fields.PartitionKey);
            Assert.Equal("hello", Encoding.ASCII.GetString(m.Payload.Span));
        });
    }

    [Fact]
    public void Our_batch_with_the_Go_clients_fields_is_byte_identical()
    {
        var expected = GoBatchOfTen();
        var batch = BatchPayload.Encode(Enumerable.Range(0, 10).Select(i =>
        {
            var single = new SingleMessageMetadata { EventTime = 5, SequenceId = (ulong)i };
            single.Properties.Add(new KeyValue { Key = "a", Value = "1" });
            single.Properties.Add(new KeyValue { Key = "b", Value = "2" });
            return (single, (ReadOnlyMemory<byte>)"hello"u8.ToArray());
        }));
        var metadata = new MessageMetadata
        {
            ProducerName = "standalone-74-2",
            SequenceId = 0,
            PublishTime = GoPublishTime(expected),
            NumMessagesInBatch = 10,
            SchemaVersion = ByteString.Empty,
        };

        Assert.Equal(expected, FrameEncoder.EncodeMessagePart(metadata, batch));
    }

    private static BaseCommand MessageCommand() => new()
    {
        Type = BaseCommand.Types.Type.Message,
        Message = new CommandMessage { ConsumerId = 1, MessageId = new MessageIdData { LedgerId = 1, EntryId = 1 } },
    };

    private static ulong GoPublishTime(byte[] messagePart) =>
        FrameDecoder.DecodeMessagePart(MessageCommand(), messagePart).Metadata!.PublishTime;

    // rawBatchMessage10 from the same Go test file: ten copies of the batch-of-one item with
    // sequence_id 0..9 behind metadata naming producer "standalone-74-2".
    private static byte[] GoBatchOfTen()
    {
        var hex = new StringBuilder(
            "0E017B288C08" + "0000001F" + "0A0F7374616E64616C6F6E652D37342D32" +
            "1000" + "18D0C2FAA0E22D" + "580A" + "820100");
        for (var i = 0; i < 10; i++)
        {
            hex.Append("00000016" + "0A060A0161120131" + "0A060A0162120132" + "1805" + "2805")
                .Append("40").Append(i.ToString("X2", System.Globalization.CultureInfo.InvariantCulture))
                .Append("68656C6C6F");
        }
        return Convert.FromHexString(hex.ToString());
    }
}
