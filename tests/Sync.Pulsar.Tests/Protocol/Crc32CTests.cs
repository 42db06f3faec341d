namespace Sync.Pulsar.Tests.Protocol;

public class Crc32CTests
{
    [Fact]
    public void Check_value_of_the_Castagnoli_polynomial_is_produced()
    {
        // The catalogue check value of CRC-32C; the IEEE CRC-32 would give 0xCBF43926 instead.
        Assert.Equal(0xE3069283u, Crc32C.Compute(Encoding.ASCII.GetBytes("123456789")));
    }

    [Fact]
    public void DotPulsar_test_vector_is_reproduced()
    {
        // From DotPulsar's Crc32C tests (public test data).
        byte[] bytes = [0x10, 0x01, 0x18, 0xc9, 0xf8, 0x86, 0x94, 0xeb, 0x2c];
        Assert.Equal(2355953212u, Crc32C.Compute(bytes));
    }

    [Fact]
    public void DotPulsar_two_segment_vector_is_reproduced_across_segments()
    {
        byte[] first =
        [
            0x0a, 0x0f, 0x73, 0x74, 0x61, 0x6e, 0x64, 0x61, 0x6c, 0x6f,
            0x6e, 0x65, 0x2d, 0x33, 0x30, 0x2d, 0x35, 0x10, 0x00, 0x18,
            0xc7, 0xee, 0xa3, 0x93, 0xeb, 0x2c, 0x58, 0x01,
        ];
        byte[] second = [0x10, 0x01, 0x18, 0xc9, 0xf8, 0x86, 0x94, 0xeb, 0x2c];

        Assert.Equal(1079987866u, Crc32C.Compute(Sequences.Of(first, second)));
        Assert.Equal(1079987866u, Crc32C.Finish(Crc32C.Update(Crc32C.Update(Crc32C.InitialState, first), second)));
    }

    [Fact]
    public void Empty_input_hashes_to_zero()
    {
        Assert.Equal(0u, Crc32C.Compute(ReadOnlySpan<byte>.Empty));
    }

    [Fact]
    public void Any_split_of_the_input_gives_the_same_checksum()
    {
        var data = Enumerable.Range(0, 100).Select(i => (byte)(i * 7)).ToArray();
        var whole = Crc32C.Compute(data);
        for (var split = 0; split <= data.Length; split++)
        {
            Assert.Equal(whole, Crc32C.Compute(Sequences.Of(data[..split], data[split..])));
        }
    }
}
