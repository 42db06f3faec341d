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
    /// MessageMetadata.num_messages_in_batch), each with its metadata as the generated type. Every
    /// size is checked against the bytes left, so a corrupt batch fails with
    /// <see cref="PulsarProtocolException"/> rather than reading past its end. Bytes after the last
    /// message are ignored, as the Java client does.
    /// </summary>
    public static BatchItem[] Decode(ReadOnlyMemory<byte> batch, int count)
    {
        var messages = Read(batch, count, out _);
        var items = new BatchItem[messages.Length];
        foreach (var message in messages)
        {
            SingleMessageMetadata metadata;
            try
            {
                metadata = SingleMessageMetadata.Parser.ParseFrom(message.Metadata.Span);
            }
            catch (InvalidProtocolBufferException e)
            {
                throw new PulsarProtocolException($"batch message {message.Index}: metadata does not parse: {e.Message}", e);
            }
            items[message.Index] = new BatchItem(message.Index, metadata, message.Payload);
        }
        return items;
    }

    /// <summary>
    /// Splits a batch as <see cref="Decode(ReadOnlyMemory{byte}, int)"/> does, reading of each
    /// message's metadata only what a consumer uses (<see cref="SingleMessageFields"/>); and a batch
    /// must hold at least one message and nothing after its last one: producers write batches back
    /// to back without padding, so bytes left over mean num_messages_in_batch understates what the
    /// entry holds, and ignoring them would drop messages without a trace.
    /// </summary>
    public static BatchedMessage[] ReadExact(ReadOnlyMemory<byte> batch, int count)
    {
        if (count == 0)
        {
            throw new PulsarProtocolException("num_messages_in_batch (0) announces an empty batch");
        }
        var messages = Read(batch, count, out var consumed);
        if (consumed != batch.Length)
        {
            throw new PulsarProtocolException(
                $"num_messages_in_batch ({count}) leaves {batch.Length - consumed} of the batch's {batch.Length} bytes unread");
        }
        return messages;
    }

    private static BatchedMessage[] Read(ReadOnlyMemory<byte> batch, int count, out int consumed)
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

        var messages = new BatchedMessage[count];
        var position = 0;
        var span = batch.Span;
        for (var index = 0; index < count; index++)
        {
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

            var metadata = batch.Slice(position, (int)metadataSize);
            SingleMessageFields fields;
            try
            {
                fields = SingleMessageFields.Read(metadata.Span);
            }
            catch (PulsarProtocolException e)
            {
                throw new PulsarProtocolException($"batch message {index}: {e.Message}", e);
            }
            position += (int)metadataSize;
            left -= (int)metadataSize;

            var payloadSize = fields.PayloadSize;
            if (payloadSize < 0 || payloadSize > left)
            {
                throw new PulsarProtocolException(
                    $"batch message {index}: payload_size {payloadSize} does not fit the {left} bytes left");
            }
            messages[index] = new BatchedMessage(index, fields, metadata, batch.Slice(position, payloadSize));
            position += payloadSize;
        }
        consumed = position;
        return messages;
    }
}
