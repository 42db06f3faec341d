using System.Buffers;
using System.Net.Sockets;
using System.Threading.Channels;
using Sync.Pulsar;
using Sync.Pulsar.Protocol;
using Sync.Pulsar.Protocol.Proto;

namespace Sync.Testing.Pulsar;

/// <summary>
/// The broker side of one client connection: a read loop handing each frame to the handler of
/// its command area (one partial file per area) and a write loop fed by a queue, so that frames
/// queued under the broker lock leave in exactly that order.
/// </summary>
internal sealed partial class FakeBrokerConnection : IAsyncDisposable
{
    private readonly FakePulsarBroker _broker;
    private readonly TcpClient _client;
    private readonly Stream _stream;
    private readonly Channel<byte[]> _outgoing = Channel.CreateUnbounded<byte[]>(new UnboundedChannelOptions { SingleReader = true });
    private readonly CancellationTokenSource _closed = new();
    private Task _readLoop = Task.CompletedTask;
    private Task _writeLoop = Task.CompletedTask;
    private int _aborted;

    public FakeBrokerConnection(FakePulsarBroker broker, TcpClient client, Stream stream)
    {
        _broker = broker;
        _client = client;
        _stream = stream;
    }

    private FakePulsarBroker Broker => _broker;

    public void Start()
    {
        _readLoop = Task.Run(ReadLoopAsync);
        _writeLoop = Task.Run(WriteLoopAsync);
    }

    private async Task ReadLoopAsync()
    {
        using var reader = new FrameStreamReader(_stream, _broker.Options.MaxMessageSize + FrameFormat.FramePadding);
        try
        {
            while (await reader.ReadFrameAsync(_closed.Token) is { } frame)
            {
                _broker.CountReceived(frame.Command.Type);
                _broker.Options.Trace?.Invoke($"<- {frame.Command}");
                Handle(frame);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or ObjectDisposedException or SocketException or PulsarProtocolException)
        {
            // A protocol error closes the connection, as the broker's frame decoder does.
        }
        Abort();
    }

    private void Handle(PulsarFrame frame)
    {
        var command = frame.Command;
        if (!_handshakeDone && command.Type != BaseCommand.Types.Type.Connect)
        {
            // The broker requires CONNECT first and drops connections that skip it.
            Abort();
            return;
        }
        switch (command.Type)
        {
            case BaseCommand.Types.Type.Connect: HandleConnect(command.Connect); break;
            case BaseCommand.Types.Type.Ping: HandlePing(); break;
            case BaseCommand.Types.Type.Pong: break;
            case BaseCommand.Types.Type.AuthResponse: HandleAuthResponse(command.AuthResponse); break;
            case BaseCommand.Types.Type.Lookup: HandleLookup(command.LookupTopic); break;
            case BaseCommand.Types.Type.PartitionedMetadata: HandlePartitionedMetadata(command.PartitionMetadata); break;
            case BaseCommand.Types.Type.Producer: HandleProducer(command.Producer); break;
            case BaseCommand.Types.Type.Send: HandleSend(command.Send, frame); break;
            case BaseCommand.Types.Type.CloseProducer: HandleCloseProducer(command.CloseProducer); break;
            case BaseCommand.Types.Type.Subscribe: HandleSubscribe(command.Subscribe); break;
            case BaseCommand.Types.Type.Flow: HandleFlow(command.Flow); break;
            case BaseCommand.Types.Type.CloseConsumer: HandleCloseConsumer(command.CloseConsumer); break;
            case BaseCommand.Types.Type.Unsubscribe: HandleUnsubscribe(command.Unsubscribe); break;
            case BaseCommand.Types.Type.Ack: HandleAck(command.Ack); break;
            case BaseCommand.Types.Type.RedeliverUnacknowledgedMessages: HandleRedeliver(command.RedeliverUnacknowledgedMessages); break;
            case BaseCommand.Types.Type.Seek: HandleSeek(command.Seek); break;
            case BaseCommand.Types.Type.GetTopicsOfNamespace: HandleGetTopicsOfNamespace(command.GetTopicsOfNamespace); break;
            case BaseCommand.Types.Type.GetLastMessageId: HandleGetLastMessageId(command.GetLastMessageId); break;
            case BaseCommand.Types.Type.GetSchema: HandleGetSchema(command.GetSchema); break;
            case BaseCommand.Types.Type.GetOrCreateSchema: HandleGetOrCreateSchema(command.GetOrCreateSchema); break;
            default:
                // The broker answers commands it does not support with an error where a request
                // id exists; we have none to answer here, so the command is ignored.
                break;
        }
    }

    /// <summary>Queues a simple command. Call under the broker lock to keep ordering with other frames.</summary>
    internal void SendLocked(BaseCommand command) => Send(command);

    /// <summary>Queues a command outside the lock (responses that need no ordering with dispatch).</summary>
    private void Send(BaseCommand command)
    {
        _broker.Options.Trace?.Invoke($"-> {command}");
        _outgoing.Writer.TryWrite(FrameEncoder.EncodeCommand(command));
    }

    private void SendPayloadLocked(BaseCommand command, ReadOnlySpan<byte> messageBytes)
    {
        _broker.Options.Trace?.Invoke($"-> {command} + {messageBytes.Length} message bytes");
        var writer = new ArrayBufferWriter<byte>(messageBytes.Length + 64);
        FrameEncoder.WritePayloadCommand(writer, command, messageBytes);
        _outgoing.Writer.TryWrite(writer.WrittenSpan.ToArray());
    }

    private void SendError(ulong requestId, ServerError error, string message) =>
        Send(new BaseCommand
        {
            Type = BaseCommand.Types.Type.Error,
            Error = new CommandError { RequestId = requestId, Error = error, Message = message },
        });

    private void SendSuccess(ulong requestId) =>
        Send(new BaseCommand { Type = BaseCommand.Types.Type.Success, Success = new CommandSuccess { RequestId = requestId } });

    private async Task WriteLoopAsync()
    {
        await using var buffered = new BufferedStream(_stream, 64 * 1024);
        try
        {
            var reader = _outgoing.Reader;
            while (await reader.WaitToReadAsync(_closed.Token))
            {
                if (_broker.Faults.ResponseDelay is { } delay && delay > TimeSpan.Zero)
                {
                    // A slow broker: everything it sends arrives late, in order.
                    _broker.Faults.Fire(nameof(FakeBrokerFaults.ResponseDelay));
                    await Task.Delay(delay, _closed.Token);
                }
                while (reader.TryRead(out var frame))
                {
                    await buffered.WriteAsync(frame, _closed.Token);
                }
                await buffered.FlushAsync(_closed.Token);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or ObjectDisposedException or SocketException)
        {
        }
        if (_closeAfterWrites)
        {
            Abort();
        }
    }

    /// <summary>Closes the socket and detaches everything this connection carried.</summary>
    public void Abort()
    {
        if (Interlocked.Exchange(ref _aborted, 1) == 1)
        {
            return;
        }
        lock (_broker.Sync)
        {
            _broker.RemoveConnectionLocked(this);
            DetachAllLocked();
        }
        _outgoing.Writer.TryComplete();
        _closed.Cancel();
        _client.Dispose();
    }

    public async ValueTask DisposeAsync()
    {
        Abort();
        await Task.WhenAll(_readLoop, _writeLoop);
        _closed.Dispose();
    }
}
