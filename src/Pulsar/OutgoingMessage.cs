namespace Sync.Pulsar;

/// <summary>A message to produce.</summary>
public sealed record OutgoingMessage
{
    /// <summary>The payload. Empty together with <see cref="IsNullValue"/> makes a tombstone.</summary>
    public ReadOnlyMemory<byte> Data { get; init; }

    /// <summary>A text key, sent as partition_key. Mutually exclusive with <see cref="KeyBytes"/>.</summary>
    public string? Key { get; init; }

    /// <summary>A binary key, sent base64-encoded with partition_key_b64_encoded = true.</summary>
    public ReadOnlyMemory<byte>? KeyBytes { get; init; }

    public IReadOnlyDictionary<string, string>? Properties { get; init; }

    /// <summary>Application event time in Unix milliseconds; not sent when null.</summary>
    public ulong? EventTimeMs { get; init; }

    /// <summary>
    /// Marks the message as a tombstone (null_value = true). Its payload must be empty: compaction
    /// treats the key as deleted and removes it from the compacted view.
    /// </summary>
    public bool IsNullValue { get; init; }

    /// <summary>A tombstone for a text key.</summary>
    public static OutgoingMessage Tombstone(string key) => new() { Key = key, IsNullValue = true };

    /// <summary>A tombstone for a binary key (base64-flagged).</summary>
    public static OutgoingMessage Tombstone(ReadOnlyMemory<byte> keyBytes) => new() { KeyBytes = keyBytes, IsNullValue = true };
}
