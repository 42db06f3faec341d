using Microsoft.Extensions.Logging;

namespace Sync.Pulsar;

/// <summary>
/// Publishes messages to one topic. Sends are pipelined: up to
/// <see cref="ProducerOptions.MaxPendingMessages"/> may be on the wire awaiting receipts;
/// receipts come back in send order and are matched by sequence id. When the connection is
/// lost or the broker closes the producer, it looks the topic up again, re-creates itself
/// under the same name and re-sends every message that has no receipt yet, in order, with its
/// original sequence id (at-least-once: a message persisted just before the loss may be
/// stored twice unless the namespace has deduplication enabled). Disposing waits for the
/// outstanding receipts first.
/// </summary>
public sealed class PulsarProducer : PulsarReconnectingObject, IPulsarProducer
{
    private readonly ProducerOptions _options;
    private readonly Lock _lock = new();
    private readonly List<PendingSend> _pending = [];
    private readonly List<(ulong Upto, TaskCompletionSource Done)> _flushWaiters = [];
    private readonly SemaphoreSlim _wake = new(0);
    private Google.Protobuf.ByteString? _schemaVersion;
    private readonly List<(SingleMessageMetadata Metadata, ReadOnlyMemory<byte> Data, ReceiptSource Receipt)> _openBatch = [];
    private readonly Timer _batchTimer;
    private int _openBatchBytes;
    private int _pendingHead;
    private int _written;
    private ulong _nextSequenceId;
    private bool _sequenceInitialized;
    private Session? _session;
    private Exception? _failure;
    private bool _closing;
    private bool _stopped;
    private Task _writeLoop = Task.CompletedTask;

    private PulsarProducer(Func<CancellationToken, Task<PulsarConnection>> connect, ProducerOptions options, PulsarClientOptions clientOptions)
        : base(connect, clientOptions, clientOptions.LoggerFactory.CreateLogger<PulsarProducer>())
    {
        _options = options;
        Name = options.ProducerName ?? string.Empty;
        _batchTimer = new Timer(_ => OnBatchTimer(), null, Timeout.Infinite, Timeout.Infinite);
    }

    /// <summary>The producer name, chosen by the broker when none was configured; kept across reconnects.</summary>
    public string Name { get; private set; }

    public string Topic => _options.Topic;

    /// <summary>Sends accepted and not yet confirmed by a receipt.</summary>
    public int PendingCount
    {
        get
        {
            lock (_lock)
            {
                return _pending.Count - _pendingHead;
            }
        }
    }

    /// <summary>The version of <see cref="ProducerOptions.Schema"/> on the topic; empty without a schema.</summary>
    public ReadOnlyMemory<byte> SchemaVersion => _schemaVersion?.Memory ?? ReadOnlyMemory<byte>.Empty;

    internal static async Task<PulsarProducer> CreateAsync(
        Func<CancellationToken, Task<PulsarConnection>> connect, ProducerOptions options, PulsarClientOptions clientOptions, CancellationToken cancellationToken)
    {
        var producer = new PulsarProducer(connect, options, clientOptions);
        // The first registration reports its error to the caller; only later losses are retried.
        await producer.RegisterAsync(await connect(cancellationToken), cancellationToken);
        producer._writeLoop = Task.Run(producer.WriteLoopAsync, CancellationToken.None);
        return producer;
    }

    private protected override async Task RegisterAsync(PulsarConnection connection, CancellationToken cancellationToken)
    {
        var producerId = connection.NextProducerId();
        var requestId = connection.NextRequestId();
        var command = new CommandProducer { Topic = _options.Topic, ProducerId = producerId, RequestId = requestId };
        if (_options.Schema is { } schema)
        {
            command.Schema = schema.ToProto();
        }
        if (Name.Length > 0)
        {
            // Re-created under the same name, so sequence ids continue one producer's stream.
            command.ProducerName = Name;
        }
        else
        {
            command.UserProvidedProducerName = false;
        }
        var answer = (await connection.RequestAsync(
            new BaseCommand { Type = BaseCommand.Types.Type.Producer, Producer = command }, requestId, "PRODUCER", cancellationToken)).ProducerSuccess;

        var session = new Session(this, connection, producerId);
        lock (_lock)
        {
            Name = answer.ProducerName;
            // The version of the producer's schema (empty without one), named by every message.
            _schemaVersion = answer.HasSchemaVersion && !answer.SchemaVersion.IsEmpty ? answer.SchemaVersion : null;
            if (!_sequenceInitialized)
            {
                // The broker reports the last sequence id it persisted for this name (-1 when none).
                _nextSequenceId = answer.LastSequenceId < 0 ? 0 : (ulong)answer.LastSequenceId + 1;
                _sequenceInitialized = true;
            }
            _session = session;
            // Nothing is on this new connection yet: every pending send goes out again.
            _written = 0;
            Monitor.Set(PulsarObjectState.Connected);
        }
        connection.Register(producerId, session);
        if (!connection.IsOpen)
        {
            // Closed between the answer and the registration: treat as any other loss.
            session.OnClosed(new ConnectionClosedException($"connection to {connection.BrokerUrl} closed while creating the producer"));
        }
        _wake.Release();
    }

