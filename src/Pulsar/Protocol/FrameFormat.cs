namespace Sync.Pulsar.Protocol;

/// <summary>Constants of the framing layer.</summary>
public static class FrameFormat
{
    /// <summary>Magic that introduces CRC-32C + metadata on payload commands.</summary>
    public const ushort ChecksumMagic = 0x0e01;

    /// <summary>Magic that introduces broker-entry metadata (broker to client only).</summary>
    public const ushort BrokerEntryMetadataMagic = 0x0e02;

    /// <summary>
    /// The broker's default maxMessageSize (5 MiB). The broker may announce another value in
    /// CONNECTED.max_message_size.
    /// </summary>
    public const int DefaultMaxMessageSize = 5 * 1024 * 1024;

    /// <summary>
    /// Room for command and metadata around a maximum-sized payload; the Java broker adds the same
    /// 10 KiB padding (Commands.MESSAGE_SIZE_FRAME_PADDING) when it sizes its frame decoder.
    /// </summary>
    public const int FramePadding = 10 * 1024;

    /// <summary>Largest frame (including the 4-byte totalSize) accepted by default.</summary>
    public const int DefaultMaxFrameSize = DefaultMaxMessageSize + FramePadding;
}
