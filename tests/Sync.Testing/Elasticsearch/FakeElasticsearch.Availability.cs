using System.Net;
using System.Net.Sockets;
using Sync.Testing.Process;

namespace Sync.Testing.Elasticsearch;

/// <summary>A node that goes down and comes back at the same address. While it is down nothing
/// answers HTTP on its port: every connection is accepted and reset at once (RST), which the client
/// sees as it sees a node whose process stopped behind its address, a request with no HTTP status.
/// (HttpListener's own <c>Abort</c> is no such thing on Linux: it sends an empty 200 first.)</summary>
public sealed partial class FakeElasticsearch
{
    private TcpListener? _resetting;
    private Task _resetLoop = Task.CompletedTask;
    private int _resetConnections;

    /// <summary>How many connections were reset while the node was down.</summary>
    public int ResetConnections => Volatile.Read(ref _resetConnections);

    /// <summary>The node stops answering: the HTTP listener stops and its port resets every connection
    /// until <see cref="ComeBackAsync"/>. Its indices stay as they are (a test may restore an older copy meanwhile).</summary>
    public async Task GoDownAsync()
    {
        _listener.Stop();
        await _loopStop.CancelAsync();
        await _loop;
        var resetting = await LoopbackHttpListener.OnceThePortIsFreeAsync(() =>
        {
            var listener = new TcpListener(IPAddress.Loopback, Url.Port);
            try
            {
                listener.Start();
                return listener;
            }
            catch
            {
                listener.Dispose();
                throw;
            }
        });
        _resetting = resetting;
        _resetLoop = Task.Run(() => ResetConnectionsAsync(resetting));
    }

    /// <summary>The node answers again, at the same address.</summary>
    public async Task ComeBackAsync()
    {
        await StopResettingAsync();
        _listener.Close();
        _loopStop.Dispose();
        _loopStop = new CancellationTokenSource();
        _listener = await LoopbackHttpListener.ListenAgainAsync(Url, Options.AnyHostHeader);
        _loop = Task.Run(() => LoopAsync(_loopStop.Token));
    }

    private async Task StopResettingAsync()
    {
        if (_resetting is { } resetting)
        {
            _resetting = null;
            resetting.Stop();
            await _resetLoop;
        }
    }

    private Task ResetConnectionsAsync(TcpListener resetting) =>
        AcceptLoop.RunAsync(
            resetting.AcceptSocketAsync,
            socket =>
            {
                Interlocked.Increment(ref _resetConnections);
                socket.LingerState = new LingerOption(true, 0);
                socket.Close();
            },
            CancellationToken.None);
}
