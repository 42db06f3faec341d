namespace Sync.Pulsar.Internal;

/// <summary>
/// The observable state of a producer or consumer: the current value, an event on each change,
/// and awaitable waits for a state (DotPulsar's StateManager, in spirit). Faulted and Closed are
/// final: nothing leaves them except Faulted -> Closed on dispose, and a wait for a state that
/// can no longer come ends with the final state instead of hanging.
/// </summary>
internal sealed class StateMonitor(object sender, PulsarObjectState initial)
{
    private readonly Lock _lock = new();
    private readonly List<(Func<PulsarObjectState, bool> Until, TaskCompletionSource<PulsarObjectState> Done)> _waiters = [];
    private PulsarObjectState _current = initial;

    public PulsarObjectState Current
    {
        get
        {
            lock (_lock)
            {
                return _current;
            }
        }
    }

    public event EventHandler<PulsarStateChangedEventArgs>? Changed;

    public static bool IsFinal(PulsarObjectState state) => state is PulsarObjectState.Faulted or PulsarObjectState.Closed;

    /// <summary>Moves to <paramref name="next"/>; returns false when already there or when a final state forbids it.</summary>
    public bool Set(PulsarObjectState next)
    {
        PulsarObjectState previous;
        List<(TaskCompletionSource<PulsarObjectState> Done, PulsarObjectState Result)> completed = [];
        lock (_lock)
        {
            previous = _current;
            if (previous == next || previous == PulsarObjectState.Closed || (previous == PulsarObjectState.Faulted && next != PulsarObjectState.Closed))
            {
                return false;
            }
            _current = next;
            for (var i = _waiters.Count - 1; i >= 0; i--)
            {
                if (_waiters[i].Until(next) || IsFinal(next))
                {
                    completed.Add((_waiters[i].Done, next));
                    _waiters.RemoveAt(i);
                }
            }
        }
        // Outside the lock: continuations run asynchronously, handlers may call back in.
        foreach (var (done, result) in completed)
        {
            done.TrySetResult(result);
        }
        Changed?.Invoke(sender, new PulsarStateChangedEventArgs(previous, next));
        return true;
    }

    /// <summary>Completes when the state satisfies <paramref name="until"/>, or with the final state if one comes first.</summary>
    public ValueTask<PulsarObjectState> WaitAsync(Func<PulsarObjectState, bool> until, CancellationToken cancellationToken)
    {
        TaskCompletionSource<PulsarObjectState> done;
        lock (_lock)
        {
            if (until(_current) || IsFinal(_current))
            {
                return ValueTask.FromResult(_current);
            }
            done = new TaskCompletionSource<PulsarObjectState>(TaskCreationOptions.RunContinuationsAsynchronously);
            _waiters.Add((until, done));
        }
        return cancellationToken.CanBeCanceled ? new ValueTask<PulsarObjectState>(WithCancellation(done, cancellationToken)) : new ValueTask<PulsarObjectState>(done.Task);
    }

    private async Task<PulsarObjectState> WithCancellation(TaskCompletionSource<PulsarObjectState> done, CancellationToken cancellationToken)
    {
        try
        {
            return await done.Task.WaitAsync(cancellationToken);
        }
        catch (OperationCanceledException)
        {
            lock (_lock)
            {
                _waiters.RemoveAll(w => w.Done == done);
            }
            throw;
        }
    }
}
