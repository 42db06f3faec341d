using System.IO.Compression;
using K4os.Compression.LZ4;
using Snappier;
using ZstdSharp;

namespace Sync.Pulsar.Protocol;

/// <summary>
/// The payload codecs of MessageMetadata.compression, in the exact container formats Pulsar
/// clients use: LZ4 raw block (not the LZ4 frame format), zlib, a standard zstd frame, and a
/// raw Snappy block (not the framing format).
/// </summary>
public static class PayloadCompression
{
    /// <summary>Compresses a whole (batch) payload.</summary>
    public static byte[] Compress(CompressionType compression, ReadOnlySpan<byte> input)
    {
        switch (compression)
        {
            case CompressionType.None:
                return input.ToArray();
            case CompressionType.Lz4:
                {
                    var output = new byte[LZ4Codec.MaximumOutputSize(input.Length)];
                    var written = LZ4Codec.Encode(input, output);
                    return output.AsSpan(0, written).ToArray();
                }
            case CompressionType.Zlib:
                {
                    using var buffer = new MemoryStream();
                    using (var zlib = new ZLibStream(buffer, CompressionLevel.Fastest, leaveOpen: true))
                    {
                        zlib.Write(input);
                    }
                    return buffer.ToArray();
                }
            case CompressionType.Zstd:
                {
                    using var compressor = new Compressor();
                    return compressor.Wrap(input).ToArray();
                }
            case CompressionType.Snappy:
                {
                    var output = new byte[Snappy.GetMaxCompressedLength(input.Length)];
                    var written = Snappy.Compress(input, output);
                    return output.AsSpan(0, written).ToArray();
                }
            default:
                throw new ArgumentOutOfRangeException(nameof(compression), compression, "unknown compression type");
        }
    }

    /// <summary>
    /// Decompresses a payload whose metadata announced <paramref name="uncompressedSize"/> bytes.
    /// The announced size is checked against <paramref name="maxUncompressedSize"/> before any
    /// allocation, and the output must have exactly the announced size.
    /// </summary>
    /// <exception cref="DecompressionException">The data is corrupt or does not match its size.</exception>
    public static byte[] Decompress(
        CompressionType compression,
        ReadOnlySpan<byte> input,
        int uncompressedSize,
        int maxUncompressedSize = FrameFormat.DefaultMaxMessageSize)
    {
        if (compression == CompressionType.None)
        {
            return input.ToArray();
        }
        if (uncompressedSize < 0 || uncompressedSize > maxUncompressedSize)
        {
            throw new DecompressionException(
                compression, $"uncompressed_size {uncompressedSize} is outside [0, {maxUncompressedSize}]");
        }

        var output = new byte[uncompressedSize];
        int produced;
        try
        {
            produced = compression switch
            {
                CompressionType.Lz4 => LZ4Codec.Decode(input, output),
                CompressionType.Zlib => InflateZlib(input, output),
                CompressionType.Zstd => DecompressZstd(input, output),
                CompressionType.Snappy => DecompressSnappy(input, output),
                _ => throw new DecompressionException(compression, "unknown compression type"),
            };
        }
        // IOException: zlib's own refusals (e.g. Z_NEED_DICT for a header asking for a preset
        // dictionary) come as ZLibException; the input is in memory, so no other I/O can fail.
        catch (Exception e) when (e is InvalidDataException or IOException or ZstdException or ArgumentException or InvalidOperationException)
        {
            throw new DecompressionException(compression, e.Message, e);
        }

        if (produced != uncompressedSize)
        {
            throw new DecompressionException(
                compression, $"produced {produced} bytes but uncompressed_size says {uncompressedSize}");
        }
        return output;
    }

    private static int InflateZlib(ReadOnlySpan<byte> input, byte[] output)
    {
        // The Java client flushes with SYNC_FLUSH and never writes the final block or the Adler-32
        // trailer, so we stop as soon as the announced size is produced instead of reading to the
        // end of the stream (where a strict inflater would complain about the missing trailer).
        using var source = new MemoryStream(input.ToArray(), writable: false);
        using var zlib = new ZLibStream(source, CompressionMode.Decompress);
        var produced = zlib.ReadAtLeast(output, output.Length, throwOnEndOfStream: false);
        if (produced == output.Length && HasMoreData(zlib))
        {
            return produced + 1;
        }
        return produced;
    }

    private static bool HasMoreData(Stream stream)
    {
        Span<byte> probe = stackalloc byte[1];
        try
        {
            return stream.Read(probe) > 0;
        }
        catch (InvalidDataException)
        {
            // A truncated stream (no final block) ends here; that is the Java client's format.
            return false;
        }
    }

    private static int DecompressZstd(ReadOnlySpan<byte> input, byte[] output)
    {
        using var decompressor = new Decompressor();
        return decompressor.Unwrap(input, output);
    }

    private static int DecompressSnappy(ReadOnlySpan<byte> input, byte[] output)
    {
        var length = Snappy.GetUncompressedLength(input);
        if (length != output.Length)
        {
            return length;
        }
        return Snappy.Decompress(input, output);
    }
}
