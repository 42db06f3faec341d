using System.Net;
using System.Net.Sockets;

namespace Sync.Testing.Process;

/// <summary>Ports for servers that cannot bind port 0 and say which port they got (redis-server,
/// postgres): the OS names a port that is free, the server is started on it, and on another one
/// when something else took it in between. Servers of this process bind port 0 instead.</summary>
public static class LoopbackPort
{
    /// <summary>Starts a server on a free loopback port, again on another port (up to ten times)
    /// while <paramref name="start"/> throws <see cref="PortTakenException"/>.</summary>
    public static async Task<T> StartOnFreePortAsync<T>(Func<int, Task<T>> start)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await start(Unused());
            }
            catch (PortTakenException) when (attempt < 10)
            {
            }
        }
    }

    /// <summary>A loopback port nothing listened on a moment ago: a connection to it is refused.</summary>
    public static int Unused()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
    }
}

/// <summary>A server could not bind its port: another process listens there.</summary>
public sealed class PortTakenException(int port, string detail) : Exception($"port {port} is taken: {detail}");
