using System.Globalization;
using System.Net;

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
            var chosen = (port == 0 ? LoopbackPort.Unused() : port).ToString(CultureInfo.InvariantCulture);
            var url = new Uri($"http://127.0.0.1:{chosen}/");
            var listener = new HttpListener();
            listener.Prefixes.Add(anyHostHeader ? $"http://*:{chosen}/" : url.ToString());
            try
            {
                listener.Start();
                return (listener, url);
            }
            catch (HttpListenerException) when (port == 0 && attempt < 10)
            {
                listener.Close();
            }
        }
    }

    /// <summary>Hands each request to <paramref name="handle"/> on the thread pool until the listener is
    /// stopped or closed.</summary>
    public static async Task ServeAsync(HttpListener listener, Func<HttpListenerContext, Task> handle)
    {
        while (true)
        {
            HttpListenerContext context;
            try
            {
                context = await listener.GetContextAsync();
            }
            catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or InvalidOperationException)
            {
                return;
            }

            _ = Task.Run(() => handle(context));
        }
    }
}