    /// <summary>
    /// Sends one message and completes with its id once the broker has persisted it. The order
    /// of calls is the order on the topic, even when calls are not awaited one by one: the
    /// sequence id is taken before the method returns. Sends made while the producer reconnects
    /// are queued and go out once it is back. Awaiting the returned tasks (per message or per
    /// batch) is what bounds memory. The ValueTask comes from a pool: await it exactly once
    /// (or call AsTask()).
    /// </summary>
    public ValueTask<MessageId> SendAsync(OutgoingMessage message, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(message);
        if (message.IsNullValue && !message.Data.IsEmpty)
        {
            throw new ArgumentException("a null-value message (tombstone) must have an empty payload", nameof(message));
        }
        if (message.Key is not null && message.KeyBytes is not null)
        {
            throw new ArgumentException("set either Key or KeyBytes, not both", nameof(message));
        }
        cancellationToken.ThrowIfCancellationRequested();
        if (_options.BatchingEnabled)
        {
            return AddToBatch(message);
        }
        var metadata = BuildMetadata(message, out var payload);
        lock (_lock)
        {
            ThrowIfUnusable();
            var receipt = ReceiptSource.Rent();
            var sequenceId = _nextSequenceId++;
            metadata.SequenceId = sequenceId;
            metadata.ProducerName = Name;
            _pending.Add(new PendingSend(sequenceId, sequenceId, metadata, payload, receipt, null));
            _wake.Release();
            return receipt.Task;
        }
    }

    /// <summary>Writes the message's key, properties, event time and null-value flag into the
    /// metadata of the whole message or of its entry in a batch.</summary>
    private static void Describe(IMessageAttributes metadata, OutgoingMessage message)
    {
        if (message.Key is not null)
        {
            metadata.PartitionKey = message.Key;
        }
        else if (message.KeyBytes is { } keyBytes)
        {
            metadata.PartitionKey = Convert.ToBase64String(keyBytes.Span);
            metadata.PartitionKeyB64Encoded = true;
        }
        if (message.Properties is not null)
        {
            foreach (var (key, value) in message.Properties)
            {
                metadata.Properties.Add(new KeyValue { Key = key, Value = value });
            }
        }
        if (message.EventTimeMs is { } eventTime)
        {
            metadata.EventTime = eventTime;
        }
        if (message.IsNullValue)
        {
            metadata.NullValue = true;
        }
    }

    private ValueTask<MessageId> AddToBatch(OutgoingMessage message)
    {
        var single = new SingleMessageMetadata();
        Describe(single, message);
        lock (_lock)
        {
            ThrowIfUnusable();
            var receipt = ReceiptSource.Rent();
            single.SequenceId = _nextSequenceId++;
            _openBatch.Add((single, message.Data, receipt));
            _openBatchBytes += message.Data.Length;
            if (_openBatch.Count >= _options.BatchingMaxMessages || _openBatchBytes >= _options.BatchingMaxBytes)
            {
                SealBatchLocked();
            }
            else if (_openBatch.Count == 1)
            {
                // The first message of a batch starts its clock; the batch leaves when full or late.
                _batchTimer.Change(_options.BatchingMaxDelay, Timeout.InfiniteTimeSpan);
            }
            return receipt.Task;
        }
    }

    private void OnBatchTimer()
    {
        lock (_lock)
        {
            if (!_stopped && _openBatch.Count > 0)
            {
                SealBatchLocked();
            }
        }
    }

