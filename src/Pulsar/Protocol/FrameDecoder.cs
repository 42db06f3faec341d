using Google.Protobuf;

namespace Sync.Pulsar.Protocol;

/// <summary>
/// Cuts frames out of a byte stream: <c>[totalSize][commandSize][BaseCommand]</c> optionally
/// followed by <c>[0x0e02][size][BrokerEntryMetadata]</c> and
/// <c>[0x0e01][crc32c][metadataSize][MessageMetadata][payload]</c> (magic and checksum optional).
/// Sizes are checked against each other and against the frame limit before anything is
/// allocated, so a peer that lies about sizes costs us an exception, not memory.
/// </summary>
public static class FrameDecoder
{
    private const int SizeFieldLength = 4;
    private const int MagicLength = 2;

    /// <summary>
    /// Reads one frame from the front of <paramref name="buffer"/> if it is complete, and slices
    /// it off. Returns false (leaving the buffer alone) when more bytes are needed.
    /// </summary>
    /// <param name="maxFrameSize">Largest frame accepted, counting the totalSize field itself.</param>
    /// <exception cref="FrameTooLargeException">The announced frame exceeds <paramref name="maxFrameSize"/>.</exception>
    /// <exception cref="PulsarProtocolException">The frame's sizes or protobuf content are inconsistent.</exception>
    public static bool TryReadFrame(ref ReadOnlySequence<byte> buffer, int maxFrameSize, out PulsarFrame? frame) =>
        TryReadFrame(ref buffer, maxFrameSize, null, out frame);

    /// <summary>As <see cref="TryReadFrame(ref ReadOnlySequence{byte}, int, out PulsarFrame?)"/>, with a
    /// MESSAGE frame's bytes rented from <paramref name="messagePool"/> (the frame then holds its
    /// <see cref="PulsarFrame.Entry"/>); null: a new array per payload frame.</summary>
    internal static bool TryReadFrame(ref ReadOnlySequence<byte> buffer, int maxFrameSize, ArrayPool<byte>? messagePool, out PulsarFrame? frame)
    {
        frame = null;
        if (buffer.Length < SizeFieldLength)
        {
            return false;
        }

        var totalSize = ReadUInt32(buffer);
        long frameLength = totalSize + (long)SizeFieldLength;
        if (frameLength > maxFrameSize)
        {
            // Checked before waiting for the rest: the peer must not make us buffer a huge frame.
            throw new FrameTooLargeException(frameLength, maxFrameSize);
        }
        if (totalSize < SizeFieldLength)
        {
            throw new PulsarProtocolException($"frame totalSize {totalSize} is smaller than its commandSize field");
        }
        if (buffer.Length < frameLength)
        {
            return false;
        }

        var body = buffer.Slice(SizeFieldLength, totalSize);
        frame = DecodeBody(body, messagePool);
        buffer = buffer.Slice(frameLength);
        return true;
    }

    /// <summary>Decodes a complete frame held in one buffer (tests, tools).</summary>
    public static PulsarFrame Decode(ReadOnlyMemory<byte> frameBytes, int maxFrameSize = FrameFormat.DefaultMaxFrameSize)
    {
        var sequence = new ReadOnlySequence<byte>(frameBytes);
        if (!TryReadFrame(ref sequence, maxFrameSize, out var frame))
        {
            throw new PulsarProtocolException($"frame is incomplete: {frameBytes.Length} bytes do not hold the announced size");
        }
        if (sequence.Length != 0)
        {
            throw new PulsarProtocolException($"{sequence.Length} bytes follow the frame");
        }
        return frame!;
    }

    private static PulsarFrame DecodeBody(ReadOnlySequence<byte> body, ArrayPool<byte>? messagePool)
    {
        var commandSize = ReadUInt32(body);
        var afterCommandSize = body.Length - SizeFieldLength;
        if (commandSize > afterCommandSize)
        {
            throw new PulsarProtocolException(
                $"commandSize {commandSize} exceeds the {afterCommandSize} bytes left in the frame");
        }

        var command = ParseCommand(body.Slice(SizeFieldLength, commandSize));
        var rest = body.Slice(SizeFieldLength + commandSize);
        if (rest.IsEmpty)
        {
            return new PulsarFrame(command);
        }

        // One copy per payload frame (per entry, not per batched message) so that metadata,
        // payload and the replayable message bytes can be handed out as Memory slices.
        // Not zeroed first: every byte is overwritten at once, and an entry of a batching producer
        // (up to 128 KB) would otherwise be cleared and then copied.
        if (command.Type != BaseCommand.Types.Type.Message)
        {
            var copy = GC.AllocateUninitializedArray<byte>((int)rest.Length);
            rest.CopyTo(copy);
            return DecodeMessagePart(command, copy);
        }

        // A consumer that gives its messages' bytes back (PulsarMessage.ReleaseBuffer) reads entries
        // into pooled arrays: no large new array per entry for the collector to clear and count.
        var entry = messagePool is null ? null : new EntryBuffer(messagePool, (int)rest.Length);
        var bytes = entry is null ? GC.AllocateUninitializedArray<byte>((int)rest.Length) : entry.Array;
        rest.CopyTo(bytes);
        var message = bytes.AsMemory(0, (int)rest.Length);
        try
        {
            var frame = DecodeMessagePart(command, message);
            frame.Entry = entry;
            return frame;
        }
        catch (PulsarProtocolException e)
        {
            // The frame's own sizes held, so only this entry is bad: the consumer discards it
            // and the connection goes on (a broker that stored such an entry would otherwise
            // make every reconnect fail on it again).
            return new PulsarFrame(command, message, e.Message) { Entry = entry };
        }
    }

