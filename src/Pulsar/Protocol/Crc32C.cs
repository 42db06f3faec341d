using System.Numerics;

namespace Sync.Pulsar.Protocol;

/// <summary>
/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78, init and xor-out 0xFFFFFFFF), the
/// checksum Pulsar puts after the 0x0e01 magic. System.IO.Hashing.Crc32 is the IEEE
/// polynomial and would silently produce wrong checksums, hence this type.
/// </summary>
public static class Crc32C
{
    /// <summary>The register value before any byte is fed.</summary>
    public const uint InitialState = 0xFFFFFFFF;

    /// <summary>CRC-32C of <paramref name="data"/>.</summary>
    public static uint Compute(ReadOnlySpan<byte> data) => Finish(Update(InitialState, data));

    /// <summary>CRC-32C of a possibly segmented buffer.</summary>
    public static uint Compute(in ReadOnlySequence<byte> data)
    {
        var state = InitialState;
        foreach (var segment in data)
        {
            state = Update(state, segment.Span);
        }
        return Finish(state);
    }

    /// <summary>
    /// Feeds <paramref name="data"/> into a running register. Start from <see cref="InitialState"/>
    /// and call <see cref="Finish"/> at the end; this lets the frame writer checksum metadata and
    /// payload that live in different buffers without copying them together.
    /// </summary>
    public static uint Update(uint state, ReadOnlySpan<byte> data)
    {
        // BitOperations.Crc32C uses the SSE4.2 / ARMv8 CRC instruction where present and a
        // software table otherwise; eight bytes per step is where the hardware path pays off.
        while (data.Length >= sizeof(ulong))
        {
            state = BitOperations.Crc32C(state, BinaryPrimitives.ReadUInt64LittleEndian(data));
            data = data[sizeof(ulong)..];
        }
        foreach (var b in data)
        {
            state = BitOperations.Crc32C(state, b);
        }
        return state;
    }

    /// <summary>Applies the final xor-out to a running register.</summary>
    public static uint Finish(uint state) => ~state;
}
