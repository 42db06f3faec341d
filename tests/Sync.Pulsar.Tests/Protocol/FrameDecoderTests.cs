using System.Buffers;
using System.Buffers.Binary;
using Google.Protobuf;

namespace Sync.Pulsar.Tests.Protocol;

public class FrameDecoderTests
{
    private static BaseCommand Ping() => new() { Type = BaseCommand.Types.Type.Ping, Ping = new CommandPing() };

    private static BaseCommand Send(ulong sequenceId) => new()
    {
        Type = BaseCommand.Types.Type.Send,
        Send = new CommandSend { ProducerId = 1, SequenceId = sequenceId },
    };

    private static MessageMetadata Metadata(ulong sequenceId = 1) => new()
    {
        ProducerName = "p",
        SequenceId = sequenceId,
        PublishTime = 1_700_000_000_000,
    };

    private static byte[] SendFrame(byte[] payload) => FrameEncoder.EncodePayloadCommand(Send(1), Metadata(), payload);

    [Fact]
    public void Simple_command_round_trips()
    {
        var frame = FrameDecoder.Decode(FrameEncoder.EncodeCommand(Ping()));

        Assert.Equal(BaseCommand.Types.Type.Ping, frame.Command.Type);
        Assert.False(frame.HasPayload);
    }

    [Fact]
    public void Payload_command_round_trips_with_metadata_and_payload()
    {
        var frame = FrameDecoder.Decode(SendFrame("payload"u8.ToArray()));

        Assert.Equal(1ul, frame.Command.Send.SequenceId);
        Assert.Equal(Metadata(), frame.Metadata);
        Assert.Equal("payload"u8.ToArray(), frame.Payload.ToArray());
        Assert.True(frame.HasChecksum);
        Assert.True(frame.ChecksumMatches);
    }

    [Fact]
    public void Frame_with_bad_checksum_is_flagged_not_thrown()
    {
        var bytes = SendFrame("payload"u8.ToArray());
        bytes[^1] ^= 0xFF;

        var frame = FrameDecoder.Decode(bytes);

        Assert.True(frame.HasChecksum);
        Assert.False(frame.ChecksumMatches);
    }

    [Fact]
    public void Frame_without_magic_is_accepted_in_the_old_format()
    {
        var command = Send(1);
        var metadata = Metadata();
        var commandBytes = command.ToByteArray();
        var metadataBytes = metadata.ToByteArray();
        var payload = "old"u8.ToArray();
        var writer = new ArrayBufferWriter<byte>();
        WriteUInt32(writer, (uint)(4 + commandBytes.Length + 4 + metadataBytes.Length + payload.Length));
        WriteUInt32(writer, (uint)commandBytes.Length);
        writer.Write(commandBytes);
        WriteUInt32(writer, (uint)metadataBytes.Length);
        writer.Write(metadataBytes);
        writer.Write(payload);

        var frame = FrameDecoder.Decode(writer.WrittenMemory);

        Assert.False(frame.HasChecksum);
        Assert.True(frame.ChecksumMatches);
        Assert.Equal(metadata, frame.Metadata);
        Assert.Equal(payload, frame.Payload.ToArray());
    }

    [Fact]
    public void Broker_entry_metadata_is_read_and_skipped()
    {
        var messagePart = FrameEncoder.EncodeMessagePart(Metadata(), "x"u8);
        var writer = new ArrayBufferWriter<byte>();
        var brokerEntry = new BrokerEntryMetadata { BrokerTimestamp = 42, Index = 7 };

        FrameEncoder.WritePayloadCommand(writer, Send(1), messagePart, brokerEntry);
        var frame = FrameDecoder.Decode(writer.WrittenMemory);

        Assert.Equal(brokerEntry, frame.BrokerEntryMetadata);
        Assert.True(frame.ChecksumMatches);
        Assert.Equal("x"u8.ToArray(), frame.Payload.ToArray());
        Assert.Equal(messagePart, frame.MessageBytes.ToArray());
    }

    [Fact]
    public void Replayed_message_bytes_are_identical_to_what_the_producer_sent()
    {
        var sent = FrameDecoder.Decode(SendFrame("entry"u8.ToArray()));
        var writer = new ArrayBufferWriter<byte>();
        var message = new BaseCommand
        {
            Type = BaseCommand.Types.Type.Message,
            Message = new CommandMessage { ConsumerId = 3, MessageId = new MessageIdData { LedgerId = 1, EntryId = 2 } },
        };

        FrameEncoder.WritePayloadCommand(writer, message, sent.MessageBytes.Span);
        var delivered = FrameDecoder.Decode(writer.WrittenMemory);

        Assert.Equal(sent.MessageBytes.ToArray(), delivered.MessageBytes.ToArray());
        Assert.True(delivered.ChecksumMatches);
    }

