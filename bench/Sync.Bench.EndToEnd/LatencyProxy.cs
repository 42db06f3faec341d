using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Threading.Channels;

namespace Sync.Bench.EndToEnd;

/// <summary>A TCP proxy on loopback that holds every chunk the server sends for a fixed delay
/// before passing it on, so that each round trip to the server (a statement, a commit) takes that
/// much longer while the server's own work stays the same: a sink whose latency, not its CPU, is
/// the bottleneck, as with a database in another zone. Chunks keep their order; the client's
/// direction is passed on at once.</summary>
internal sealed class LatencyProxy : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly IPEndPoint _server;
    private readonly TimeSpan _delay;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _running = [];
    private readonly Task _accepting;

    public LatencyProxy(IPEndPoint server, TimeSpan delay)
    {
        _server = server;
        _delay = delay;
        _listener.Start();
        _accepting = AcceptAsync();
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    private async Task AcceptAsync()
    {
        try
        {
            while (true)
            {
                var client = await _listener.AcceptTcpClientAsync(_stop.Token);
                lock (_running)
                {
                    _running.Add(ServeAsync(client));
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private async Task ServeAsync(TcpClient client)
    {
        using (client)
        using (var server = new TcpClient { NoDelay = true })
        {
            client.NoDelay = true;
            try
            {
                await server.ConnectAsync(_server, _stop.Token);
                var toServer = CopyAsync(client.GetStream(), server.GetStream(), TimeSpan.Zero);
                var toClient = CopyAsync(server.GetStream(), client.GetStream(), _delay);
                await Task.WhenAny(toServer, toClient);
            }
            catch (Exception e) when (e is IOException or SocketException or OperationCanceledException)
            {
                // One side closed or the proxy stops: the other side is closed with it.
            }
        }
    }

    /// <summary>Reads chunks as they come and writes each one once it is <paramref name="delay"/> old.</summary>
    private async Task CopyAsync(NetworkStream from, NetworkStream to, TimeSpan delay)
    {
        var line = Channel.CreateUnbounded<(long Due, byte[] Chunk)>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        var writing = Task.Run(async () =>
        {
            await foreach (var (due, chunk) in line.Reader.ReadAllAsync(_stop.Token))
            {
                var wait = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), due);
                if (wait > TimeSpan.Zero)
                {
                    await Task.Delay(wait, _stop.Token);
                }

                await to.WriteAsync(chunk, _stop.Token);
            }
        });
        var buffer = new byte[64 * 1024];
        try
        {
            int read;
            while ((read = await from.ReadAsync(buffer, _stop.Token)) > 0)
            {
                line.Writer.TryWrite((Stopwatch.GetTimestamp() + (long)(delay.TotalSeconds * Stopwatch.Frequency), buffer[..read]));
            }
        }
        finally
        {
            line.Writer.TryComplete();
            await writing;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        await _accepting;
        Task[] running;
        lock (_running)
        {
            running = [.. _running];
        }

        await Task.WhenAll(running);
        _stop.Dispose();
    }
}
