using Google.Protobuf;

namespace Sync.Pulsar.Protocol;

/// <summary>
/// Writes frames straight into an <see cref="IBufferWriter{T}"/> (a pipe, or an
/// <see cref="ArrayBufferWriter{T}"/>): sizes first, protobuf encoded in place, the checksum
/// computed over the bytes already written.
/// </summary>
public static class FrameEncoder
{
    private const int SizeFieldLength = 4;
    private const int MagicLength = 2;

    /// <summary>Length of the message part header: magic, checksum and metadataSize.</summary>
    public const int MessageHeaderLength = MagicLength + SizeFieldLength + SizeFieldLength;

    /// <summary>Writes a simple command: <c>[totalSize][commandSize][BaseCommand]</c>.</summary>
    public static void WriteCommand(IBufferWriter<byte> output, BaseCommand command)
    {
        var commandSize = command.CalculateSize();
        var frameLength = SizeFieldLength + SizeFieldLength + commandSize;
        var span = output.GetSpan(frameLength)[..frameLength];
        BinaryPrimitives.WriteUInt32BigEndian(span, (uint)(SizeFieldLength + commandSize));
        BinaryPrimitives.WriteUInt32BigEndian(span[SizeFieldLength..], (uint)commandSize);
        command.WriteTo(span.Slice(2 * SizeFieldLength, commandSize));
        output.Advance(frameLength);
    }

    /// <summary>
    /// Writes a payload command with magic and CRC-32C:
    /// <c>[totalSize][commandSize][BaseCommand][0x0e01][crc32c][metadataSize][metadata][payload]</c>.
    /// </summary>
    public static void WritePayloadCommand(
        IBufferWriter<byte> output,
        BaseCommand command,
        MessageMetadata metadata,
        ReadOnlySpan<byte> payload)
    {
        var commandSize = command.CalculateSize();
        var metadataSize = metadata.CalculateSize();
        var totalSize = SizeFieldLength + commandSize + MessageHeaderLength + metadataSize + payload.Length;
        var frameLength = SizeFieldLength + totalSize;
        var span = output.GetSpan(frameLength)[..frameLength];

        BinaryPrimitives.WriteUInt32BigEndian(span, (uint)totalSize);
        BinaryPrimitives.WriteUInt32BigEndian(span[SizeFieldLength..], (uint)commandSize);
        command.WriteTo(span.Slice(2 * SizeFieldLength, commandSize));
        WriteMessagePart(span[(2 * SizeFieldLength + commandSize)..], metadata, metadataSize, payload);
        output.Advance(frameLength);
    }

    /// <summary>
    /// Writes a payload command whose message part is already encoded (from the magic on), as a
    /// broker does when it replays a stored entry. <paramref name="brokerEntryMetadata"/> is
    /// prepended with magic 0x0e02 when given.
    /// </summary>
    public static void WritePayloadCommand(
        IBufferWriter<byte> output,
        BaseCommand command,
        ReadOnlySpan<byte> messageBytes,
        BrokerEntryMetadata? brokerEntryMetadata = null)
    {
        var commandSize = command.CalculateSize();
        var brokerEntrySize = brokerEntryMetadata?.CalculateSize() ?? 0;
        var brokerEntryLength = brokerEntryMetadata is null ? 0 : MagicLength + SizeFieldLength + brokerEntrySize;
        var totalSize = SizeFieldLength + commandSize + brokerEntryLength + messageBytes.Length;
        var frameLength = SizeFieldLength + totalSize;
        var span = output.GetSpan(frameLength)[..frameLength];

        BinaryPrimitives.WriteUInt32BigEndian(span, (uint)totalSize);
        BinaryPrimitives.WriteUInt32BigEndian(span[SizeFieldLength..], (uint)commandSize);
        command.WriteTo(span.Slice(2 * SizeFieldLength, commandSize));
        var position = 2 * SizeFieldLength + commandSize;
        if (brokerEntryMetadata is not null)
        {
            BinaryPrimitives.WriteUInt16BigEndian(span[position..], FrameFormat.BrokerEntryMetadataMagic);
            BinaryPrimitives.WriteUInt32BigEndian(span[(position + MagicLength)..], (uint)brokerEntrySize);
            brokerEntryMetadata.WriteTo(span.Slice(position + MagicLength + SizeFieldLength, brokerEntrySize));
            position += brokerEntryLength;
        }
        messageBytes.CopyTo(span[position..]);
        output.Advance(frameLength);
    }

    /// <summary>Encodes <c>[0x0e01][crc32c][metadataSize][metadata][payload]</c> on its own.</summary>
    public static byte[] EncodeMessagePart(MessageMetadata metadata, ReadOnlySpan<byte> payload)
    {
        var metadataSize = metadata.CalculateSize();
        var bytes = new byte[MessageHeaderLength + metadataSize + payload.Length];
        WriteMessagePart(bytes, metadata, metadataSize, payload);
        return bytes;
    }

    /// <summary>Encodes a simple command into a new array (tests, tools).</summary>
    public static byte[] EncodeCommand(BaseCommand command)
    {
        var writer = new ArrayBufferWriter<byte>();
        WriteCommand(writer, command);
        return writer.WrittenSpan.ToArray();
    }

    /// <summary>Encodes a payload command into a new array (tests, tools).</summary>
    public static byte[] EncodePayloadCommand(BaseCommand command, MessageMetadata metadata, ReadOnlySpan<byte> payload)
    {
        var writer = new ArrayBufferWriter<byte>();
        WritePayloadCommand(writer, command, metadata, payload);
        return writer.WrittenSpan.ToArray();
    }

    private static void WriteMessagePart(Span<byte> span, MessageMetadata metadata, int metadataSize, ReadOnlySpan<byte> payload)
    {
        BinaryPrimitives.WriteUInt16BigEndian(span, FrameFormat.ChecksumMagic);
        var checksummed = span[(MagicLength + SizeFieldLength)..];
        BinaryPrimitives.WriteUInt32BigEndian(checksummed, (uint)metadataSize);
        metadata.WriteTo(checksummed.Slice(SizeFieldLength, metadataSize));
        payload.CopyTo(checksummed[(SizeFieldLength + metadataSize)..]);
        var length = SizeFieldLength + metadataSize + payload.Length;
        BinaryPrimitives.WriteUInt32BigEndian(span[MagicLength..], Crc32C.Compute(checksummed[..length]));
    }
}
