namespace Sync.Pulsar;

/// <summary>A change of a producer's or consumer's state.</summary>
public sealed class PulsarStateChangedEventArgs(PulsarObjectState previous, PulsarObjectState current) : EventArgs
{
    public PulsarObjectState Previous { get; } = previous;

    public PulsarObjectState Current { get; } = current;
}
