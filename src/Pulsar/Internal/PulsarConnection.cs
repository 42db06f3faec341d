using System.Collections.Concurrent;
using System.Net.Sockets;
using Google.Protobuf;
using Microsoft.Extensions.Logging;

namespace Sync.Pulsar.Internal;

/// <summary>
/// One TCP connection to a broker: the handshake, a read loop that dispatches frames by request,
/// producer and consumer id, serialized writes, and the keep-alive. A connection that fails is
/// closed for good and every waiter is told; it is never reused in an unknown state.
/// </summary>
internal sealed class PulsarConnection : IAsyncDisposable
{
    private readonly TcpClient _tcp;
    private readonly Stream _stream;
    private readonly PulsarClientOptions _options;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private readonly ArrayBufferWriter<byte> _writeBuffer = new(4096);
    private readonly ConcurrentDictionary<ulong, TaskCompletionSource<BaseCommand>> _pendingRequests = new();
    private readonly ConcurrentDictionary<ulong, IProducerChannel> _producers = new();
    private readonly ConcurrentDictionary<ulong, IConsumerChannel> _consumers = new();
    private readonly TaskCompletionSource<CommandConnected> _connected = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource<Exception> _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _shutdown = new();
    private long _nextRequestId;
    private long _nextProducerId;
    private long _nextConsumerId;
    private int _maxFrameSize = FrameFormat.DefaultMaxFrameSize;
    private volatile bool _receivedSinceLastTick;
    private volatile bool _waitingForPong;
    private Task _readLoop = Task.CompletedTask;
    private Task _keepAliveLoop = Task.CompletedTask;

    private PulsarConnection(TcpClient tcp, Stream stream, Uri brokerUrl, PulsarClientOptions options)
    {
        _tcp = tcp;
        _stream = stream;
        BrokerUrl = brokerUrl;
        _options = options;
        _logger = options.LoggerFactory.CreateLogger<PulsarConnection>();
    }

    public Uri BrokerUrl { get; }

    /// <summary>Protocol version both sides speak (the smaller of the two announced).</summary>
    public int ProtocolVersion { get; private set; }

    /// <summary>Largest message the broker accepts (CONNECTED.max_message_size, 5 MiB by default).</summary>
    public int MaxMessageSize { get; private set; } = FrameFormat.DefaultMaxMessageSize;

    public string ServerVersion { get; private set; } = string.Empty;

    /// <summary>Raised for a PRODUCER answered "not ready": a WaitForExclusive producer the broker
    /// queued behind an exclusive one (apache/pulsar AbstractTopic.incrementTopicEpochIfNeeded,
    /// ServerCnx.handleProducer: producer_ready=false once queued, the ready answer when it gets the
    /// topic). The request stays pending until that ready answer.</summary>
    public event Action<CommandProducerSuccess>? ProducerQueued;

    /// <summary>Completes with the reason once the connection is closed, for whatever cause.</summary>
    public Task<Exception> Closed => _closed.Task;

    public bool IsOpen => !_closed.Task.IsCompleted;

    /// <summary>The last keep-alive PING got no answer yet, and nothing else arrived since it was sent.</summary>
    public bool AwaitsPong => _waitingForPong;

