namespace Sync.Sinks;

/// <summary>A sink's one connection to its store and the rules around it: calls are serialized by one
/// lock; the connection opens on the first call that needs it; a failure is judged by the sink's
/// <see cref="SinkFailures"/>: transient ones back off (<see cref="SinkRetry"/>) and try again, fatal
/// ones close the connection and throw <see cref="SinkFatalException"/>. A closed connection is never
/// reused: the next call opens a new one. The sink's probes run until the session is disposed.</summary>
/// <typeparam name="TConnection">What the sink's calls work on: a writer and the connection it uses.</typeparam>
public sealed class SinkSession<TConnection> : IAsyncDisposable
    where TConnection : class
{
    private readonly object _owner;
    private readonly Func<CancellationToken, Task<TConnection>> _open;
    private readonly Func<TConnection, ValueTask> _close;
    private readonly SinkFailures _failures;
    private readonly SinkRetry _retry;
    private readonly TimeProvider _time;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly CancellationTokenSource _stopping = new();
    private readonly List<Task> _probes = [];
    private long _lastUsedTicks;
    private TConnection? _connection;
    private bool _disposing;
    private bool _disposed;

    /// <param name="owner">The sink, named by <see cref="ObjectDisposedException"/> once it is disposed.</param>
    /// <param name="open">Opens a connection.</param>
    /// <param name="close">Closes one; a failure to close a broken connection is the sink's to ignore.</param>
    /// <param name="failures">How failures are judged and reported when a call does not say otherwise.</param>
    /// <param name="retry">The backoff of transient failures.</param>
    /// <param name="time">The clock the backoff waits on.</param>
    public SinkSession(object owner, Func<CancellationToken, Task<TConnection>> open, Func<TConnection, ValueTask> close, SinkFailures failures, RetryPolicy retry, TimeProvider time)
    {
        _owner = owner;
        _open = open;
        _close = close;
        _failures = failures;
        _retry = new SinkRetry(retry, time);
        _time = time;
        _lastUsedTicks = time.GetUtcNow().UtcTicks;
    }

    /// <summary>Called with the open connection after any failure the classifier judged, before the
    /// connection is closed or the call retried (to forget state the failed attempt left behind).</summary>
    public Action<TConnection>? AfterFailure { get; init; }

    /// <summary>How many times a connection was closed after a failure (telemetry and tests).</summary>
    public int DiscardedConnections { get; private set; }

    /// <summary>The open connection, or null when none is open.</summary>
    public TConnection? Connection => _connection;

    /// <summary>Cancelled when disposing begins: it ends the sink's probes (<see cref="AddProbe"/>).</summary>
    public CancellationToken Stopping => _stopping.Token;

    /// <summary>Whether disposing began; no probe should start then.</summary>
    public bool IsStopping => _stopping.IsCancellationRequested;

    /// <summary>A probe loop of the sink, started with <see cref="Stopping"/>: disposing waits for it
    /// to end before it closes the connection.</summary>
    public void AddProbe(Task probe)
    {
        ArgumentNullException.ThrowIfNull(probe);
        lock (_probes)
        {
            _probes.RemoveAll(p => p.IsCompleted);
            _probes.Add(probe);
        }
    }

    /// <summary>When the last call (not a <see cref="ProbeAsync"/>) ended, on the session's clock;
    /// when the session was made before the first.</summary>
    public DateTimeOffset LastUsed => new(Interlocked.Read(ref _lastUsedTicks), TimeSpan.Zero);

    /// <summary>Runs <paramref name="work"/> under the lock on the open connection (opening one when
    /// needed), with the retry policy. Transient failures are reported to <paramref name="retrying"/>
    /// and retried; past the last attempt they throw <see cref="SinkUnavailableException"/>.</summary>
    /// <param name="what">The call, for messages: "apply a batch of 3 changes to table t".</param>
    /// <param name="failures">This call's rules, when they differ from the sink's.</param>
    public async Task<T> RunAsync<T>(
        string what, Func<TConnection, CancellationToken, Task<T>> work, CancellationToken cancellationToken, Action<string>? retrying = null, SinkFailures? failures = null)
    {
        await _gate.WaitAsync(cancellationToken);
        try
        {
            var rules = failures ?? _failures;
            return await _retry.RunAsync(_ => AttemptAsync(what, work, rules, cancellationToken), retrying, cancellationToken);
        }
        finally
        {
            Used();
            _gate.Release();
        }
    }

    /// <summary>Runs <paramref name="work"/> under the lock on the open connection (opening one when
    /// needed), once; every failure passes through untouched.</summary>
    public async Task<T> LockedAsync<T>(Func<TConnection, CancellationToken, Task<T>> work, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken);
        try
        {
            ObjectDisposedException.ThrowIf(_disposed, _owner);
            _connection ??= await _open(cancellationToken);
            return await work(_connection, cancellationToken);
        }
        finally
        {
            Used();
            _gate.Release();
        }
    }

    /// <summary>Asks the store whether it is still there while no call uses the connection: one try
    /// of <paramref name="probe"/> on the open connection (or a new one), and when that fails, the
    /// connection is discarded and one more try made on a new one, so that a store that restarted is
    /// reached again now rather than at the next call. Asks nothing while a call holds the lock (that
    /// call talks to the store itself). Failures are not thrown: the next call meets them, with its
    /// retries. Returns whether the store answered.</summary>
    public async Task<bool> ProbeAsync(Func<TConnection, CancellationToken, Task> probe, CancellationToken cancellationToken)
    {
        if (!await _gate.WaitAsync(0, cancellationToken))
        {
            return false;
        }

        try
        {
            for (var attempt = 1; attempt <= 2 && !_disposed; attempt++)
            {
                try
                {
                    _connection ??= await _open(cancellationToken);
                    await probe(_connection, cancellationToken);
                    return true;
                }
                catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
                {
                    await DiscardAsync();
                    throw;
                }
                catch (Exception e) when (e is not OutOfMemoryException)
                {
                    // Broken, or the store is away: a new connection finds out which.
                    await DiscardAsync();
                }
            }

            return false;
        }
        finally
        {
            _gate.Release();
        }
    }

    private void Used() => Interlocked.Exchange(ref _lastUsedTicks, _time.GetUtcNow().UtcTicks);

    private async Task<Attempt<T>> AttemptAsync<T>(string what, Func<TConnection, CancellationToken, Task<T>> work, SinkFailures rules, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed, _owner);
        cancellationToken.ThrowIfCancellationRequested();
        try
        {
            _connection ??= await _open(cancellationToken);
            return Attempt<T>.Done(await work(_connection, cancellationToken));
        }
        catch (OperationCanceledException) when (rules.DiscardsOnCancel)
        {
            await DiscardAsync();
            throw;
        }
        catch (Exception e) when (rules.Classify(e) is { } verdict)
        {
            if (_connection is { } connection)
            {
                AfterFailure?.Invoke(connection);
            }

            if (verdict != ErrorVerdict.Transient)
            {
                await DiscardAsync();
                throw new SinkFatalException(rules.Fatal(what, e), e);
            }

            if (rules.DiscardsOnTransient)
            {
                await DiscardAsync();
            }

            return Attempt<T>.Transient(attempts => new SinkUnavailableException(rules.Unavailable(what, attempts, e), e), attempt => rules.Retrying(what, attempt, e));
        }
    }

    /// <summary>A connection in an unknown state is never reused: close it; the next call opens a new one.</summary>
    private async Task DiscardAsync()
    {
        if (_connection is { } connection)
        {
            _connection = null;
            DiscardedConnections++;
            await _close(connection);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_disposing)
        {
            return;
        }

        _disposing = true;
        await _stopping.CancelAsync();
        Task[] probes;
        lock (_probes)
        {
            probes = [.. _probes];
        }

        foreach (var probe in probes)
        {
            await probe;
        }

        // _stopping stays undisposed: a probe started in the instant disposing began still reads its
        // token (cancelled, so it ends at once), and a source without a timer holds nothing to free.
        await _gate.WaitAsync();
        try
        {
            _disposed = true;
            if (_connection is { } connection)
            {
                _connection = null;
                await _close(connection);
            }
        }
        finally
        {
            _gate.Release();
        }

        _gate.Dispose();
    }
}
