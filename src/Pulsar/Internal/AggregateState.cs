namespace Sync.Pulsar.Internal;

/// <summary>
/// The state of an object made of producers or consumers (partitions, topics): the worst state
/// among them (Connected &lt; Reconnecting &lt; Faulted &lt; Closed), kept current from their events.
/// </summary>
internal sealed class AggregateState
{
    private readonly StateMonitor _monitor;
    private readonly Func<IReadOnlyCollection<IPulsarStateful>> _children;

    /// <param name="monitor">The composite's own state, which this keeps at the worst of the children's.</param>
    public AggregateState(StateMonitor monitor, Func<IReadOnlyCollection<IPulsarStateful>> children)
    {
        _monitor = monitor;
        _children = children;
    }

    /// <summary>Follows <paramref name="child"/>'s changes from now on.</summary>
    public void Watch(IPulsarStateful child)
    {
        child.StateChanged += (_, _) => Recompute();
        Recompute();
    }

    /// <summary>Takes the worst state of the current children (after one joined or left).</summary>
    public void Recompute()
    {
        var children = _children();
        _monitor.Set(children.Count == 0 ? PulsarObjectState.Connected : children.Max(c => c.State));
    }

    public void Close() => _monitor.Set(PulsarObjectState.Closed);
}
