using System.Buffers.Binary;
using Google.Protobuf;
using Sync.Testing.Logging;
using ValidationError = Sync.Pulsar.Protocol.Proto.CommandAck.Types.ValidationError;

namespace Sync.Pulsar.Tests.Client;

/// <summary>
/// A broker that sends what no broker should, on a live connection with a consumer and a
/// producer on it. Frames whose own sizes or command lie make the client close that connection
/// with an error naming the problem and reconnect; an entry that is corrupt inside a sound frame
/// is discarded (or handed over as corrupt) and the connection goes on, as in the Java client.
/// </summary>
public class HostileBrokerTests : ClientTestBase
{
    private readonly RecordingLoggerFactory _logs = new();

    protected override PulsarClientOptions ClientOptions(Uri serviceUrl) => base.ClientOptions(serviceUrl) with { LoggerFactory = _logs };

    /// <summary>A hostile frame: its bytes, whether the broker closes after them, and what the client must say.</summary>
    public sealed record HostileFrame(string Name, byte[] Bytes, bool ThenClose, Type Error, string Says, long ClaimedBytes)
    {
        public override string ToString() => Name;
    }

    public static TheoryData<HostileFrame> HostileFrames() =>
    [
        new("totalSize of 2 GiB", Header(0x7FFF_FFF0, 4), false, typeof(FrameTooLargeException),
            "frame of 2147483636 bytes exceeds the maximum frame size of 5253120 bytes", 0x7FFF_FFF0),
        new("totalSize 0xFFFFFFFF (-1 as a signed int)", Header(0xFFFF_FFFF, 4), false, typeof(FrameTooLargeException),
            "frame of 4294967299 bytes exceeds the maximum frame size", 0xFFFF_FFFF),
        new("totalSize one byte over maxMessageSize plus padding", Header(FrameFormat.DefaultMaxFrameSize - 3, 0), false, typeof(FrameTooLargeException),
            $"frame of {FrameFormat.DefaultMaxFrameSize + 1} bytes exceeds the maximum frame size of {FrameFormat.DefaultMaxFrameSize} bytes", FrameFormat.DefaultMaxFrameSize),
        new("totalSize smaller than the commandSize field", Header(2, 0), false, typeof(PulsarProtocolException),
            "frame totalSize 2 is smaller than its commandSize field", 0),
        new("commandSize larger than the frame", Frame(100, new byte[4]), false, typeof(PulsarProtocolException),
            "commandSize 100 exceeds the 4 bytes left in the frame", 0),
        new("commandSize 0xFFFFFFFF", Frame(0xFFFF_FFFF, new byte[4]), false, typeof(PulsarProtocolException),
            "commandSize 4294967295 exceeds the 4 bytes left in the frame", 0),
        new("an unknown command type (999)", Command([0x08, 0xE7, 0x07]), false, typeof(PulsarProtocolException),
            "BaseCommand type 999 is not a known command", 0),
        new("command bytes that are not protobuf", Command([0xFF, 0xFF, 0xFF, 0xFF]), false, typeof(PulsarProtocolException),
            "BaseCommand does not parse", 0),
        new("a frame cut short by the broker closing", [.. Header(100, 0), .. new byte[10]], true, typeof(PulsarProtocolException),
            "stream ended inside a frame (14 bytes of it received)", 0),
    ];

    [Theory]
    [MemberData(nameof(HostileFrames))]
    public async Task A_hostile_frame_closes_the_connection_with_an_error_naming_it_and_the_consumer_reconnects(HostileFrame hostile)
    {
        // With ack receipts, "before" is acknowledged at the broker before the hostile frame comes;
        // a fire-and-forget ack could still be in flight when the connection drops, and the broker
        // would then rightly deliver "before" again after the reconnect.
        await using var consumer = await ConsumerAsync(ackReceipts: true);
        await using var producer = await ProducerAsync();
        var states = new List<PulsarObjectState>();
        consumer.StateChanged += (_, e) => { lock (states) { states.Add(e.Current); } };
        await producer.SendAsync(new OutgoingMessage { Data = "before"u8.ToArray() });
        await consumer.AcknowledgeAsync((await ReceiveAsync(consumer, 1))[0].Id);
        var allocatedBefore = GC.GetTotalAllocatedBytes(precise: true);

        Broker.SendRawBytes(hostile.Bytes, hostile.ThenClose);
        var error = await ProtocolErrorLoggedAsync(hostile.Says);
        var allocated = GC.GetTotalAllocatedBytes(precise: true) - allocatedBefore;
        await producer.SendAsync(new OutgoingMessage { Data = "after"u8.ToArray() });
        var received = await ReceiveDistinctAsync(consumer, 1);

        Assert.IsType(hostile.Error, error);
        Assert.Equal(["after"], received);
        Assert.True(Broker.Received(BaseCommand.Types.Type.Connect) >= 2, "the client connected again");
        lock (states)
        {
            Assert.Contains(PulsarObjectState.Reconnecting, states);
        }
        if (hostile.ClaimedBytes >= 1L << 30)
        {
            // Everything the whole test process allocated meanwhile, parallel tests included: far
            // below what the frame claimed, so the claim was never allocated.
            Assert.True(allocated < hostile.ClaimedBytes / 4, $"{allocated} bytes allocated after a frame claiming {hostile.ClaimedBytes}");
        }
    }

