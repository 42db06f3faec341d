namespace Sync.Pulsar;

/// <summary>Settings of a consumer.</summary>
public sealed record ConsumerOptions
{
    /// <summary>
    /// The topic to consume. Required. With <see cref="TopicIsPattern"/> a regular expression over
    /// full names of one namespace, e.g. <c>persistent://public/default/orders-.*</c>.
    /// </summary>
    public required string Topic { get; init; }

    /// <summary>Treat <see cref="Topic"/> as a pattern: consume every matching topic, found again each <see cref="PatternDiscoveryPeriod"/>. Default false.</summary>
    public bool TopicIsPattern { get; init; }

    /// <summary>How often a pattern consumer lists the namespace for new topics. Default 60 s, as in the Java client.</summary>
    public TimeSpan PatternDiscoveryPeriod { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>The subscription name. Required.</summary>
    public required string SubscriptionName { get; init; }

    /// <summary>Default <see cref="SubscriptionType.Exclusive"/>.</summary>
    public SubscriptionType SubscriptionType { get; init; } = SubscriptionType.Exclusive;

    /// <summary>Where a newly created subscription starts. Default <see cref="SubscriptionInitialPosition.Latest"/>.</summary>
    public SubscriptionInitialPosition InitialPosition { get; init; } = SubscriptionInitialPosition.Latest;

    /// <summary>
    /// Messages the broker may push ahead of the application (flow permits). Memory stays bounded
    /// by this many messages, plus at most one batch entry beyond it, since the broker never
    /// splits a batch. Default 1000.
    /// </summary>
    public int ReceiverQueueSize { get; init; } = 1000;

    /// <summary>A consumer name shown in broker stats; the client makes one up when null. Default null.</summary>
    public string? ConsumerName { get; init; }

    /// <summary>
    /// Makes the consumer a reader: a non-durable subscription starting after this position
    /// (exclusive), or at <see cref="MessageId.Earliest"/> / <see cref="MessageId.Latest"/>.
    /// Nothing is kept on the broker once it disconnects. Default null (a durable subscription).
    /// </summary>
    public MessageId? StartMessageId { get; init; }

    /// <summary>Read the compacted view (Exclusive or Failover only). Default false.</summary>
    public bool ReadCompacted { get; init; }

    /// <summary>Ask the broker to confirm each acknowledgement (ACK_RESPONSE) and wait for it. Default false.</summary>
    public bool AckReceiptEnabled { get; init; }

    /// <summary>
    /// Acknowledge single messages inside a batch entry at once (ACK with the batch's ack_set of
    /// still unacknowledged indexes, as the Java client's enableBatchIndexAcknowledgment), so that
    /// after a redelivery only the unacknowledged messages of a batch come back. Needs a broker
    /// with acknowledgmentAtBatchIndexLevelEnabled=true; other brokers ignore partial acks, and the
    /// entry is acknowledged when its last message is. Default false, as in the Java client.
    /// </summary>
    public bool BatchIndexAcknowledgment { get; init; }

    /// <summary>
    /// What happens to an entry that arrives corrupt (checksum mismatch, metadata or batch that
    /// does not decode, decompression failure). False (default, as the Java client): it is
    /// discarded, the broker gets an ack with the validation_error, and a warning is logged.
    /// True: it is delivered as a <see cref="PulsarMessage"/> with <see cref="PulsarMessage.Corruption"/>
    /// set and its raw bytes as data, to be recorded and acknowledged by the application.
    /// </summary>
    public bool DeliverCorruptMessages { get; init; }

    /// <summary>
    /// How a Key_Shared subscription spreads keys over its consumers. Default null: auto-split
    /// hash ranges, the broker's default. Only with <see cref="SubscriptionType.KeyShared"/>.
    /// </summary>
    public KeySharedPolicy? KeyShared { get; init; }

    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(Topic))
        {
            throw new ArgumentException($"topic ({Topic}) must not be empty", nameof(Topic));
        }
        if (string.IsNullOrWhiteSpace(SubscriptionName))
        {
            throw new ArgumentException($"subscriptionName ({SubscriptionName}) must not be empty", nameof(SubscriptionName));
        }
        if (TopicIsPattern && StartMessageId is not null)
        {
            throw new ArgumentException($"startMessageId ({StartMessageId}) cannot be combined with a topic pattern", nameof(StartMessageId));
        }
        if (PatternDiscoveryPeriod <= TimeSpan.Zero)
        {
            throw new ArgumentException($"patternDiscoveryPeriod ({PatternDiscoveryPeriod}) must be positive", nameof(PatternDiscoveryPeriod));
        }
        if (ReceiverQueueSize is < 1 or > 1_000_000)
        {
            throw new ArgumentException($"receiverQueueSize ({ReceiverQueueSize}) must be between 1 and 1000000", nameof(ReceiverQueueSize));
        }
        if (StartMessageId is not null && SubscriptionType != SubscriptionType.Exclusive)
        {
            throw new ArgumentException(
                $"startMessageId ({StartMessageId}) makes a reader, which needs an Exclusive subscription, not {SubscriptionType}", nameof(StartMessageId));
        }
        if (KeyShared is not null && SubscriptionType != SubscriptionType.KeyShared)
        {
            throw new ArgumentException($"keyShared ({KeyShared.Mode}) needs a KeyShared subscription, not {SubscriptionType}", nameof(KeyShared));
        }
        KeyShared?.Validate();
        if (ReadCompacted && SubscriptionType is SubscriptionType.Shared or SubscriptionType.KeyShared)
        {
            throw new ArgumentException(
                $"readCompacted (true) requires an Exclusive or Failover subscription, not {SubscriptionType}", nameof(ReadCompacted));
        }
    }
}