    [Fact]
    public void Incomplete_frame_waits_for_more_bytes()
    {
        var bytes = SendFrame("payload"u8.ToArray());
        for (var length = 0; length < bytes.Length; length++)
        {
            var buffer = new ReadOnlySequence<byte>(bytes, 0, length);
            Assert.False(FrameDecoder.TryReadFrame(ref buffer, FrameFormat.DefaultMaxFrameSize, out _));
            Assert.Equal(length, buffer.Length);
        }
    }

    [Fact]
    public void Frames_split_across_segments_are_cut_one_by_one()
    {
        var stream = FrameEncoder.EncodeCommand(Ping())
            .Concat(SendFrame("a"u8.ToArray()))
            .Concat(FrameEncoder.EncodePayloadCommand(Send(2), Metadata(2), "b"u8))
            .ToArray();
        var buffer = Sequences.Chunked(stream, 3);
        var frames = new List<PulsarFrame>();

        while (FrameDecoder.TryReadFrame(ref buffer, FrameFormat.DefaultMaxFrameSize, out var frame))
        {
            frames.Add(frame!);
        }

        Assert.Equal(0, buffer.Length);
        Assert.Equal(
            [BaseCommand.Types.Type.Ping, BaseCommand.Types.Type.Send, BaseCommand.Types.Type.Send],
            frames.Select(f => f.Command.Type));
        Assert.Equal("b"u8.ToArray(), frames[2].Payload.ToArray());
    }

    [Fact]
    public void Frame_above_the_limit_is_rejected_from_its_size_field_alone()
    {
        // Only the 4 size bytes have arrived: the decoder must refuse before buffering the rest.
        var header = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(header, 6 * 1024 * 1024);
        var buffer = new ReadOnlySequence<byte>(header);

        var error = Assert.Throws<FrameTooLargeException>(
            () => FrameDecoder.TryReadFrame(ref buffer, FrameFormat.DefaultMaxFrameSize, out _));

        Assert.Equal(FrameFormat.DefaultMaxFrameSize, error.MaxFrameSize);
        Assert.Contains("exceeds the maximum frame size", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Frame_exactly_at_the_limit_is_accepted()
    {
        var bytes = SendFrame(new byte[1000]);

        var frame = FrameDecoder.Decode(bytes, maxFrameSize: bytes.Length);

        Assert.Equal(1000, frame.Payload.Length);
        Assert.Throws<FrameTooLargeException>(() => FrameDecoder.Decode(bytes, maxFrameSize: bytes.Length - 1));
    }

    [Fact]
    public void Command_size_larger_than_the_frame_is_rejected()
    {
        var bytes = FrameEncoder.EncodeCommand(Ping());
        BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(4), 1000);

        var error = Assert.Throws<PulsarProtocolException>(() => FrameDecoder.Decode(bytes));
        Assert.Contains("commandSize 1000", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Total_size_too_small_for_the_command_size_field_is_rejected()
    {
        byte[] bytes = [0, 0, 0, 2, 0, 0];

        Assert.Throws<PulsarProtocolException>(() => FrameDecoder.Decode(bytes));
    }

    [Fact]
    public void Metadata_size_larger_than_the_frame_is_rejected()
    {
        var bytes = SendFrame("payload"u8.ToArray());
        var commandSize = (int)BinaryPrimitives.ReadUInt32BigEndian(bytes.AsSpan(4));
        var metadataSizeOffset = 8 + commandSize + 2 + 4;
        BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(metadataSizeOffset), 0x7FFFFFFF);

        var error = Assert.Throws<PulsarProtocolException>(() => FrameDecoder.Decode(bytes));
        Assert.Contains("metadataSize", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Garbage_command_bytes_are_rejected_as_a_protocol_error()
    {
        byte[] bytes = [0, 0, 0, 7, 0, 0, 0, 3, 0xFF, 0xFF, 0xFF];

        Assert.Throws<PulsarProtocolException>(() => FrameDecoder.Decode(bytes));
    }

    [Fact]
    public void Command_without_a_type_is_rejected()
    {
        var withoutType = new CommandPing().ToByteArray(); // zero bytes: a BaseCommand with nothing set
        var bytes = new byte[8 + withoutType.Length];
        BinaryPrimitives.WriteUInt32BigEndian(bytes, 4);

        Assert.Throws<PulsarProtocolException>(() => FrameDecoder.Decode(bytes));
    }

    [Fact]
    public void Command_of_a_type_we_do_not_model_still_decodes()
    {
        // CONSUMER_STATS (25) has no field in our BaseCommand: the frame must not kill the connection.
        var command = new BaseCommand { Type = BaseCommand.Types.Type.ConsumerStats };

        Assert.Equal(BaseCommand.Types.Type.ConsumerStats, FrameDecoder.Decode(FrameEncoder.EncodeCommand(command)).Command.Type);
    }

    private static void WriteUInt32(ArrayBufferWriter<byte> writer, uint value)
    {
        BinaryPrimitives.WriteUInt32BigEndian(writer.GetSpan(4), value);
        writer.Advance(4);
    }
}
