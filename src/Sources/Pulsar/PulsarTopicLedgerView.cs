using Sync.Engine.Ledger;

namespace Sync.Sources.Pulsar;

/// <summary>A running process's view of a topic ledger: a non-durable reader of the topic's
/// compacted view from the earliest message (the compacted ledger up to the compaction horizon,
/// the raw topic after it, as the broker serves <c>read_compacted</c>), then tailing the topic, so a
/// new entry reaches the view as soon as the broker dispatches it.
/// <para>The view is ready only once it has read up to the topic's last message id as the broker
/// gave it when the reader (re)connected: a fresh process never decides with a half-read ledger.
/// When the connection is lost the reader resubscribes after the last message it received; until
/// it has, and has caught up again, <see cref="CurrentAsync"/> throws
/// <see cref="LedgerUnavailableException"/>: an entry written meanwhile might not be known. A lost
/// connection is noticed when it closes, or, when it hangs silently, by the client's keep-alive
/// (a PING unanswered for 30 s).</para></summary>
public sealed class PulsarTopicLedgerView : ISuppressionView
{
    private static readonly TimeSpan MaxRetryDelay = TimeSpan.FromSeconds(5);

    private readonly PulsarClient _client;
    private readonly bool _ownsClient;
    private readonly string _topic;
    private readonly string _location;
    private readonly Func<CancellationToken, Task>? _beforeReading;
    private readonly CancellationTokenSource _stop = new();
    private readonly SemaphoreSlim _stateChanged = new(0);
    private readonly Lock _lock = new();
    private readonly PulsarLedgerEntries _entries = new();
    private readonly Task _run;
    private IReadOnlySet<(string Subject, string KeyHash)> _suppressed = new HashSet<(string, string)>();
    private bool _dirty;
    private MessageId? _read;
    private MessageId? _target;
    private int _session;
    private int _targetSession = -1;
    private bool _caughtUp;
    private string _notReady = "not read yet";
    private TaskCompletionSource _changed = NewSignal();

    /// <param name="beforeReading">A check the topic must pass before it is read (a partitioned topic
    /// is refused); while it throws a <see cref="SourceException"/>, the view is not ready and says why.</param>
    public PulsarTopicLedgerView(PulsarClient client, string topic, string location, bool ownsClient = false, Func<CancellationToken, Task>? beforeReading = null)
    {
        ArgumentNullException.ThrowIfNull(client);
        _client = client;
        _ownsClient = ownsClient;
        _beforeReading = beforeReading;
        _topic = TopicName.Normalize(topic);
        _location = location;
        _run = Task.Run(RunAsync);
    }

    /// <summary>True once the view has read up to the topic's last message id at (re)connect, and
    /// while its connection holds.</summary>
    public bool IsCaughtUp
    {
        get
        {
            lock (_lock)
            {
                return _caughtUp;
            }
        }
    }

