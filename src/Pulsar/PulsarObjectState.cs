namespace Sync.Pulsar;

/// <summary>Lifecycle of a producer or consumer, observable through <c>State</c>.</summary>
public enum PulsarObjectState
{
    /// <summary>Registered with the broker and usable.</summary>
    Connected,

    /// <summary>
    /// The connection was lost or the broker closed the object; it is being re-created with
    /// capped exponential backoff. Sends queue up and receives wait meanwhile.
    /// </summary>
    Reconnecting,

    /// <summary>A failure that retrying cannot fix (e.g. authorization); pending operations failed.</summary>
    Faulted,

    /// <summary>Disposed by the application.</summary>
    Closed,
}