    /// <summary>Turns the open batch into one pending send: one entry on the topic, one SEND, one receipt.</summary>
    private void SealBatchLocked()
    {
        var writer = new System.Buffers.ArrayBufferWriter<byte>(_openBatchBytes + (_openBatch.Count * 32));
        foreach (var (single, data, _) in _openBatch)
        {
            BatchPayload.Append(writer, single, data.Span);
        }
        var first = _openBatch[0].Metadata.SequenceId;
        var last = _openBatch[^1].Metadata.SequenceId;
        var metadata = new MessageMetadata
        {
            ProducerName = Name,
            SequenceId = first,
            PublishTime = (ulong)DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(),
            NumMessagesInBatch = _openBatch.Count,
        };
        if (_schemaVersion is { } batchSchemaVersion)
        {
            metadata.SchemaVersion = batchSchemaVersion;
        }
        ReadOnlyMemory<byte> payload = writer.WrittenMemory;
        if (_options.Compression != CompressionType.None)
        {
            metadata.Compression = _options.Compression;
            metadata.UncompressedSize = (uint)payload.Length;
            payload = PayloadCompression.Compress(_options.Compression, payload.Span);
        }
        var receipts = _openBatch.Select(m => m.Receipt).ToArray();
        _pending.Add(new PendingSend(first, last, metadata, payload, null, receipts));
        _openBatch.Clear();
        _openBatchBytes = 0;
        _batchTimer.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        _wake.Release();
    }

    private MessageMetadata BuildMetadata(OutgoingMessage message, out ReadOnlyMemory<byte> payload)
    {
        var metadata = new MessageMetadata
        {
            ProducerName = Name,
            PublishTime = (ulong)DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(),
        };
        if (_schemaVersion is { } schemaVersion)
        {
            metadata.SchemaVersion = schemaVersion;
        }
        Describe(metadata, message);

        payload = message.Data;
        if (_options.Compression != CompressionType.None && !payload.IsEmpty)
        {
            metadata.Compression = _options.Compression;
            metadata.UncompressedSize = (uint)payload.Length;
            payload = PayloadCompression.Compress(_options.Compression, payload.Span);
        }
        var limit = _session?.Connection.MaxMessageSize ?? FrameFormat.DefaultMaxMessageSize;
        if (payload.Length > limit)
        {
            throw new ArgumentException(
                $"message of {payload.Length} bytes exceeds the broker's maximum message size of {limit} bytes", nameof(message));
        }
        return metadata;
    }

    private void ThrowIfUnusable()
    {
        if (_failure is { } failure)
        {
            throw failure as PulsarException ?? new ConnectionClosedException(failure.Message, failure);
        }
        if (_closing)
        {
            throw new PulsarObjectClosedException($"producer {Name} on {Topic}");
        }
    }

    /// <summary>
    /// Writes pending sends in sequence order on the current session, never more than
    /// MaxPendingMessages without a receipt. One loop per producer, so nothing overtakes.
    /// </summary>
    private async Task WriteLoopAsync()
    {
        const int maxFramesPerWrite = 64;
        // A write also stops at about 1 MiB so that large messages do not balloon the write buffer.
        const int maxBytesPerWrite = 1024 * 1024;
        var frames = new List<(BaseCommand, MessageMetadata, ReadOnlyMemory<byte>)>(maxFramesPerWrite);
        while (true)
        {
            await _wake.WaitAsync();
            while (true)
            {
                Session? session;
                frames.Clear();
                lock (_lock)
                {
                    if (_stopped)
                    {
                        return;
                    }
                    session = _session;
                    var count = _pending.Count - _pendingHead;
                    var bytes = 0;
                    while (session is not null && _written < count && _written < _options.MaxPendingMessages
                        && frames.Count < maxFramesPerWrite && (frames.Count == 0 || bytes < maxBytesPerWrite))
                    {
                        var send = _pending[_pendingHead + _written];
                        _written++;
                        bytes += send.Payload.Length;
                        frames.Add((
                            new BaseCommand
                            {
                                Type = BaseCommand.Types.Type.Send,
                                Send = new CommandSend
                                {
                                    ProducerId = session.ProducerId,
                                    SequenceId = send.SequenceId,
                                    NumMessages = send.BatchReceipts?.Length ?? 1,
                                    HighestSequenceId = send.HighestSequenceId,
                                },
                            },
                            send.Metadata,
                            send.Payload));
                    }
                }
                if (session is null || frames.Count == 0)
                {
                    break;
                }
                try
                {
                    // Everything ready goes out in one socket write.
                    await session.Connection.SendAsync(frames, CancellationToken.None);
                }
                catch (PulsarException e)
                {
                    // The connection is gone; its Close told the session, which reconnects and
                    // re-sends from the oldest pending message.
                    Logger.LogDebug(e, "Producer {Name} lost its connection while writing", Name);
                }
            }
        }
    }

