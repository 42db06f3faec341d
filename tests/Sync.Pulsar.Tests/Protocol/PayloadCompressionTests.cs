using System.IO.Compression;

namespace Sync.Pulsar.Tests.Protocol;

public class PayloadCompressionTests
{
    private static byte[] SampleBatch()
    {
        var items = Enumerable.Range(0, 50).Select(i => (
            new SingleMessageMetadata { PartitionKey = $"customer-{i % 7}" },
            (ReadOnlyMemory<byte>)System.Text.Encoding.UTF8.GetBytes($"{{\"id\":{i},\"name\":\"row {i}\"}}")));
        return BatchPayload.Encode(items);
    }

    [Theory]
    [MemberData(nameof(CompressionCodecs.All), MemberType = typeof(CompressionCodecs))]
    public void Batch_survives_compression_and_decompression(CompressionType compression)
    {
        var batch = SampleBatch();

        var compressed = PayloadCompression.Compress(compression, batch);
        var restored = PayloadCompression.Decompress(compression, compressed, batch.Length);

        Assert.Equal(batch, restored);
        if (compression != CompressionType.None)
        {
            Assert.True(compressed.Length < batch.Length, $"{compression} should shrink a repetitive batch");
        }
    }

    [Theory]
    [MemberData(nameof(CompressionCodecs.All), MemberType = typeof(CompressionCodecs))]
    public void Empty_payload_round_trips(CompressionType compression)
    {
        var compressed = PayloadCompression.Compress(compression, []);

        Assert.Empty(PayloadCompression.Decompress(compression, compressed, 0));
    }

    [Theory]
    [MemberData(nameof(CompressionCodecs.Compressing), MemberType = typeof(CompressionCodecs))]
    public void Wrong_uncompressed_size_is_rejected(CompressionType compression)
    {
        var batch = SampleBatch();
        var compressed = PayloadCompression.Compress(compression, batch);

        Assert.Throws<DecompressionException>(() => PayloadCompression.Decompress(compression, compressed, batch.Length - 1));
        Assert.Throws<DecompressionException>(() => PayloadCompression.Decompress(compression, compressed, batch.Length + 1));
    }

    [Theory]
    [MemberData(nameof(CompressionCodecs.Compressing), MemberType = typeof(CompressionCodecs))]
    public void Uncompressed_size_above_the_limit_is_rejected_before_allocating(CompressionType compression)
    {
        var error = Assert.Throws<DecompressionException>(
            () => PayloadCompression.Decompress(compression, [1, 2, 3], int.MaxValue, maxUncompressedSize: 1024));

        Assert.Contains("outside [0, 1024]", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(CompressionCodecs.Compressing), MemberType = typeof(CompressionCodecs))]
    public void Corrupt_data_is_reported_as_a_decompression_error(CompressionType compression)
    {
        var garbage = Enumerable.Range(0, 64).Select(i => (byte)(0xA5 ^ (i * 31))).ToArray();

        Assert.Throws<DecompressionException>(() => PayloadCompression.Decompress(compression, garbage, 500));
    }

    [Fact]
    public void A_zlib_stream_that_asks_for_a_preset_dictionary_is_a_decompression_error()
    {
        // Found by the fuzz campaign (tests/Sync.Chaos --fuzz, seed 2026) in a mutated MESSAGE frame:
        // a header with FDICT set (0x78 0x3F) makes zlib answer Z_NEED_DICT, which ZLibStream
        // reports as ZLibException, an IOException rather than an InvalidDataException.
        byte[] payload = [0x78, 0x3F, 0x00, 0x00, 0x00, 0x01, 0x4B, 0x04, 0x00];

        var e = Assert.Throws<DecompressionException>(() => PayloadCompression.Decompress(CompressionType.Zlib, payload, 1));

        Assert.Contains("ZLIB", e.Message, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void Zlib_stream_without_final_block_and_trailer_is_accepted()
    {
        // What the Java client writes: zlib header, deflate data, SYNC_FLUSH, then nothing.
        var batch = SampleBatch();
        using var buffer = new MemoryStream();
        var zlib = new ZLibStream(buffer, CompressionLevel.Optimal, leaveOpen: true);
        zlib.Write(batch);
        zlib.Flush(); // Z_SYNC_FLUSH: ends on an empty stored block 00 00 FF FF
        var truncated = buffer.ToArray();
        zlib.Dispose();
        var complete = buffer.ToArray();

        Assert.True(complete.Length > truncated.Length, "disposing must have added the final block and Adler-32");
        Assert.Equal(new byte[] { 0x00, 0x00, 0xFF, 0xFF }, truncated[^4..]);
        Assert.Equal(batch, PayloadCompression.Decompress(CompressionType.Zlib, truncated, batch.Length));
    }

    [Fact]
    public void Lz4_output_is_a_raw_block_not_a_frame()
    {
        var compressed = PayloadCompression.Compress(CompressionType.Lz4, SampleBatch());

        // The LZ4 frame format would start with the magic 04 22 4D 18.
        Assert.NotEqual(new byte[] { 0x04, 0x22, 0x4D, 0x18 }, compressed[..4]);
    }

    [Fact]
    public void Snappy_output_is_a_raw_block_starting_with_the_uncompressed_length()
    {
        var compressed = PayloadCompression.Compress(CompressionType.Snappy, new byte[300]);

        // Raw Snappy starts with the length as a varint (300 = AC 02); the framing format starts with FF 06 00 00.
        Assert.Equal(new byte[] { 0xAC, 0x02 }, compressed[..2]);
    }

    [Fact]
    public void Zstd_output_is_a_standard_frame()
    {
        var compressed = PayloadCompression.Compress(CompressionType.Zstd, SampleBatch());

        Assert.Equal(new byte[] { 0x28, 0xB5, 0x2F, 0xFD }, compressed[..4]);
    }
}