    /// <summary>
    /// Decodes the part of a payload command after BaseCommand: optional broker-entry metadata,
    /// optional magic + checksum, metadataSize, metadata, payload.
    /// </summary>
    public static PulsarFrame DecodeMessagePart(BaseCommand command, ReadOnlyMemory<byte> bytes)
    {
        var span = bytes.Span;
        var position = 0;
        BrokerEntryMetadata? brokerEntryMetadata = null;

        if (HasMagicAt(span, position, FrameFormat.BrokerEntryMetadataMagic))
        {
            var size = ReadSize(span, position + MagicLength, "brokerEntryMetadataSize");
            var start = position + MagicLength + SizeFieldLength;
            brokerEntryMetadata = Parse(BrokerEntryMetadata.Parser, span.Slice(start, size), "broker entry metadata");
            position = start + size;
        }

        var messageStart = position;
        var hasChecksum = HasMagicAt(span, position, FrameFormat.ChecksumMagic);
        uint expectedChecksum = 0;
        if (hasChecksum)
        {
            RequireBytes(span, position + MagicLength, SizeFieldLength, "checksum");
            expectedChecksum = BinaryPrimitives.ReadUInt32BigEndian(span[(position + MagicLength)..]);
            position += MagicLength + SizeFieldLength;
        }

        var checksummedStart = position;
        var metadataSize = ReadSize(span, position, "metadataSize");
        var metadataStart = position + SizeFieldLength;
        var metadata = Parse(MessageMetadata.Parser, span.Slice(metadataStart, metadataSize), "message metadata");
        var payloadStart = metadataStart + metadataSize;

        var checksumMatches = true;
        if (hasChecksum)
        {
            checksumMatches = Crc32C.Compute(span[checksummedStart..]) == expectedChecksum;
        }

        return new PulsarFrame(
            command,
            metadata,
            bytes[payloadStart..],
            bytes[messageStart..],
            brokerEntryMetadata,
            hasChecksum,
            checksumMatches);
    }

    /// <summary>Reads the checksum a message part announces, or null when it has no magic.</summary>
    public static uint? ReadAnnouncedChecksum(ReadOnlySpan<byte> messageBytes) =>
        HasMagicAt(messageBytes, 0, FrameFormat.ChecksumMagic) && messageBytes.Length >= MagicLength + SizeFieldLength
            ? BinaryPrimitives.ReadUInt32BigEndian(messageBytes[MagicLength..])
            : null;

    private static BaseCommand ParseCommand(ReadOnlySequence<byte> commandBytes)
    {
        try
        {
            var command = BaseCommand.Parser.ParseFrom(commandBytes);
            if (!command.HasType)
            {
                throw new PulsarProtocolException("BaseCommand has no (known) type");
            }
            if (!Enum.IsDefined(command.Type))
            {
                // Each side only sends commands of the protocol version both announced, so a type
                // unknown to us is a peer out of protocol, not a feature to skip.
                throw new PulsarProtocolException($"BaseCommand type {(int)command.Type} is not a known command");
            }
            return command;
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new PulsarProtocolException($"BaseCommand does not parse: {e.Message}", e);
        }
    }

    private static T Parse<T>(MessageParser<T> parser, ReadOnlySpan<byte> bytes, string what)
        where T : IMessage<T>
    {
        try
        {
            return parser.ParseFrom(bytes);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new PulsarProtocolException($"{what} does not parse: {e.Message}", e);
        }
    }

    private static bool HasMagicAt(ReadOnlySpan<byte> span, int position, ushort magic) =>
        span.Length - position >= MagicLength
        && BinaryPrimitives.ReadUInt16BigEndian(span[position..]) == magic;

    private static int ReadSize(ReadOnlySpan<byte> span, int position, string field)
    {
        RequireBytes(span, position, SizeFieldLength, field);
        var size = BinaryPrimitives.ReadUInt32BigEndian(span[position..]);
        var available = span.Length - position - SizeFieldLength;
        if (size > available)
        {
            throw new PulsarProtocolException($"{field} {size} exceeds the {available} bytes left in the frame");
        }
        return (int)size;
    }

    private static void RequireBytes(ReadOnlySpan<byte> span, int position, int count, string field)
    {
        if (span.Length - position < count)
        {
            throw new PulsarProtocolException($"frame ends before its {field} field");
        }
    }

    private static uint ReadUInt32(in ReadOnlySequence<byte> sequence)
    {
        if (sequence.FirstSpan.Length >= SizeFieldLength)
        {
            return BinaryPrimitives.ReadUInt32BigEndian(sequence.FirstSpan);
        }
        Span<byte> scratch = stackalloc byte[SizeFieldLength];
        sequence.Slice(0, SizeFieldLength).CopyTo(scratch);
        return BinaryPrimitives.ReadUInt32BigEndian(scratch);
    }
}