    /// <summary>An entry corrupt inside a sound MESSAGE frame: how to corrupt it, the ack reason, what the client must say.</summary>
    public sealed record CorruptEntry(string Name, Func<byte[], byte[]> Corrupt, ValidationError Reason, string Says)
    {
        public override string ToString() => Name;
    }

    public static TheoryData<CorruptEntry> CorruptEntries() =>
    [
        new("a payload byte changed under the checksum", FlipLastByte, ValidationError.ChecksumMismatch, "the content hashes to 0x"),
        new("a metadataSize larger than the entry", LyingMetadataSize, ValidationError.ChecksumMismatch, "metadataSize 2147483647 exceeds the"),
        new("metadata that is not protobuf", GarbageMetadata, ValidationError.ChecksumMismatch, "message metadata does not parse"),
        new("num_messages_in_batch larger than the batch holds", bytes => AsBatch(bytes, items: 3, announced: 5), ValidationError.BatchDeSerializeError,
            "batch ends before message 3 of 5"),
        new("num_messages_in_batch smaller than the batch holds", bytes => AsBatch(bytes, items: 3, announced: 2), ValidationError.BatchDeSerializeError,
            "num_messages_in_batch (2) leaves"),
        new("num_messages_in_batch zero", bytes => AsBatch(bytes, items: 3, announced: 0), ValidationError.BatchDeSerializeError,
            "num_messages_in_batch (0) announces an empty batch"),
        new("num_messages_in_batch negative", bytes => AsBatch(bytes, items: 3, announced: -1), ValidationError.BatchDeSerializeError,
            "num_messages_in_batch (-1) must not be negative"),
        new("num_messages_in_batch 2^31-1", bytes => AsBatch(bytes, items: 3, announced: int.MaxValue), ValidationError.BatchDeSerializeError,
            "num_messages_in_batch (2147483647) cannot fit"),
    ];

    [Theory]
    [MemberData(nameof(CorruptEntries))]
    public async Task A_corrupt_entry_is_discarded_with_a_validation_ack_naming_the_reason_and_the_connection_goes_on(CorruptEntry corrupt)
    {
        await using var consumer = await ConsumerAsync();
        await using var producer = await ProducerAsync();
        Broker.Faults.RewriteNextDeliveries(1, corrupt.Corrupt);

        await producer.SendAsync(new OutgoingMessage { Data = "corrupted on the way"u8.ToArray() });
        await producer.SendAsync(new OutgoingMessage { Data = "fine"u8.ToArray() });
        var message = (await ReceiveAsync(consumer, 1))[0];

        Assert.Equal("fine", Encoding.UTF8.GetString(message.Data.Span));
        Assert.Null(message.Corruption);
        await EventuallyAsync(() => Broker.ValidationAcks(corrupt.Reason) == 1, $"the broker got an ack with validation_error {corrupt.Reason}");
        Assert.True(Broker.FindTopic(Topic)!.FindSubscription("sub")!.IsAcknowledged(0));
        Assert.Equal(1, Broker.Received(BaseCommand.Types.Type.Connect));
        Assert.Contains(_logs.Entries, e => e.Message.Contains("Discarding corrupt message", StringComparison.Ordinal) && e.Message.Contains(corrupt.Says, StringComparison.Ordinal));
    }

