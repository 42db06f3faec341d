namespace Sync.Pulsar.Tests;

/// <summary>The codecs of a message's <c>compression</c> field (PulsarApi.proto, <c>CompressionType</c>), as theory data.</summary>
internal static class CompressionCodecs
{
    /// <summary>Every codec, <c>NONE</c> included.</summary>
    public static TheoryData<CompressionType> All => [CompressionType.None, CompressionType.Lz4, CompressionType.Zlib, CompressionType.Zstd, CompressionType.Snappy];

    /// <summary>The codecs that compress.</summary>
    public static TheoryData<CompressionType> Compressing => [CompressionType.Lz4, CompressionType.Zlib, CompressionType.Zstd, CompressionType.Snappy];
}