    private void OnSendReceipt(Session session, CommandSendReceipt receipt)
    {
        PendingSend? completed = null;
        lock (_lock)
        {
            if (session != _session)
            {
                return;
            }
            if (_pendingHead < _pending.Count && _pending[_pendingHead].SequenceId == receipt.SequenceId)
            {
                completed = TakeHeadLocked();
            }
        }
        if (completed is not { } done)
        {
            // A receipt for anything but the oldest pending send means we and the broker disagree
            // about the stream; a fresh connection re-sends from the oldest unconfirmed message.
            Logger.LogWarning("Producer {Name} got an out-of-order receipt for sequence {Sequence}; reconnecting", Name, receipt.SequenceId);
            session.Connection.Close(new PulsarProtocolException($"out-of-order send receipt (sequence {receipt.SequenceId}) for producer {Name}"));
            return;
        }
        var entryId = receipt.MessageId is { } id ? MessageId.FromProto(id) : default;
        var partition = TopicName.PartitionIndex(Topic);
        if (partition >= 0)
        {
            // Receipts carry ledger and entry only.
            entryId = entryId with { Partition = partition };
        }
        if (done.BatchReceipts is { } batch)
        {
            for (var i = 0; i < batch.Length; i++)
            {
                batch[i].Complete(entryId with { BatchIndex = i, BatchSize = batch.Length });
            }
        }
        else
        {
            done.Receipt!.Complete(entryId);
        }
        // Flushes are settled after the receipts they wait for.
        SettleFlushes();
        _wake.Release();
    }

    private void OnSendError(Session session, CommandSendError error)
    {
        // The broker refused this message (e.g. ChecksumError, TopicTerminated): that send fails,
        // the producer stays usable for the next ones.
        PendingSend? failed = null;
        lock (_lock)
        {
            if (session == _session && _pendingHead < _pending.Count && _pending[_pendingHead].SequenceId == error.SequenceId)
            {
                failed = TakeHeadLocked();
            }
        }
        if (failed is { } refused)
        {
            refused.Fail(PulsarServerException.Create(error.Error, error.Message));
            SettleFlushes();
            _wake.Release();
        }
    }

    private PendingSend TakeHeadLocked()
    {
        var head = _pending[_pendingHead];
        _pending[_pendingHead] = default;
        _pendingHead++;
        _written--;
        if (_pendingHead == _pending.Count)
        {
            _pending.Clear();
            _pendingHead = 0;
        }
        else if (_pendingHead >= 4096 && _pendingHead * 2 >= _pending.Count)
        {
            _pending.RemoveRange(0, _pendingHead);
            _pendingHead = 0;
        }
        return head;
    }

    private void OnSessionClosed(Session session, Exception reason)
    {
        lock (_lock)
        {
            if (session != _session)
            {
                return;
            }
            _session = null;
            _written = 0;
            if (_stopped)
            {
                return;
            }
            if (IsFatal(reason))
            {
                FailLocked(reason);
                return;
            }
            Monitor.Set(PulsarObjectState.Reconnecting);
            Logger.LogInformation(reason, "Producer {Name} on {Topic} lost its broker; reconnecting", Name, Topic);
            StartReconnecting();
        }
    }

    /// <summary>Errors that a new lookup and registration cannot fix.</summary>
    private protected override bool IsFatal(Exception error) =>
        error is AuthenticationException or AuthorizationException or InvalidTopicNameException
            or NotAllowedException or TopicTerminatedException or ProducerFencedException or IncompatibleSchemaException;

    private protected override void OnReconnected() =>
        Logger.LogInformation("Producer {Name} on {Topic} is connected again", Name, Topic);

    private protected override void OnReconnectRetrying(PulsarException error, TimeSpan delay) =>
        Logger.LogDebug(error, "Producer {Name} could not reconnect yet; retrying in {Delay}", Name, delay);

    private protected override void OnReconnectFailed(PulsarException error)
    {
        lock (_lock)
        {
            FailLocked(error);
        }
    }

