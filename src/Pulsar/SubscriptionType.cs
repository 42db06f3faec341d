namespace Sync.Pulsar;

/// <summary>How the broker distributes a subscription's messages among its consumers.</summary>
public enum SubscriptionType
{
    /// <summary>One consumer only; a second one is refused (ConsumerBusy).</summary>
    Exclusive = 0,

    /// <summary>Round-robin over all consumers; per-message redelivery.</summary>
    Shared = 1,

    /// <summary>One active consumer, others stand by.</summary>
    Failover = 2,

    /// <summary>Shared, but every key always goes to the same consumer.</summary>
    KeyShared = 3,
}
