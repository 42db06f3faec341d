using System.Net.Sockets;

namespace Sync.Testing.Process;

/// <summary>The accept loop of a loopback server: each accepted connection goes to a handler until
/// the server stops (its token cancelled, or its listener closed under the pending accept or before
/// the next one).</summary>
internal static class AcceptLoop
{
    public static async Task RunAsync<TConnection>(Func<CancellationToken, ValueTask<TConnection>> accept, Action<TConnection> handle, CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            TConnection accepted;
            try
            {
                accepted = await accept(stop);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException or InvalidOperationException)
            {
                return;
            }

            handle(accepted);
        }
    }
}
