using Google.Protobuf;

namespace Sync.Pulsar.Protocol;

/// <summary>
/// The uncompressed batch format: per message <c>[size:4 BE][SingleMessageMetadata][payload]</c>,
/// payload length given by SingleMessageMetadata.payload_size.
/// </summary>
public static class BatchPayload
{
    private const int SizeFieldLength = 4;

    /// <summary>
    /// Appends one message to a batch being built. payload_size is set from the payload, so the
    /// caller cannot make the two disagree.
    /// </summary>
    public static void Append(IBufferWriter<byte> output, SingleMessageMetadata metadata, ReadOnlySpan<byte> payload)
    {
        metadata.PayloadSize = payload.Length;
        var metadataSize = metadata.CalculateSize();
        var length = SizeFieldLength + metadataSize + payload.Length;
        var span = output.GetSpan(length)[..length];
        BinaryPrimitives.WriteUInt32BigEndian(span, (uint)metadataSize);
        metadata.WriteTo(span.Slice(SizeFieldLength, metadataSize));
        payload.CopyTo(span[(SizeFieldLength + metadataSize)..]);
        output.Advance(length);
    }

    /// <summary>Encodes a whole batch into a new array.</summary>
    public static byte[] Encode(IEnumerable<(SingleMessageMetadata Metadata, ReadOnlyMemory<byte> Payload)> items)
    {
        ArgumentNullException.ThrowIfNull(items);
        var writer = new ArrayBufferWriter<byte>();
        foreach (var (metadata, payload) in items)
        {
            Append(writer, metadata, payload.Span);
        }
        return writer.WrittenSpan.ToArray();
    }

    /// <summary>
    /// Splits an uncompressed batch into its <paramref name="count"/> messages (from
    /// MessageMetadata.num_messages_in_batch). Every size is checked against the bytes left, so
    /// a corrupt batch fails with <see cref="PulsarProtocolException"/> rather than reading past
    /// its end. Bytes after the last message are ignored, as the Java client does.
    /// </summary>
    public static BatchItem[] Decode(ReadOnlyMemory<byte> batch, int count) => Decode(batch, count, out _);

    /// <summary>
    /// As <see cref="Decode(ReadOnlyMemory{byte}, int)"/>, but a batch must hold at least one
    /// message and nothing after its last one: producers write batches back to back without
    /// padding, so bytes left over mean num_messages_in_batch understates what the entry holds,
    /// and ignoring them would drop messages without a trace.
    /// </summary>
    public static BatchItem[] DecodeExact(ReadOnlyMemory<byte> batch, int count)
    {
        if (count == 0)
        {
            throw new PulsarProtocolException("num_messages_in_batch (0) announces an empty batch");
        }
        var items = Decode(batch, count, out var consumed);
        if (consumed != batch.Length)
        {
            throw new PulsarProtocolException(
                $"num_messages_in_batch ({count}) leaves {batch.Length - consumed} of the batch's {batch.Length} bytes unread");
        }
        return items;
    }

    private static BatchItem[] Decode(ReadOnlyMemory<byte> batch, int count, out int consumed)
    {
        if (count < 0)
        {
            throw new PulsarProtocolException($"num_messages_in_batch ({count}) must not be negative");
        }
        // Each item needs at least its 4-byte size field: a lying count cannot make us allocate.
        if (count > batch.Length / SizeFieldLength)
        {
            throw new PulsarProtocolException(
                $"num_messages_in_batch ({count}) cannot fit in a batch payload of {batch.Length} bytes");
        }

        var items = new BatchItem[count];
        var position = 0;
        for (var index = 0; index < count; index++)
        {
            var span = batch.Span;
            var left = span.Length - position;
            if (left < SizeFieldLength)
            {
                throw new PulsarProtocolException($"batch ends before message {index} of {count}");
            }
            var metadataSize = BinaryPrimitives.ReadUInt32BigEndian(span[position..]);
            position += SizeFieldLength;
            left -= SizeFieldLength;
            if (metadataSize > left)
            {
                throw new PulsarProtocolException(
                    $"batch message {index}: metadata size {metadataSize} exceeds the {left} bytes left");
            }

            SingleMessageMetadata metadata;
            try
            {
                metadata = SingleMessageMetadata.Parser.ParseFrom(span.Slice(position, (int)metadataSize));
            }
            catch (InvalidProtocolBufferException e)
            {
                throw new PulsarProtocolException($"batch message {index}: metadata does not parse: {e.Message}", e);
            }
            position += (int)metadataSize;
            left -= (int)metadataSize;

            var payloadSize = metadata.PayloadSize;
            if (payloadSize < 0 || payloadSize > left)
            {
                throw new PulsarProtocolException(
                    $"batch message {index}: payload_size {payloadSize} does not fit the {left} bytes left");
            }
            items[index] = new BatchItem(index, metadata, batch.Slice(position, payloadSize));
            position += payloadSize;
        }
        consumed = position;
        return items;
    }
}
