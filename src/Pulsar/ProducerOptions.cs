namespace Sync.Pulsar;

/// <summary>Settings of a producer.</summary>
public sealed record ProducerOptions
{
    /// <summary>The topic, e.g. <c>persistent://public/default/orders</c>. Required.</summary>
    public required string Topic { get; init; }

    /// <summary>A producer name; the broker assigns a unique one when null. Default null.</summary>
    public string? ProducerName { get; init; }

    /// <summary>
    /// How a keyed message picks its partition on a partitioned topic. Default
    /// <see cref="HashingScheme.JavaStringHash"/>, the Java client's default; keyless messages go round robin.
    /// </summary>
    public HashingScheme HashingScheme { get; init; } = HashingScheme.JavaStringHash;

    /// <summary>Compression applied to each message payload. Default NONE.</summary>
    public CompressionType Compression { get; init; } = CompressionType.None;

    /// <summary>
    /// Most SENDs on the wire awaiting their receipt at once (a batch counts as one); later ones
    /// wait in order until receipts free room. Default 1000, as the Java client's maxPendingMessages.
    /// </summary>
    public int MaxPendingMessages { get; init; } = 1000;

    /// <summary>
    /// Group messages into batch entries (one SEND, one entry, one receipt for many messages).
    /// Default false: every message is its own entry, which keeps per-message ids simple.
    /// </summary>
    public bool BatchingEnabled { get; init; }

    /// <summary>A batch leaves once it holds this many messages. Default 1000, as in the Java client.</summary>
    public int BatchingMaxMessages { get; init; } = 1000;

    /// <summary>A batch leaves once its payloads reach this many bytes. Default 128 KiB, as in the Java client.</summary>
    public int BatchingMaxBytes { get; init; } = 128 * 1024;

    /// <summary>A batch leaves at the latest this long after its first message. Default 10 ms, as in the Java client.</summary>
    public TimeSpan BatchingMaxDelay { get; init; } = TimeSpan.FromMilliseconds(10);

    /// <summary>
    /// The schema the producer registers (CommandProducer.schema); the broker answers with its
    /// version, which every message then names in schema_version. Default null: no schema.
    /// </summary>
    public PulsarSchema? Schema { get; init; }

    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(Topic))
        {
            throw new ArgumentException($"topic ({Topic}) must not be empty", nameof(Topic));
        }
        if (BatchingMaxMessages is < 1 or > 100_000)
        {
            throw new ArgumentException($"batchingMaxMessages ({BatchingMaxMessages}) must be between 1 and 100000", nameof(BatchingMaxMessages));
        }
        if (BatchingMaxBytes < 1)
        {
            throw new ArgumentException($"batchingMaxBytes ({BatchingMaxBytes}) must be positive", nameof(BatchingMaxBytes));
        }
        if (BatchingMaxDelay <= TimeSpan.Zero)
        {
            throw new ArgumentException($"batchingMaxDelay ({BatchingMaxDelay}) must be positive", nameof(BatchingMaxDelay));
        }
        if (MaxPendingMessages is < 1 or > 1_000_000)
        {
            throw new ArgumentException($"maxPendingMessages ({MaxPendingMessages}) must be between 1 and 1000000", nameof(MaxPendingMessages));
        }
    }
}
