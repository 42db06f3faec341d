using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Sync.Testing.Process;

/// <summary>An <see cref="HttpListener"/> of this process on a loopback port. HttpListener cannot bind
/// port 0, so for port 0 the OS names a free port and the listener takes it, or another one when some
/// other process was faster (ten tries).</summary>
internal static class LoopbackHttpListener
{
    /// <param name="port">The port to listen on, 0 for a free one.</param>
    /// <param name="anyHostHeader">Whether requests of any <c>Host</c> header are answered (prefix
    /// <c>http://*:port/</c>), not only those naming 127.0.0.1.</param>
    public static (HttpListener Listener, Uri Url) Start(int port = 0, bool anyHostHeader = false)
    {
        for (var attempt = 0; ; attempt++)
        {
            var chosen = port == 0 ? LoopbackPort.Unused() : port;
            try
            {
                return (Listen(chosen, anyHostHeader), UrlOf(chosen));
            }
            catch (HttpListenerException) when (port == 0 && attempt < 10)
            {
            }
        }
    }

    /// <summary>Listens again on the port a listener of this process held a moment ago (a node that comes
    /// back at its address). Linux refuses the bind (EADDRINUSE) while a connection on that port is still
    /// closing or an outgoing connection briefly holds it as its ephemeral port; a restarting server would
    /// wait for the port as well, so this tries again for up to 90 s before it gives up.</summary>
    public static Task<HttpListener> ListenAgainAsync(Uri url, bool anyHostHeader) =>
        OnceThePortIsFreeAsync(() => Listen(url.Port, anyHostHeader));

    /// <summary>Runs <paramref name="bind"/> until the port it binds is free (see <see cref="ListenAgainAsync"/>).</summary>
    public static async Task<T> OnceThePortIsFreeAsync<T>(Func<T> bind)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(90);
        while (true)
        {
            try
            {
                return bind();
            }
            catch (Exception e) when (e is HttpListenerException or SocketException && DateTime.UtcNow < deadline)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(50));
            }
        }
    }

    private static Uri UrlOf(int port) => new($"http://127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}/");

    private static HttpListener Listen(int port, bool anyHostHeader)
    {
        var listener = new HttpListener();
        listener.Prefixes.Add(anyHostHeader ? $"http://*:{port.ToString(CultureInfo.InvariantCulture)}/" : UrlOf(port).ToString());
        try
        {
            listener.Start();
            return listener;
        }
        catch
        {
            listener.Close();
            throw;
        }
    }

    /// <summary>Hands each request to <paramref name="handle"/> on the thread pool until the listener is
    /// stopped or closed, or <paramref name="stop"/> is cancelled. The token is what ends the loop for
    /// sure: a <c>GetContextAsync</c> that the managed HttpListener begins while it is being closed can
    /// stay pending for ever (seen as a test host that hung in a fake's DisposeAsync, awaiting this loop).</summary>
    public static async Task ServeAsync(HttpListener listener, Func<HttpListenerContext, Task> handle, CancellationToken stop)
    {
        while (true)
        {
            HttpListenerContext context;
            try
            {
                context = await listener.GetContextAsync().WaitAsync(stop);
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or InvalidOperationException)
            {
                return;
            }

            _ = Task.Run(() => handle(context));
        }
    }
}
