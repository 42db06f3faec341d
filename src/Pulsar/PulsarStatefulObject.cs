namespace Sync.Pulsar;

/// <summary>A producer or consumer — of one topic, of a partitioned topic or of several topics —
/// whose <see cref="IPulsarStateful"/> members are kept by one <see cref="StateMonitor"/>.</summary>
public abstract class PulsarStatefulObject : IPulsarStateful
{
    private protected PulsarStatefulObject(PulsarObjectState initial)
    {
        Monitor = new StateMonitor(this, initial);
    }

    /// <inheritdoc/>
    public PulsarObjectState State => Monitor.Current;

    private protected StateMonitor Monitor { get; }

    /// <inheritdoc/>
    public event EventHandler<PulsarStateChangedEventArgs>? StateChanged
    {
        add => Monitor.Changed += value;
        remove => Monitor.Changed -= value;
    }

    /// <inheritdoc/>
    public ValueTask<PulsarObjectState> OnStateChangeTo(PulsarObjectState state, CancellationToken cancellationToken = default) =>
        Monitor.WaitAsync(current => current == state, cancellationToken);

    /// <inheritdoc/>
    public ValueTask<PulsarObjectState> OnStateChangeFrom(PulsarObjectState state, CancellationToken cancellationToken = default) =>
        Monitor.WaitAsync(current => current != state, cancellationToken);
}