    [Theory]
    [MemberData(nameof(CorruptEntries))]
    public async Task With_DeliverCorruptMessages_a_corrupt_entry_arrives_flagged_with_its_reason_and_raw_bytes_and_waits_for_an_ack(CorruptEntry corrupt)
    {
        await using var consumer = (PulsarConsumer)await Client.SubscribeAsync(new ConsumerOptions
        {
            Topic = Topic,
            SubscriptionName = "sub",
            InitialPosition = SubscriptionInitialPosition.Earliest,
            DeliverCorruptMessages = true,
        });
        await using var producer = await ProducerAsync();
        byte[]? sent = null;
        Broker.Faults.RewriteNextDeliveries(1, bytes => sent = corrupt.Corrupt(bytes));

        await producer.SendAsync(new OutgoingMessage { Data = "corrupted on the way"u8.ToArray() });
        await producer.SendAsync(new OutgoingMessage { Data = "fine"u8.ToArray() });
        var messages = await ReceiveAsync(consumer, 2);

        Assert.Contains(corrupt.Says, messages[0].Corruption, StringComparison.Ordinal);
        Assert.Equal(sent, messages[0].Data.ToArray());
        Assert.Equal((0ul, -1), (messages[0].Id.EntryId, messages[0].Id.BatchIndex));
        Assert.Equal("fine", Encoding.UTF8.GetString(messages[1].Data.Span));
        Assert.False(Broker.FindTopic(Topic)!.FindSubscription("sub")!.IsAcknowledged(0), "not acknowledged before the application does");
        await consumer.AcknowledgeAsync(messages[0].Id);
        await EventuallyAsync(() => Broker.FindTopic(Topic)!.FindSubscription("sub")!.IsAcknowledged(0), "the application's ack reached the broker");
        Assert.Equal(0, Broker.ValidationAcks(corrupt.Reason));
    }

    private async Task<Exception> ProtocolErrorLoggedAsync(string says)
    {
        LogEntry? entry = null;
        await EventuallyAsync(
            () => (entry = _logs.Entries.FirstOrDefault(e => e.Message.StartsWith("Protocol error from", StringComparison.Ordinal))) is not null,
            "the client logged a protocol error");
        Assert.Contains(says, entry!.Exception!.Message, StringComparison.Ordinal);
        return entry.Exception;
    }

    /// <summary>A totalSize field and <paramref name="extra"/> bytes after it.</summary>
    private static byte[] Header(uint totalSize, int extra)
    {
        var bytes = new byte[4 + extra];
        BinaryPrimitives.WriteUInt32BigEndian(bytes, totalSize);
        return bytes;
    }

    /// <summary>A frame whose totalSize is right and whose commandSize is <paramref name="commandSize"/>.</summary>
    private static byte[] Frame(uint commandSize, byte[] rest)
    {
        var bytes = new byte[8 + rest.Length];
        BinaryPrimitives.WriteUInt32BigEndian(bytes, (uint)(4 + rest.Length));
        BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(4), commandSize);
        rest.CopyTo(bytes, 8);
        return bytes;
    }

    /// <summary>A frame with consistent sizes around <paramref name="command"/> bytes.</summary>
    private static byte[] Command(byte[] command) => Frame((uint)command.Length, command);

    private static byte[] FlipLastByte(byte[] entry)
    {
        var bytes = (byte[])entry.Clone();
        bytes[^1] ^= 0x01;
        return bytes;
    }

    /// <summary>The entry's metadata and payload as stored (magic, checksum, metadataSize, metadata, payload).</summary>
    private static (MessageMetadata Metadata, byte[] Payload) Parse(byte[] entry)
    {
        var frame = FrameDecoder.DecodeMessagePart(new BaseCommand { Type = BaseCommand.Types.Type.Message }, entry);
        return (frame.Metadata!, frame.Payload.ToArray());
    }

    /// <summary>Magic, a correct CRC-32C over what follows, then <paramref name="checksummed"/>: only the inside lies.</summary>
    private static byte[] WithChecksum(byte[] checksummed)
    {
        var bytes = new byte[6 + checksummed.Length];
        BinaryPrimitives.WriteUInt16BigEndian(bytes, FrameFormat.ChecksumMagic);
        BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(2), Crc32C.Compute(checksummed));
        checksummed.CopyTo(bytes, 6);
        return bytes;
    }

    private static byte[] LyingMetadataSize(byte[] entry)
    {
        var checksummed = entry[6..];
        BinaryPrimitives.WriteUInt32BigEndian(checksummed, int.MaxValue);
        return WithChecksum(checksummed);
    }

    private static byte[] GarbageMetadata(byte[] entry)
    {
        var (_, payload) = Parse(entry);
        byte[] garbage = [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF];
        var checksummed = new byte[4 + garbage.Length + payload.Length];
        BinaryPrimitives.WriteUInt32BigEndian(checksummed, (uint)garbage.Length);
        garbage.CopyTo(checksummed, 4);
        payload.CopyTo(checksummed, 4 + garbage.Length);
        return WithChecksum(checksummed);
    }

    /// <summary>The entry turned into a batch of <paramref name="items"/> copies whose metadata announces <paramref name="announced"/>.</summary>
    private static byte[] AsBatch(byte[] entry, int items, int announced)
    {
        var (metadata, payload) = Parse(entry);
        var batch = BatchPayload.Encode(Enumerable.Range(0, items).Select(_ => (new SingleMessageMetadata(), (ReadOnlyMemory<byte>)payload)));
        metadata.NumMessagesInBatch = announced;
        return FrameEncoder.EncodeMessagePart(metadata, batch);
    }
}