    public ValueTask<IReadOnlySet<(string Subject, string KeyHash)>> CurrentAsync(CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            if (!_caughtUp)
            {
                throw new LedgerUnavailableException($"the ledger {_location} cannot be relied on: {_notReady}");
            }

            return ValueTask.FromResult(SuppressedLocked());
        }
    }

    /// <summary>Waits, without polling, until the view is caught up and <paramref name="condition"/>
    /// holds for its suppressed keys (for tests and for measuring propagation).</summary>
    public async Task WaitUntilAsync(Func<IReadOnlySet<(string Subject, string KeyHash)>, bool> condition, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(condition);
        while (true)
        {
            Task changed;
            lock (_lock)
            {
                if (_caughtUp && condition(SuppressedLocked()))
                {
                    return;
                }

                changed = _changed.Task;
            }

            await changed.WaitAsync(cancellationToken);
        }
    }

    /// <summary>A non-durable reader of the ledger's compacted view from the earliest message.</summary>
    internal static Task<IPulsarConsumer> OpenReaderAsync(PulsarClient client, string topic, CancellationToken cancellationToken) =>
        PulsarConnections.ReaderFromEarliestAsync(client, topic, "sync-ledger", compacted: true, cancellationToken);

    private async Task RunAsync()
    {
        var backoff = new Backoff(TimeSpan.FromMilliseconds(100), MaxRetryDelay);
        IPulsarConsumer? reader = null;
        while (reader is null)
        {
            try
            {
                if (_beforeReading is not null)
                {
                    await _beforeReading(_stop.Token);
                }

                reader = await OpenReaderAsync(_client, _topic, _stop.Token);
            }
            catch (OperationCanceledException) when (_stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is PulsarException or IOException or System.Net.Sockets.SocketException or SourceException)
            {
                NotReady($"its topic {_topic} cannot be read ({e.Message}); retrying");
                if (!await DelayAsync(backoff.Delay))
                {
                    return;
                }

                backoff.Increase();
            }
        }

        await using (reader)
        {
            reader.StateChanged += OnStateChanged;
            try
            {
                await Task.WhenAll(ReceiveAsync(reader), FollowEndAsync(reader));
            }
            catch (OperationCanceledException) when (_stop.IsCancellationRequested)
            {
            }
            catch (PulsarException e)
            {
                NotReady($"its reader of {_topic} failed: {e.Message}");
            }
            finally
            {
                reader.StateChanged -= OnStateChanged;
            }
        }
    }

    private async Task ReceiveAsync(IPulsarConsumer reader)
    {
        while (true)
        {
            var message = await reader.ReceiveAsync(_stop.Token);
            lock (_lock)
            {
                _entries.Apply(message);
                _read = message.Id;
                _dirty = true;
                UpdateLocked();
            }
        }
    }

    /// <summary>Each time the reader is connected in a new session, takes the topic's last message
    /// id: the view is caught up once it has read that far.</summary>
    private async Task FollowEndAsync(IPulsarConsumer reader)
    {
        while (true)
        {
            var state = await reader.OnStateChangeTo(PulsarObjectState.Connected, _stop.Token);
            if (state != PulsarObjectState.Connected)
            {
                NotReady($"its reader of {_topic} ended ({state})");
                return;
            }

            int session;
            lock (_lock)
            {
                session = _session;
            }

            if (session != _targetSession)
            {
                try
                {
                    var last = await reader.GetLastMessageIdAsync(_topic, _stop.Token);
                    lock (_lock)
                    {
                        if (session == _session)
                        {
                            _target = last;
                            _targetSession = session;
                            UpdateLocked();
                        }
                    }
                }
                catch (PulsarException e)
                {
                    NotReady($"the end of {_topic} cannot be read ({e.Message}); retrying");
                    await DelayAsync(TimeSpan.FromMilliseconds(200));
                    continue;
                }
            }

            await _stateChanged.WaitAsync(_stop.Token);
        }
    }

    private void OnStateChanged(object? sender, PulsarStateChangedEventArgs e)
    {
        if (e.Current != PulsarObjectState.Connected)
        {
            lock (_lock)
            {
                _session++;
                _target = null;
                _caughtUp = false;
                _notReady = $"the connection to the broker of {_topic} was lost ({e.Current}); an entry written meanwhile may be missing until the view has reconnected and caught up";
                SignalLocked();
            }
        }

        _stateChanged.Release();
    }

    private void UpdateLocked()
    {
        if (_target is { } target)
        {
            var caughtUp = (long)target.EntryId < 0 || (_read is { } read && read.CompareTo(target) >= 0);
            if (caughtUp != _caughtUp)
            {
                _caughtUp = caughtUp;
            }

            if (!caughtUp)
            {
                _notReady = $"still reading its topic {_topic} up to {target} ({_entries.Count} requests read so far)";
            }
        }

        SignalLocked();
    }

    private void NotReady(string reason)
    {
        lock (_lock)
        {
            _caughtUp = false;
            _notReady = reason;
            SignalLocked();
        }
    }

    private IReadOnlySet<(string Subject, string KeyHash)> SuppressedLocked()
    {
        if (_dirty)
        {
            _suppressed = _entries.Suppressed();
            _dirty = false;
        }

        return _suppressed;
    }

    private void SignalLocked()
    {
        _changed.TrySetResult();
        _changed = NewSignal();
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    private async Task<bool> DelayAsync(TimeSpan delay)
    {
        try
        {
            await Task.Delay(delay, _stop.Token);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        try
        {
            await _run;
        }
        catch (Exception e) when (e is PulsarException or OperationCanceledException)
        {
        }

        if (_ownsClient)
        {
            await _client.DisposeAsync();
        }

        _stop.Dispose();
        _stateChanged.Dispose();
    }
}