    private void FailLocked(Exception reason)
    {
        _failure ??= reason;
        Monitor.Set(PulsarObjectState.Faulted);
        FailPendingLocked(reason);
    }

    private void FailPendingLocked(Exception reason)
    {
        for (var i = _pendingHead; i < _pending.Count; i++)
        {
            _pending[i].Fail(reason);
        }
        foreach (var (_, _, receipt) in _openBatch)
        {
            receipt.Fail(reason);
        }
        _openBatch.Clear();
        _openBatchBytes = 0;
        _pending.Clear();
        _pendingHead = 0;
        _written = 0;
        SettleFlushesLocked();
    }

    /// <summary>Waits until every message sent so far has its receipt (or failed).</summary>
    public Task FlushAsync(CancellationToken cancellationToken = default)
    {
        TaskCompletionSource done;
        lock (_lock)
        {
            if (_openBatch.Count > 0)
            {
                SealBatchLocked();
            }
            if (_pendingHead == _pending.Count)
            {
                return Task.CompletedTask;
            }
            done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _flushWaiters.Add((_nextSequenceId - 1, done));
        }
        return done.Task.WaitAsync(cancellationToken);
    }

    private void SettleFlushes()
    {
        lock (_lock)
        {
            SettleFlushesLocked();
        }
    }

    /// <summary>Completes flushes whose last send is settled. Call under the lock.</summary>
    private void SettleFlushesLocked()
    {
        var settledBelow = _pendingHead == _pending.Count ? ulong.MaxValue : _pending[_pendingHead].SequenceId;
        for (var i = _flushWaiters.Count - 1; i >= 0; i--)
        {
            if (_flushWaiters[i].Upto < settledBelow)
            {
                _flushWaiters[i].Done.TrySetResult();
                _flushWaiters.RemoveAt(i);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        lock (_lock)
        {
            if (_closing)
            {
                return;
            }
            // No new sends from here on; those already accepted still go out and are awaited.
            _closing = true;
        }
        try
        {
            if (_failure is null)
            {
                using var timeout = new CancellationTokenSource(ClientOptions.OperationTimeout);
                await FlushAsync(timeout.Token);
                if (_session is { } session)
                {
                    await session.Connection.RequestAsync(
                        id => new BaseCommand { Type = BaseCommand.Types.Type.CloseProducer, CloseProducer = new CommandCloseProducer { ProducerId = session.ProducerId, RequestId = id } },
                        "CLOSE_PRODUCER",
                        timeout.Token);
                }
            }
        }
        catch (Exception e) when (e is PulsarException or OperationCanceledException)
        {
            Logger.LogDebug(e, "Producer {Name} closed without a clean goodbye", Name);
        }
        finally
        {
            Session? last;
            lock (_lock)
            {
                _stopped = true;
                last = _session;
                _session = null;
                Monitor.Set(PulsarObjectState.Closed);
                FailPendingLocked(new PulsarObjectClosedException($"producer {Name} on {Topic}"));
            }
            last?.Connection.UnregisterProducer(last.ProducerId);
            await Shutdown.CancelAsync();
            _wake.Release();
            await Task.WhenAll(_writeLoop, ReconnectLoopTask);
            await _batchTimer.DisposeAsync();
            Shutdown.Dispose();
        }
    }

    /// <summary>One SEND: a single message (<see cref="Receipt"/>) or a batch (<see cref="BatchReceipts"/>).</summary>
    private readonly record struct PendingSend(
        ulong SequenceId, ulong HighestSequenceId, MessageMetadata Metadata, ReadOnlyMemory<byte> Payload, ReceiptSource? Receipt, ReceiptSource[]? BatchReceipts)
    {
        public void Fail(Exception reason)
        {
            Receipt?.Fail(reason);
            foreach (var receipt in BatchReceipts ?? [])
            {
                receipt.Fail(reason);
            }
        }
    }

    /// <summary>One registration of the producer on one connection; events of old sessions are ignored.</summary>
    private sealed class Session(PulsarProducer owner, PulsarConnection connection, ulong producerId) : IProducerChannel
    {
        public PulsarConnection Connection { get; } = connection;

        public ulong ProducerId { get; } = producerId;

        public void OnSendReceipt(CommandSendReceipt receipt) => owner.OnSendReceipt(this, receipt);

        public void OnSendError(CommandSendError error) => owner.OnSendError(this, error);

        public void OnClosed(Exception reason) => owner.OnSessionClosed(this, reason);
    }
}
