namespace Sync.Pulsar;

/// <summary>Where a new durable subscription starts.</summary>
public enum SubscriptionInitialPosition
{
    /// <summary>Only messages published after the subscription was created (the broker's default).</summary>
    Latest = 0,

    /// <summary>From the first message still in the topic.</summary>
    Earliest = 1,
}
