using System.Buffers;
using System.Buffers.Binary;
using FsCheck;
using FsCheck.Xunit;
using Google.Protobuf;

namespace Sync.Pulsar.Tests.Protocol;

/// <summary>Generated inputs: what the codec writes it reads back, and what it cannot read it rejects cleanly.</summary>
public class CodecProperties
{
    // Protobuf strings are UTF-8: a lone surrogate cannot survive, and no peer would send one.
    private static string Clean(string? value) =>
        new((value ?? string.Empty).Where(c => !char.IsSurrogate(c)).ToArray());

    private static byte[] SendFrame(string producer, ulong sequenceId, ulong publishTime, string? key, byte[] payload)
    {
        var command = new BaseCommand
        {
            Type = BaseCommand.Types.Type.Send,
            Send = new CommandSend { ProducerId = 7, SequenceId = sequenceId },
        };
        var metadata = new MessageMetadata { ProducerName = producer, SequenceId = sequenceId, PublishTime = publishTime };
        if (key is not null)
        {
            metadata.PartitionKey = key;
        }
        return FrameEncoder.EncodePayloadCommand(command, metadata, payload);
    }

    [Property]
    public bool Payload_frames_round_trip_in_any_segmentation(
        string producer, ulong sequenceId, ulong publishTime, string? key, byte[] payload, PositiveInt chunk)
    {
        var bytes = SendFrame(Clean(producer), sequenceId, publishTime, key is null ? null : Clean(key), payload);
        var buffer = Sequences.Chunked(bytes, chunk.Get);

        var read = FrameDecoder.TryReadFrame(ref buffer, FrameFormat.DefaultMaxFrameSize, out var frame);

        return read
            && buffer.IsEmpty
            && frame!.ChecksumMatches
            && frame.Command.Send.SequenceId == sequenceId
            && frame.Metadata!.ProducerName == Clean(producer)
            && frame.Metadata.PublishTime == publishTime
            && frame.Metadata.HasPartitionKey == (key is not null)
            && frame.Payload.Span.SequenceEqual(payload);
    }

    [Property]
    public bool Batches_round_trip(NonEmptyArray<(string? Key, byte[] Payload, bool NullValue)> items)
    {
        var entries = items.Get.Select(item =>
        {
            var metadata = new SingleMessageMetadata { NullValue = item.NullValue };
            if (item.Key is not null)
            {
                metadata.PartitionKey = Clean(item.Key);
            }
            return (metadata, (ReadOnlyMemory<byte>)(item.NullValue ? [] : item.Payload));
        }).ToList();

        var decoded = BatchPayload.Decode(BatchPayload.Encode(entries), entries.Count);

        return decoded.Length == entries.Count
            && decoded.Zip(entries).All(pair =>
                pair.First.Metadata.Equals(pair.Second.metadata)
                && pair.First.Payload.Span.SequenceEqual(pair.Second.Item2.Span));
    }

    [Property]
    public bool Compressed_payloads_round_trip(byte[] payload, PositiveInt codec)
    {
        var compression = (CompressionType)(codec.Get % 5);

        var restored = PayloadCompression.Decompress(compression, PayloadCompression.Compress(compression, payload), payload.Length);

        return restored.AsSpan().SequenceEqual(payload);
    }

    [Property]
    public bool Any_single_byte_corruption_is_decoded_flagged_or_rejected_cleanly(NonNegativeInt position, byte value)
    {
        var bytes = SendFrame("producer", 5, 1_700_000_000_000, "key", "payload bytes"u8.ToArray());
        var index = position.Get % bytes.Length;
        var original = bytes[index];
        bytes[index] = value;

        var checksummedStart = 8 + (int)BinaryPrimitives.ReadUInt32BigEndian(bytes.AsSpan(4)) + 6;

        var outcome = Decode(bytes);

        if (outcome.Error is not null)
        {
            return outcome.Error is PulsarProtocolException;
        }
        if (value == original)
        {
            return outcome.Frame is { ChecksumMatches: true };
        }
        if (index >= checksummedStart && outcome.Frame is not null)
        {
            // Metadata or payload changed yet still parses: the checksum must catch it.
            return !outcome.Frame.ChecksumMatches;
        }
        // A grown totalSize makes the decoder wait for bytes that never come; a change in the
        // command or the checksum field itself yields a frame with other values.
        return outcome.Frame is not null || outcome.NeedsMoreBytes;
    }

    [Property]
    public bool Random_bytes_never_escape_as_anything_but_a_protocol_error(byte[] garbage)
    {
        var outcome = Decode(garbage);
        return outcome.Error is null or PulsarProtocolException;
    }

    [Property]
    public bool Lying_size_fields_never_cause_large_allocations(uint totalSize, uint commandSize, uint metadataSize)
    {
        // A small frame whose three size fields say anything at all.
        var bytes = SendFrame("p", 1, 1, null, new byte[16]);
        var commandLength = (int)BinaryPrimitives.ReadUInt32BigEndian(bytes.AsSpan(4));
        BinaryPrimitives.WriteUInt32BigEndian(bytes, totalSize);
        BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(4), commandSize);
        BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(8 + commandLength + 6), metadataSize);

        var before = GC.GetAllocatedBytesForCurrentThread();
        var outcome = Decode(bytes);
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        return outcome.Error is null or PulsarProtocolException && allocated < 64 * 1024;
    }

    [Property]
    public bool Ack_set_reports_exactly_the_pending_items(PositiveInt size, int[] pending)
    {
        var batchSize = 1 + (size.Get % 300);
        var pendingSet = pending.Select(p => (int)((uint)p % (uint)batchSize)).ToHashSet();

        var ackSet = AckSet.FromPending(batchSize, pendingSet);

        return Enumerable.Range(0, batchSize).All(i => AckSet.IsPending(ackSet, i) == pendingSet.Contains(i) || pendingSet.Count == 0);
    }

    private static (PulsarFrame? Frame, Exception? Error, bool NeedsMoreBytes) Decode(byte[] bytes)
    {
        var buffer = new ReadOnlySequence<byte>(bytes);
        try
        {
            var read = FrameDecoder.TryReadFrame(ref buffer, FrameFormat.DefaultMaxFrameSize, out var frame);
            return (frame, null, !read);
        }
#pragma warning disable CA1031 // the property is precisely that no other exception type escapes
        catch (Exception e)
#pragma warning restore CA1031
        {
            return (null, e, false);
        }
    }
}
