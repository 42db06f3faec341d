using Microsoft.Extensions.Logging;

namespace Sync.Pulsar;

/// <summary>Incoming MESSAGE frames: validation (corrupt frames, checksums, batches), skipping what precedes a reader's start, and the messages handed to the application.</summary>
public sealed partial class PulsarConsumer
{
    private void OnMessage(Session session, PulsarFrame frame)
    {
        var command = frame.Command.Message;
        var metadata = frame.Metadata;
        var entryId = MessageId.FromProto(command.MessageId);
        if (_partitionIndex >= 0)
        {
            // Acks of a partitioned consumer are routed by this index, whatever the broker sent.
            entryId = entryId with { Partition = _partitionIndex };
        }
        if (frame.Corruption is { } corruption)
        {
            // As the Java client when parseMessageMetadata fails: discarded as a checksum mismatch.
            Discard(session, entryId, frame, 1, CommandAck.Types.ValidationError.ChecksumMismatch, corruption);
            return;
        }
        if (metadata is null)
        {
            Logger.LogWarning("MESSAGE {MessageId} without payload on {Topic}", entryId, Topic);
            return;
        }
        var messageCount = metadata.HasNumMessagesInBatch ? Math.Max(metadata.NumMessagesInBatch, 0) : 1;
        var maxMessageSize = session.Connection.MaxMessageSize;

        if (!frame.ChecksumMatches)
        {
            Discard(session, entryId, frame, messageCount, CommandAck.Types.ValidationError.ChecksumMismatch, ChecksumDetail(frame));
            return;
        }

        ReadOnlyMemory<byte> payload = frame.Payload;
        if (metadata.Compression != CompressionType.None)
        {
            try
            {
                payload = PayloadCompression.Decompress(metadata.Compression, payload.Span, (int)Math.Min(metadata.UncompressedSize, int.MaxValue), maxMessageSize);
            }
            catch (DecompressionException e)
            {
                var reason = metadata.UncompressedSize > (uint)maxMessageSize
                    ? CommandAck.Types.ValidationError.UncompressedSizeCorruption
                    : CommandAck.Types.ValidationError.DecompressionError;
                Discard(session, entryId, frame, messageCount, reason, e.Message);
                return;
            }
        }

        // The messages' data lies in the frame's pooled buffer unless it was decompressed into a new array.
        var entry = payload.Equals(frame.Payload) ? frame.Entry : null;
        if (!metadata.HasNumMessagesInBatch)
        {
            if (IsBeforeReaderStart(entryId))
            {
                Skip(session, 1);
                return;
            }
            Enqueue(session, BuildSingle(session, entryId, metadata, payload, command.RedeliveryCount, entry));
            return;
        }

        BatchedMessage[] items;
        try
        {
            items = BatchPayload.ReadExact(payload, metadata.NumMessagesInBatch);
        }
        catch (PulsarProtocolException e)
        {
            Discard(session, entryId, frame, messageCount, CommandAck.Types.ValidationError.BatchDeSerializeError, e.Message);
            return;
        }

        var delivered = new List<int>(items.Length);
        foreach (var item in items)
        {
            // compacted_out: a placeholder the compactor left so batch indexes stay stable.
            // ack_set bit clear: already acknowledged (batch-index ack) before a redelivery.
            if (item.Fields.CompactedOut
                || !AckSet.IsPending(command.AckSet, item.Index)
                || IsBeforeReaderStart(entryId with { BatchIndex = item.Index }))
            {
                continue;
            }
            delivered.Add(item.Index);
        }
        if (delivered.Count < items.Length)
        {
            // Skipped messages used permits too; give them back as if the application took them.
            Skip(session, items.Length - delivered.Count);
        }
        if (delivered.Count == 0)
        {
            return;
        }
        lock (_lock)
        {
            _batches[(entryId.LedgerId, entryId.EntryId)] = new BatchAcker(items.Length, delivered);
        }
        foreach (var index in delivered)
        {
            var id = entryId with { BatchIndex = index, BatchSize = items.Length };
            Enqueue(session, BuildBatched(session, id, metadata, items[index], command.RedeliveryCount, entry));
        }
    }

    /// <summary>
    /// A reader's start is exclusive: the broker begins at the start entry itself (its
    /// non-durable cursor sits one entry before), so the client drops what is at or before it.
    /// After a reconnect the start is the last message received, dropped for the same reason.
    /// </summary>
    private bool IsBeforeReaderStart(MessageId id)
    {
        if (_options.StartMessageId is not { } configured)
        {
            return false;
        }
        if (_lastReceived is null && _seekStart is { } seekStart)
        {
            // After a seek the start is inclusive: the seek target itself is delivered.
            return seekStart != MessageId.Earliest && seekStart != MessageId.Latest && id < seekStart;
        }
        var start = _lastReceived ?? configured;
        if (start == MessageId.Earliest || start == MessageId.Latest)
        {
            return false;
        }
        if (id.LedgerId != start.LedgerId || id.EntryId != start.EntryId)
        {
            return id < start;
        }
        // Same entry: a batch item after the start index is new, anything else was seen.
        return id.BatchIndex <= start.BatchIndex || start.BatchIndex < 0;
    }

    private void Enqueue(Session session, PulsarMessage message)
    {
        lock (_lock)
        {
            if (session.Number != _sessionNumber)
            {
                return;
            }
            _queued++;
        }
        // Before the application can see it, and so release it: the frame still holds the buffer here.
        message.Entry?.Hold();
        _queue.Writer.TryWrite(message);
    }

