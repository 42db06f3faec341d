using System.Numerics;

namespace Sync.Pulsar;

/// <summary>How a keyed message picks its partition (the Java client's HashingScheme).</summary>
public enum HashingScheme
{
    /// <summary>
    /// Java's <c>String.hashCode()</c> of the key, masked to a positive int: the Java client's
    /// default, and so what Pulsar IO and Debezium producers use. Keep it to land a tombstone in
    /// the partition that holds the key's earlier messages.
    /// </summary>
    JavaStringHash,

    /// <summary>MurmurHash3 (x86, 32-bit, seed 0) of the key's UTF-8 bytes, masked to a positive int.</summary>
    Murmur3_32Hash,
}
