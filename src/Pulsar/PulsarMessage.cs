namespace Sync.Pulsar;

/// <summary>A message as a consumer receives it.</summary>
public sealed class PulsarMessage
{
    internal PulsarMessage(
        string topic,
        MessageId id,
        ReadOnlyMemory<byte> data,
        string? key,
        bool keyIsBase64,
        IReadOnlyList<KeyValuePair<string, string>> properties,
        ulong publishTimeMs,
        ulong eventTimeMs,
        string producerName,
        ulong sequenceId,
        bool isNullValue,
        uint redeliveryCount)
    {
        Topic = topic;
        Id = id;
        Data = data;
        Key = key;
        KeyIsBase64 = keyIsBase64;
        Properties = properties;
        PublishTimeMs = publishTimeMs;
        EventTimeMs = eventTimeMs;
        ProducerName = producerName;
        SequenceId = sequenceId;
        IsNullValue = isNullValue;
        RedeliveryCount = redeliveryCount;
    }

    public string Topic { get; }

    public MessageId Id { get; }

    /// <summary>The payload; empty for a tombstone.</summary>
    public ReadOnlyMemory<byte> Data { get; }

    /// <summary>The partition key as sent; base64 text when <see cref="KeyIsBase64"/>.</summary>
    public string? Key { get; }

    /// <summary>True when the producer flagged the key as base64 of binary key bytes (partition_key_b64_encoded).</summary>
    public bool KeyIsBase64 { get; }

    /// <summary>The key's bytes: base64-decoded when flagged, else the UTF-8 of the key.</summary>
    public byte[]? KeyBytes => Key is null ? null : KeyIsBase64 ? Convert.FromBase64String(Key) : System.Text.Encoding.UTF8.GetBytes(Key);

    public IReadOnlyList<KeyValuePair<string, string>> Properties { get; }

    /// <summary>Broker-assigned publish time in Unix milliseconds.</summary>
    public ulong PublishTimeMs { get; }

    /// <summary>Application event time in Unix milliseconds; 0 when the producer did not set one.</summary>
    public ulong EventTimeMs { get; }

    public string ProducerName { get; }

    public ulong SequenceId { get; }

    /// <summary>True for a tombstone (null_value): the key is deleted, compaction removes it.</summary>
    public bool IsNullValue { get; }

    /// <summary>How often the broker delivered this message before (Shared and Key_Shared subscriptions).</summary>
    public uint RedeliveryCount { get; }

    /// <summary>
    /// Why this entry could not be decoded (checksum mismatch, a batch that does not split, ...);
    /// null for a good message. Only delivered with <see cref="ConsumerOptions.DeliverCorruptMessages"/>:
    /// then <see cref="Data"/> holds the entry's raw message bytes as received.
    /// </summary>
    public string? Corruption { get; init; }

    /// <summary>The schema version the producer named (MessageMetadata.schema_version); empty when
    /// none. <see cref="PulsarClient.GetSchemaAsync"/> turns it into the schema.</summary>
    public ReadOnlyMemory<byte> SchemaVersion { get; init; }

    /// <summary>Which subscription session of the consumer received it (stale ones are dropped).</summary>
    internal int Session { get; init; }

    /// <summary>The pooled buffer <see cref="Data"/> lies in, with a hold taken for this message when
    /// it was queued; null when the data is an array of its own.</summary>
    internal EntryBuffer? Entry { get; init; }

    private int _released;

    /// <summary>
    /// Says that nothing reads <see cref="Data"/> (or any slice of it) any more. With <see cref="PulsarClientOptions.EntryBufferPool"/>, the entry's array goes
    /// back to the pool once every message delivered from it was released, and may then hold another
    /// entry's bytes; without it, nothing happens. Releasing a message twice counts once.
    /// </summary>
    public void ReleaseBuffer()
    {
        if (Entry is { } entry && Interlocked.Exchange(ref _released, 1) == 0)
        {
            entry.Release();
        }
    }
}
