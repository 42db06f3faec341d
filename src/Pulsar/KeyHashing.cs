using System.Numerics;
using System.Text;

namespace Sync.Pulsar;

/// <summary>Key to partition routing exactly as the Java client computes it.</summary>
public static class KeyHashing
{
    /// <summary>Partition of <paramref name="key"/> among <paramref name="partitions"/>: signSafeMod(hash(key), partitions).</summary>
    public static int PartitionFor(string key, int partitions, HashingScheme scheme = HashingScheme.JavaStringHash)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentOutOfRangeException.ThrowIfLessThan(partitions, 1);
        var hash = scheme switch
        {
            HashingScheme.JavaStringHash => JavaStringHash(key),
            HashingScheme.Murmur3_32Hash => Murmur3_32(Encoding.UTF8.GetBytes(key)) & int.MaxValue,
            _ => throw new ArgumentOutOfRangeException(nameof(scheme), scheme, "unknown hashing scheme"),
        };
        // Both hashes are masked positive already; signSafeMod only matters for negative input.
        var mod = hash % partitions;
        return mod < 0 ? mod + partitions : mod;
    }

    /// <summary>
    /// The Key_Shared slot of a sticky key, as the broker computes it: Murmur3_32 of the key bytes
    /// (ordering key, else partition key; a base64-flagged partition key is decoded first), masked
    /// positive, modulo <see cref="KeySharedPolicy.HashRangeSize"/>. Recent brokers move slot 0 to
    /// 1 (0 marks "no hash" in their dispatcher); so do we, which only matters for a range [0, 0].
    /// </summary>
    public static int StickyKeyHash(ReadOnlySpan<byte> stickyKey)
    {
        var slot = (Murmur3_32(stickyKey) & int.MaxValue) % KeySharedPolicy.HashRangeSize;
        return slot == 0 ? 1 : slot;
    }

    /// <summary>Java's <c>String.hashCode() &amp; Integer.MAX_VALUE</c>: s[0]*31^(n-1) + ... over UTF-16 code units.</summary>
    public static int JavaStringHash(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        var hash = 0;
        foreach (var c in value)
        {
            hash = unchecked((31 * hash) + c);
        }
        return hash & int.MaxValue;
    }

    /// <summary>MurmurHash3_x86_32 with seed 0, unmasked.</summary>
    public static int Murmur3_32(ReadOnlySpan<byte> data)
    {
        const uint c1 = 0xcc9e2d51;
        const uint c2 = 0x1b873593;
        uint h1 = 0;
        var blocks = data.Length / 4;
        for (var i = 0; i < blocks; i++)
        {
            var k1 = BinaryPrimitives.ReadUInt32LittleEndian(data[(i * 4)..]);
            k1 = BitOperations.RotateLeft(k1 * c1, 15) * c2;
            h1 ^= k1;
            h1 = (BitOperations.RotateLeft(h1, 13) * 5) + 0xe6546b64;
        }
        uint tail = 0;
        var rest = data[(blocks * 4)..];
        for (var i = rest.Length - 1; i >= 0; i--)
        {
            tail = (tail << 8) | rest[i];
        }
        if (rest.Length > 0)
        {
            h1 ^= BitOperations.RotateLeft(tail * c1, 15) * c2;
        }
        h1 ^= (uint)data.Length;
        h1 ^= h1 >> 16;
        h1 *= 0x85ebca6b;
        h1 ^= h1 >> 13;
        h1 *= 0xc2b2ae35;
        h1 ^= h1 >> 16;
        return unchecked((int)h1);
    }
}
