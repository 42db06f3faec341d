namespace Sync.Pulsar.Internal;

/// <summary>What a connection needs to know about a consumer it carries.</summary>
internal interface IConsumerChannel
{
    /// <summary>Called on the connection's read loop: must not block.</summary>
    void OnMessage(PulsarFrame frame);

    void OnReachedEndOfTopic();

    /// <summary>ACTIVE_CONSUMER_CHANGE: on a Failover subscription, whether this consumer is the one
    /// the broker dispatches to.</summary>
    void OnActiveConsumerChange(bool isActive);

    void OnClosed(Exception reason);
}
