namespace Sync.Pulsar;

/// <summary>
/// The lifecycle of a producer or consumer, observable in the style of DotPulsar: the current
/// state, an event on every change, and awaitable waits for a state.
/// </summary>
public interface IPulsarStateful
{
    PulsarObjectState State { get; }

    /// <summary>Raised after every change of <see cref="State"/> (on the thread that caused it; keep handlers short).</summary>
    event EventHandler<PulsarStateChangedEventArgs>? StateChanged;

    /// <summary>
    /// Completes once the state is <paramref name="state"/> (at once if it already is), or with the
    /// final state (<see cref="PulsarObjectState.Faulted"/>, <see cref="PulsarObjectState.Closed"/>)
    /// if the object ends before reaching it. Returns the state reached.
    /// </summary>
    ValueTask<PulsarObjectState> OnStateChangeTo(PulsarObjectState state, CancellationToken cancellationToken = default);

    /// <summary>Completes once the state is no longer <paramref name="state"/>; returns the new state.</summary>
    ValueTask<PulsarObjectState> OnStateChangeFrom(PulsarObjectState state, CancellationToken cancellationToken = default);
}
