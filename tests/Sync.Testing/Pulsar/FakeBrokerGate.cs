using System.Net;
using System.Net.Sockets;
using Sync.Testing.Process;

namespace Sync.Testing.Pulsar;

/// <summary>
/// A loopback port in front of a fake broker's binary or admin endpoint, through which a test
/// stages an outage: refused connections, connections closed right after they open, then the broker
/// back. It starts refusing on a port bound from port 0 and never released,
/// so a later <see cref="Open"/> cannot race another process for it. A lookup answered through the
/// gate names the broker's own URL; clients then connect there directly, which is what a test of
/// start-up wants (the outage is over once the gate opens).
/// </summary>
public sealed class FakeBrokerGate : IAsyncDisposable
{
    /// <summary>What the gate does with a connection attempt.</summary>
    private enum GateMode
    {
        /// <summary>The port is bound but not listening: every connect is refused (RST), as when the
        /// broker's process is down. The port stays reserved, so no other process can take it.</summary>
        Refusing,

        /// <summary>Connections are accepted and closed at once, as a broker that is starting or
        /// shutting down (or a load balancer in front of no healthy broker) does.</summary>
        Closing,

        /// <summary>Connections are forwarded to the target endpoint.</summary>
        Forwarding,
    }

    private readonly Socket _socket = new(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
    private readonly CancellationTokenSource _shutdown = new();
    private readonly IPEndPoint _target;
    private readonly List<Task> _pumps = [];
    private Task? _acceptLoop;
    private volatile GateMode _mode = GateMode.Refusing;
    private int _attempts;

    /// <param name="target">Where connections go once the gate forwards: a broker's ServiceUrl or AdminUrl.</param>
    public FakeBrokerGate(Uri target)
    {
        ArgumentNullException.ThrowIfNull(target);
        _target = new IPEndPoint(IPAddress.Parse(target.Host), target.Port);
        _socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        Port = ((IPEndPoint)_socket.LocalEndPoint!).Port;
    }

    public int Port { get; }

    /// <summary>Connections accepted while closing (refused ones never reach us).</summary>
    public int ClosedConnections => Volatile.Read(ref _attempts);

    /// <summary>The gate's URL with the scheme of <paramref name="like"/> (pulsar:// or http://).</summary>
    public Uri UrlLike(Uri like)
    {
        ArgumentNullException.ThrowIfNull(like);
        return new Uri($"{like.Scheme}://127.0.0.1:{Port}");
    }

    /// <summary>From now on connections are accepted and closed at once.</summary>
    public void CloseConnections()
    {
        _mode = GateMode.Closing;
        StartListening();
    }

    /// <summary>From now on connections reach the target (the broker is back).</summary>
    public void Open()
    {
        _mode = GateMode.Forwarding;
        StartListening();
    }

    private void StartListening()
    {
        lock (_socket)
        {
            if (_acceptLoop is not null)
            {
                return;
            }

            _socket.Listen(64);
            _acceptLoop = Task.Run(AcceptLoopAsync);
        }
    }

    private Task AcceptLoopAsync() => AcceptLoop.RunAsync(_socket.AcceptAsync, Admit, _shutdown.Token);

    private void Admit(Socket accepted)
    {
        if (_mode != GateMode.Forwarding)
        {
            Interlocked.Increment(ref _attempts);
            accepted.Dispose();
            return;
        }

        lock (_pumps)
        {
            _pumps.Add(Task.Run(() => ForwardAsync(accepted)));
        }
    }

    private async Task ForwardAsync(Socket client)
    {
        using var _ = client;
        using var upstream = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        client.NoDelay = true;
        try
        {
            await upstream.ConnectAsync(_target, _shutdown.Token);
            await using var clientStream = new NetworkStream(client, ownsSocket: false);
            await using var upstreamStream = new NetworkStream(upstream, ownsSocket: false);
            // Either side ending ends both, as a TCP proxy does.
            await Task.WhenAny(
                clientStream.CopyToAsync(upstreamStream, _shutdown.Token),
                upstreamStream.CopyToAsync(clientStream, _shutdown.Token));
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or SocketException or ObjectDisposedException)
        {
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _shutdown.CancelAsync();
        _socket.Dispose();
        if (_acceptLoop is not null)
        {
            await _acceptLoop;
        }

        Task[] pumps;
        lock (_pumps)
        {
            pumps = [.. _pumps];
        }

        await Task.WhenAll(pumps);
        _shutdown.Dispose();
    }
}
