using System.Text;

namespace Sync.Pulsar;

/// <summary>
/// The hash of a topic list that GET_TOPICS_OF_NAMESPACE exchanges so an unchanged list need
/// not be sent again: CRC-32C of the sorted names joined by ",", written as the four CRC bytes
/// little-endian in lowercase hex (Guava's HashCode.toString of crc32c).
/// </summary>
public static class TopicListHash
{
    public static string Compute(IEnumerable<string> topics)
    {
        var joined = string.Join(',', topics.Order(StringComparer.Ordinal));
        var crc = Crc32C.Compute(Encoding.UTF8.GetBytes(joined));
        Span<byte> bytes = stackalloc byte[4];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(bytes, crc);
        return Convert.ToHexStringLower(bytes);
    }
}