    /// <summary>Opens a TCP connection and completes the CONNECT / CONNECTED handshake.</summary>
    public static async Task<PulsarConnection> OpenAsync(
        Uri brokerUrl, PulsarClientOptions options, string? proxyToBrokerUrl, CancellationToken cancellationToken)
    {
        var tcp = new TcpClient { NoDelay = true };
        PulsarConnection? connection = null;
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(options.OperationTimeout);
            try
            {
                await tcp.ConnectAsync(brokerUrl.Host, brokerUrl.Port, timeout.Token);
            }
            catch (SocketException e)
            {
                throw new ConnectionClosedException($"cannot connect to {brokerUrl}: {e.Message}", e);
            }

            Stream stream = tcp.GetStream();
            if (brokerUrl.Scheme == TlsConnector.Scheme)
            {
                stream = await TlsConnector.AuthenticateAsync(stream, brokerUrl, options, timeout.Token);
            }
            connection = new PulsarConnection(tcp, stream, brokerUrl, options);
            connection._readLoop = Task.Run(connection.ReadLoopAsync, CancellationToken.None);
            BaseCommand connect;
            try
            {
                connect = connection.BuildConnect(proxyToBrokerUrl);
            }
            catch (IOException e)
            {
                throw new ConnectionClosedException($"cannot read the token file for {brokerUrl}: {e.Message}", e);
            }
            await connection.SendAsync(connect, cancellationToken);
            var connected = await connection.WaitAsync(connection._connected.Task, "CONNECT", cancellationToken);
            connection.ProtocolVersion = Math.Min(options.ProtocolVersion, connected.ProtocolVersion);
            connection.ServerVersion = connected.ServerVersion;
            if (connected.HasMaxMessageSize && connected.MaxMessageSize > 0)
            {
                connection.MaxMessageSize = connected.MaxMessageSize;
                connection._maxFrameSize = FrameLimits.ForMessageSize(connected.MaxMessageSize);
            }
            // The timer starts here, not inside the loop's task, so the first tick is one interval after CONNECTED.
            var keepAlive = new PeriodicTimer(options.KeepAliveInterval, options.TimeProvider);
            connection._keepAliveLoop = Task.Run(() => connection.KeepAliveLoopAsync(keepAlive), CancellationToken.None);
            connection._logger.LogDebug(
                "Connected to {BrokerUrl} ({ServerVersion}, protocol v{ProtocolVersion})",
                brokerUrl, connection.ServerVersion, connection.ProtocolVersion);
            return connection;
        }
        catch
        {
            if (connection is not null)
            {
                await connection.DisposeAsync();
            }
            else
            {
                tcp.Dispose();
            }
            throw;
        }
    }

    private BaseCommand BuildConnect(string? proxyToBrokerUrl)
    {
        var connect = new CommandConnect
        {
            ClientVersion = _options.ClientVersion,
            ProtocolVersion = _options.ProtocolVersion,
            // We do not ask for broker-entry metadata: the decoder would skip it anyway.
            FeatureFlags = new FeatureFlags { SupportsAuthRefresh = true },
        };
        if (_options.CurrentToken() is { } token)
        {
            connect.AuthMethodName = "token";
            connect.AuthData = ByteString.CopyFromUtf8(token);
        }
        if (proxyToBrokerUrl is not null)
        {
            connect.ProxyToBrokerUrl = proxyToBrokerUrl;
        }
        return new BaseCommand { Type = BaseCommand.Types.Type.Connect, Connect = connect };
    }

    public ulong NextRequestId() => (ulong)Interlocked.Increment(ref _nextRequestId) - 1;

    public ulong NextProducerId() => (ulong)Interlocked.Increment(ref _nextProducerId) - 1;

    public ulong NextConsumerId() => (ulong)Interlocked.Increment(ref _nextConsumerId) - 1;

    public void Register(ulong producerId, IProducerChannel producer) => _producers[producerId] = producer;

    public void Register(ulong consumerId, IConsumerChannel consumer) => _consumers[consumerId] = consumer;

    public void UnregisterProducer(ulong producerId) => _producers.TryRemove(producerId, out _);

    public void UnregisterConsumer(ulong consumerId) => _consumers.TryRemove(consumerId, out _);

    /// <summary>Writes a simple command.</summary>
    public async ValueTask SendAsync(BaseCommand command, CancellationToken cancellationToken)
    {
        await _writeLock.WaitAsync(cancellationToken);
        try
        {
            ThrowIfClosed();
            _writeBuffer.ResetWrittenCount();
            FrameEncoder.WriteCommand(_writeBuffer, command);
            await WriteBufferAsync();
        }
        finally
        {
            _writeLock.Release();
        }
    }

    /// <summary>Writes a payload command (SEND) with magic and checksum.</summary>
    public async ValueTask SendAsync(BaseCommand command, MessageMetadata metadata, ReadOnlyMemory<byte> payload, CancellationToken cancellationToken)
    {
        await _writeLock.WaitAsync(cancellationToken);
        try
        {
            ThrowIfClosed();
            _writeBuffer.ResetWrittenCount();
            FrameEncoder.WritePayloadCommand(_writeBuffer, command, metadata, payload.Span);
            await WriteBufferAsync();
        }
        finally
        {
            _writeLock.Release();
        }
    }

    /// <summary>
    /// Writes several payload commands with one socket write, the way a producer with many
    /// messages ready avoids a system call per message.
    /// </summary>
    public async ValueTask SendAsync(IReadOnlyList<(BaseCommand Command, MessageMetadata Metadata, ReadOnlyMemory<byte> Payload)> frames, CancellationToken cancellationToken)
    {
        await _writeLock.WaitAsync(cancellationToken);
        try
        {
            ThrowIfClosed();
            _writeBuffer.ResetWrittenCount();
            foreach (var (command, metadata, payload) in frames)
            {
                FrameEncoder.WritePayloadCommand(_writeBuffer, command, metadata, payload.Span);
            }
            await WriteBufferAsync();
        }
        finally
        {
            _writeLock.Release();
        }
    }

    private async ValueTask WriteBufferAsync()
    {
        try
        {
            // Not cancellable mid-write: a half-written frame would corrupt the stream for everyone.
            await _stream.WriteAsync(_writeBuffer.WrittenMemory, CancellationToken.None);
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or SocketException)
        {
            if (_closed.Task.IsCompleted)
            {
                // The read side saw the broker close the connection first and disposed the socket
                // under this write: that close is the cause, not the disposed socket.
                throw _closed.Task.Result;
            }

            var reason = new ConnectionClosedException($"connection to {BrokerUrl} failed while writing: {e.Message}", e);
            Close(reason);
            throw reason;
        }
    }

    /// <summary>Sends a request built around a new request id (CLOSE_PRODUCER, CLOSE_CONSUMER, …) and
    /// waits for the broker's answer, as the overload that takes the id does.</summary>
    public Task<BaseCommand> RequestAsync(Func<ulong, BaseCommand> command, string operation, CancellationToken cancellationToken)
    {
        var requestId = NextRequestId();
        return RequestAsync(command(requestId), requestId, operation, cancellationToken);
    }

    /// <summary>
    /// Sends a command that carries <paramref name="requestId"/> and waits for the answer with the
    /// same request id. A CommandError answer is thrown as the matching <see cref="PulsarServerException"/>.
    /// </summary>
    public async Task<BaseCommand> RequestAsync(BaseCommand command, ulong requestId, string operation, CancellationToken cancellationToken)
    {
        var response = new TaskCompletionSource<BaseCommand>(TaskCreationOptions.RunContinuationsAsynchronously);
        _pendingRequests[requestId] = response;
        try
        {
            await SendAsync(command, cancellationToken);
            var answer = await WaitAsync(response.Task, operation, cancellationToken);
            if (answer.Type == BaseCommand.Types.Type.Error)
            {
                throw PulsarServerException.Create(answer.Error.Error, answer.Error.Message);
            }
            return answer;
        }
        finally
        {
            _pendingRequests.TryRemove(requestId, out _);
        }
    }

    private async Task<T> WaitAsync<T>(Task<T> task, string operation, CancellationToken cancellationToken)
    {
        var closed = Closed;
        try
        {
            var first = await Task.WhenAny(task, closed).WaitAsync(_options.OperationTimeout, cancellationToken);
            if (first == closed && !task.IsCompleted)
            {
                throw closed.Result;
            }
            return await task;
        }
        catch (TimeoutException)
        {
            throw new PulsarTimeoutException(operation, _options.OperationTimeout);
        }
    }

    private void ThrowIfClosed()
    {
        if (_closed.Task.IsCompleted)
        {
            throw _closed.Task.Result;
        }
    }

    private async Task ReadLoopAsync()
    {
        Exception reason;
        using var reader = new FrameStreamReader(_stream, _maxFrameSize) { MessagePool = _options.EntryBufferPool };
        try
        {
            while (true)
            {
                reader.MaxFrameSize = _maxFrameSize;
                var frame = await reader.ReadFrameAsync(_shutdown.Token);
                if (frame is null)
                {
                    reason = new ConnectionClosedException($"broker {BrokerUrl} closed the connection");
                    break;
                }
                _receivedSinceLastTick = true;
                _waitingForPong = false;
                try
                {
                    Dispatch(frame);
                }
                finally
                {
                    // The consumer took a hold for each message it queued; the frame's own goes now.
                    frame.Entry?.Release();
                }
            }
        }
        catch (OperationCanceledException) when (_shutdown.IsCancellationRequested)
        {
            reason = new ConnectionClosedException($"connection to {BrokerUrl} was closed by the client");
        }
        catch (PulsarProtocolException e)
        {
            _logger.LogWarning(e, "Protocol error from {BrokerUrl}; closing the connection", BrokerUrl);
            reason = new ConnectionClosedException($"protocol error from {BrokerUrl}: {e.Message}", e);
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException)
        {
            reason = new ConnectionClosedException($"connection to {BrokerUrl} failed: {e.Message}", e);
        }
        Close(reason);
    }

    private void Dispatch(PulsarFrame frame)
    {
        var command = frame.Command;
        switch (command.Type)
        {
            case BaseCommand.Types.Type.Connected:
                _connected.TrySetResult(command.Connected);
                break;
            case BaseCommand.Types.Type.Error when !_connected.Task.IsCompleted:
                // The broker answers a refused CONNECT (bad token) with ERROR and closes.
                _connected.TrySetException(PulsarServerException.Create(command.Error.Error, command.Error.Message));
                break;
            case BaseCommand.Types.Type.Ping:
                _ = SendPongAsync();
                break;
            case BaseCommand.Types.Type.Pong:
                break;
            case BaseCommand.Types.Type.AuthChallenge:
                _ = AnswerAuthChallengeAsync();
                break;
            case BaseCommand.Types.Type.SendReceipt:
                if (_producers.TryGetValue(command.SendReceipt.ProducerId, out var receiptProducer))
                {
                    receiptProducer.OnSendReceipt(command.SendReceipt);
                }
                break;
            case BaseCommand.Types.Type.SendError:
                if (_producers.TryGetValue(command.SendError.ProducerId, out var errorProducer))
                {
                    errorProducer.OnSendError(command.SendError);
                }
                break;
            case BaseCommand.Types.Type.CloseProducer:
                if (_producers.TryRemove(command.CloseProducer.ProducerId, out var closedProducer))
                {
                    closedProducer.OnClosed(new PulsarObjectClosedException($"producer {command.CloseProducer.ProducerId} (closed by the broker)"));
                }
                break;
            case BaseCommand.Types.Type.Message:
                if (_consumers.TryGetValue(command.Message.ConsumerId, out var consumer))
                {
                    consumer.OnMessage(frame);
                }
                break;
            case BaseCommand.Types.Type.ReachedEndOfTopic:
                if (_consumers.TryGetValue(command.ReachedEndOfTopic.ConsumerId, out var endedConsumer))
                {
                    endedConsumer.OnReachedEndOfTopic();
                }
                break;
            case BaseCommand.Types.Type.ActiveConsumerChange:
                if (_consumers.TryGetValue(command.ActiveConsumerChange.ConsumerId, out var changedConsumer))
                {
                    changedConsumer.OnActiveConsumerChange(command.ActiveConsumerChange.IsActive);
                }
                break;
            case BaseCommand.Types.Type.ProducerSuccess when !command.ProducerSuccess.ProducerReady:
                _logger.LogInformation("Producer request {RequestId} waits on {BrokerUrl} for exclusive access to its topic", command.ProducerSuccess.RequestId, BrokerUrl);
                ProducerQueued?.Invoke(command.ProducerSuccess);
                break;
            case BaseCommand.Types.Type.CloseConsumer:
                if (_consumers.TryRemove(command.CloseConsumer.ConsumerId, out var closedConsumer))
                {
                    closedConsumer.OnClosed(new PulsarObjectClosedException($"consumer {command.CloseConsumer.ConsumerId} (closed by the broker)"));
                }
                break;
            default:
                if (ResponseRequestId(command) is { } requestId && _pendingRequests.TryGetValue(requestId, out var waiter))
                {
                    waiter.TrySetResult(command);
                }
                else
                {
                    _logger.LogDebug("Ignoring {CommandType} from {BrokerUrl}", command.Type, BrokerUrl);
                }
                break;
        }
    }

    private static ulong? ResponseRequestId(BaseCommand command) => command.Type switch
    {
        BaseCommand.Types.Type.Success => command.Success.RequestId,
        BaseCommand.Types.Type.Error => command.Error.RequestId,
        BaseCommand.Types.Type.ProducerSuccess when command.ProducerSuccess.ProducerReady => command.ProducerSuccess.RequestId,
        BaseCommand.Types.Type.LookupResponse => command.LookupTopicResponse.RequestId,
        BaseCommand.Types.Type.PartitionedMetadataResponse => command.PartitionMetadataResponse.RequestId,
        BaseCommand.Types.Type.GetLastMessageIdResponse => command.GetLastMessageIdResponse.RequestId,
        BaseCommand.Types.Type.GetTopicsOfNamespaceResponse => command.GetTopicsOfNamespaceResponse.RequestId,
        BaseCommand.Types.Type.GetSchemaResponse => command.GetSchemaResponse.RequestId,
        BaseCommand.Types.Type.GetOrCreateSchemaResponse => command.GetOrCreateSchemaResponse.RequestId,
        BaseCommand.Types.Type.AckResponse when command.AckResponse.HasRequestId => command.AckResponse.RequestId,
        _ => null,
    };

    private async Task SendPongAsync()
    {
        try
        {
            await SendAsync(new BaseCommand { Type = BaseCommand.Types.Type.Pong, Pong = new CommandPong() }, CancellationToken.None);
        }
        catch (PulsarException)
        {
            // The connection is closing; its waiters learn it from Closed.
        }
    }

    private async Task AnswerAuthChallengeAsync()
    {
        var response = new CommandAuthResponse
        {
            ClientVersion = _options.ClientVersion,
            ProtocolVersion = _options.ProtocolVersion,
            Response = new AuthData
            {
                AuthMethodName = "token",
                // Read again: the point of the challenge is to present a fresh token.
                AuthData_ = ByteString.CopyFromUtf8(_options.CurrentToken() ?? string.Empty),
            },
        };
        try
        {
            await SendAsync(new BaseCommand { Type = BaseCommand.Types.Type.AuthResponse, AuthResponse = response }, CancellationToken.None);
        }
        catch (PulsarException)
        {
            // As above: closing.
        }
        catch (IOException e)
        {
            Close(new ConnectionClosedException($"cannot read the token file to answer AUTH_CHALLENGE: {e.Message}", e));
        }
    }

    private async Task KeepAliveLoopAsync(PeriodicTimer timer)
    {
        using var ticks = timer;
        try
        {
            while (await ticks.WaitForNextTickAsync(_shutdown.Token))
            {
                if (_waitingForPong && !_receivedSinceLastTick)
                {
                    Close(new ConnectionClosedException(
                        $"broker {BrokerUrl} did not answer PING within {_options.KeepAliveInterval.TotalSeconds:0.###} s"));
                    return;
                }
                _receivedSinceLastTick = false;
                _waitingForPong = true;
                await SendAsync(new BaseCommand { Type = BaseCommand.Types.Type.Ping, Ping = new CommandPing() }, _shutdown.Token);
            }
        }
        catch (OperationCanceledException)
        {
        }
        catch (PulsarException)
        {
            // Closed meanwhile.
        }
    }

    /// <summary>Closes the connection and tells every waiter, producer and consumer why.</summary>
    public void Close(Exception reason)
    {
        if (!_closed.TrySetResult(reason))
        {
            return;
        }
        _logger.LogDebug(reason, "Connection to {BrokerUrl} closed", BrokerUrl);
        _connected.TrySetException(reason);
        _shutdown.Cancel();
        _tcp.Dispose();
        foreach (var request in _pendingRequests.Values)
        {
            request.TrySetException(reason);
        }
        foreach (var producer in _producers.Values)
        {
            producer.OnClosed(reason);
        }
        foreach (var consumer in _consumers.Values)
        {
            consumer.OnClosed(reason);
        }
        _producers.Clear();
        _consumers.Clear();
    }

    public async ValueTask DisposeAsync()
    {
        Close(new ConnectionClosedException($"connection to {BrokerUrl} was closed by the client"));
        try
        {
            await Task.WhenAll(_readLoop, _keepAliveLoop);
        }
        catch (OperationCanceledException)
        {
        }
        // The write lock is left undisposed on purpose: a late PONG or ack may still be waiting
        // on it and must fail with ConnectionClosedException, not ObjectDisposedException.
        _shutdown.Dispose();
    }
}