    /// <summary>Empties the local queue (under <c>_lock</c>): messages the application never saw, whose
    /// holds on their entries go at once.</summary>
    private int DropQueued()
    {
        var dropped = 0;
        while (_queue.Reader.TryRead(out var message))
        {
            message.ReleaseBuffer();
            dropped++;
        }
        return dropped;
    }

    private void Skip(Session session, int count)
    {
        lock (_lock)
        {
            if (session.Number != _sessionNumber)
            {
                return;
            }
            _queued += count;
        }
        OnTaken(session.Number, count);
    }

    private void Discard(Session session, MessageId entryId, PulsarFrame frame, int announcedCount, CommandAck.Types.ValidationError reason, string detail)
    {
        // The permits the entry used, as the broker counts them from the same metadata; a count
        // that lies beyond what the entry's bytes can hold (4 bytes per batched message at least)
        // is capped there, so that it cannot overflow the queue accounting.
        var messageCount = Math.Clamp(announcedCount, 1, Math.Max(1, frame.MessageBytes.Length / 4));
        Logger.LogWarning("Discarding corrupt message {MessageId} on {Topic}: {Reason} ({Detail})", entryId, Topic, reason, detail);
        if (_options.DeliverCorruptMessages)
        {
            // The application records it (a dead letter) and acknowledges it like any message,
            // so the entry stays on the subscription until that record is safe.
            if (messageCount > 1)
            {
                Skip(session, messageCount - 1);
            }
            Enqueue(session, BuildCorrupt(session, entryId, frame, $"{ValidationErrorName(reason)}: {detail}"));
            return;
        }
        // As the Java client does: tell the broker why (ack with validation_error, so the entry
        // is not redelivered forever), and give back the permits the entry used.
        Skip(session, messageCount);
        _ = SendValidationAckAsync(session, entryId, reason);
    }

    private static string ChecksumDetail(PulsarFrame frame) =>
        FrameDecoder.ReadAnnouncedChecksum(frame.MessageBytes.Span) is { } announced
            ? $"the frame announces CRC-32C 0x{announced:X8}, the content hashes to 0x{Crc32C.Compute(frame.MessageBytes.Span[6..]):X8}"
            : "checksum mismatch";

    private static string ValidationErrorName(CommandAck.Types.ValidationError reason) => reason switch
    {
        CommandAck.Types.ValidationError.ChecksumMismatch => "checksum mismatch",
        CommandAck.Types.ValidationError.BatchDeSerializeError => "batch does not deserialize",
        CommandAck.Types.ValidationError.DecompressionError => "decompression error",
        CommandAck.Types.ValidationError.UncompressedSizeCorruption => "uncompressed size corrupt",
        _ => reason.ToString(),
    };

    private PulsarMessage BuildCorrupt(Session session, MessageId entryId, PulsarFrame frame, string corruption) =>
        new(Topic, entryId, frame.MessageBytes, null, false, [], 0, 0, string.Empty, 0, false, frame.Command.Message.RedeliveryCount)
        {
            Session = session.Number,
            Corruption = corruption,
            Entry = frame.Entry,
        };

    private async Task SendValidationAckAsync(Session session, MessageId entryId, CommandAck.Types.ValidationError reason)
    {
        try
        {
            await SendAckAsync(session, CommandAck.Types.AckType.Individual, [entryId.ToProto()], reason, CancellationToken.None);
        }
        catch (PulsarException e)
        {
            Logger.LogDebug(e, "Validation ack for {MessageId} not sent", entryId);
        }
    }

    private PulsarMessage BuildSingle(Session session, MessageId id, MessageMetadata metadata, ReadOnlyMemory<byte> payload, uint redeliveryCount, EntryBuffer? entry) =>
        new(
            Topic,
            id,
            payload,
            metadata.HasPartitionKey ? metadata.PartitionKey : null,
            metadata.PartitionKeyB64Encoded,
            metadata.Properties.Count == 0 ? [] : [.. metadata.Properties.Select(p => KeyValuePair.Create(p.Key, p.Value))],
            metadata.PublishTime,
            metadata.EventTime,
            metadata.ProducerName,
            metadata.SequenceId,
            metadata.NullValue,
            redeliveryCount)
        {
            Session = session.Number,
            SchemaVersion = metadata.HasSchemaVersion ? metadata.SchemaVersion.Memory : ReadOnlyMemory<byte>.Empty,
            Entry = entry,
        };

    private PulsarMessage BuildBatched(Session session, MessageId id, MessageMetadata metadata, BatchedMessage item, uint redeliveryCount, EntryBuffer? entry)
    {
        var single = item.Fields;
        return new(
            Topic,
            id,
            item.Payload,
            single.PartitionKey,
            single.PartitionKeyB64Encoded,
            single.Properties,
            metadata.PublishTime,
            single.EventTime ?? metadata.EventTime,
            metadata.ProducerName,
            single.SequenceId ?? metadata.SequenceId + (ulong)item.Index,
            single.NullValue,
            redeliveryCount)
        {
            Session = session.Number,
            // A batch shares one schema version (the outer metadata's).
            SchemaVersion = metadata.HasSchemaVersion ? metadata.SchemaVersion.Memory : ReadOnlyMemory<byte>.Empty,
            Entry = entry,
        };
    }
}
