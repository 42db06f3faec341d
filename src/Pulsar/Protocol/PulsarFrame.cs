namespace Sync.Pulsar.Protocol;

/// <summary>
/// One decoded frame. Simple commands carry only <see cref="Command"/>; payload commands
/// (SEND, MESSAGE) also carry the message metadata and payload.
/// </summary>
public sealed class PulsarFrame
{
    public PulsarFrame(BaseCommand command) => Command = command;

    public PulsarFrame(
        BaseCommand command,
        MessageMetadata metadata,
        ReadOnlyMemory<byte> payload,
        ReadOnlyMemory<byte> messageBytes,
        BrokerEntryMetadata? brokerEntryMetadata,
        bool hasChecksum,
        bool checksumMatches)
    {
        Command = command;
        Metadata = metadata;
        Payload = payload;
        MessageBytes = messageBytes;
        BrokerEntryMetadata = brokerEntryMetadata;
        HasChecksum = hasChecksum;
        ChecksumMatches = checksumMatches;
    }

    /// <summary>
    /// A MESSAGE whose message part (metadata size, metadata) does not decode. The frame itself
    /// was well formed, so the connection stays usable: the consumer discards this one entry, as
    /// the Java client does when parseMessageMetadata fails.
    /// </summary>
    public PulsarFrame(BaseCommand command, ReadOnlyMemory<byte> messageBytes, string corruption)
    {
        Command = command;
        MessageBytes = messageBytes;
        Corruption = corruption;
        ChecksumMatches = false;
    }

    public BaseCommand Command { get; }

    /// <summary>Why the message part of a MESSAGE could not be decoded; null when it could.</summary>
    public string? Corruption { get; }

    /// <summary>Message metadata of a payload command; null for a simple command.</summary>
    public MessageMetadata? Metadata { get; }

    /// <summary>The bytes after the metadata: one message, or a whole (possibly compressed) batch.</summary>
    public ReadOnlyMemory<byte> Payload { get; }

    /// <summary>
    /// Everything from the 0x0e01 magic (or from metadataSize when the sender used the old
    /// format without magic) to the end of the frame. A broker stores exactly these bytes and
    /// replays them in MESSAGE frames, so the fake broker keeps this slice as the entry.
    /// </summary>
    public ReadOnlyMemory<byte> MessageBytes { get; }

    /// <summary>Present when the broker prepended broker-entry metadata (magic 0x0e02).</summary>
    public BrokerEntryMetadata? BrokerEntryMetadata { get; }

    /// <summary>True when the message part started with the 0x0e01 magic and a CRC-32C.</summary>
    public bool HasChecksum { get; }

    /// <summary>
    /// False only when a checksum was present and did not match. The decoder does not throw on
    /// a mismatch because the right reaction depends on the side: a broker answers SEND_ERROR
    /// ChecksumError, a consumer acks with validation_error ChecksumMismatch and goes on.
    /// </summary>
    public bool ChecksumMatches { get; } = true;

    public bool HasPayload => Metadata is not null;

    /// <summary>The pooled buffer <see cref="MessageBytes"/> lies in, held by the frame until its
    /// reader released it after dispatch; null when the bytes are an array of their own.</summary>
    internal EntryBuffer? Entry { get; set; }
}
