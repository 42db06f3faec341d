using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Sync.Sinks.Tests.Redis;

/// <summary>A redis-server this test starts itself (for restarts and TLS), on a free loopback port with its
/// data in a folder of its own. redis-server must be on the PATH, as ./scripts/test.sh ensures.</summary>
internal sealed class RedisServerProcess : IAsyncDisposable
{
    private readonly string[] _arguments;
    private Process? _process;

    private RedisServerProcess(int port, string directory, string[] arguments)
    {
        Port = port;
        Directory = directory;
        _arguments = arguments;
    }

    public int Port { get; }

    /// <summary>The TLS port when the server was started with <c>--tls-port</c> (and <c>--port 0</c>).</summary>
    public int TlsPort => Array.IndexOf(_arguments, "--tls-port") is var i and >= 0 ? int.Parse(_arguments[i + 1], System.Globalization.CultureInfo.InvariantCulture) : 0;

    private int ListenPort => TlsPort > 0 ? TlsPort : Port;

    public string Directory { get; }

    public string Endpoint => $"127.0.0.1:{Port}";

    /// <summary>Starts a server that persists every write (append-only file, fsync always), so that a
    /// killed and restarted server holds everything it acknowledged.</summary>
    public static async Task<RedisServerProcess> StartAsync(params string[] extra)
    {
        var directory = Path.Combine(Path.GetTempPath(), "sync-redis-" + Guid.NewGuid().ToString("N"));
        System.IO.Directory.CreateDirectory(directory);
        var port = FreePort();
        var server = new RedisServerProcess(port, directory, extra);
        await server.StartAgainAsync();
        return server;
    }

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    /// <summary>Starts the server (again) on the same port and data folder and waits until it answers.</summary>
    public async Task StartAgainAsync()
    {
        var start = new ProcessStartInfo("redis-server")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in (string[])["--port", Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--save", "",
                     "--appendonly", "yes", "--appendfsync", "always", "--dir", Directory, .. _arguments])
        {
            start.ArgumentList.Add(argument);
        }

        try
        {
            _process = Process.Start(start) ?? throw new InvalidOperationException("redis-server did not start");
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException("redis-server is not on the PATH: run the tests with ./scripts/test.sh, which installs it", e);
        }

        _process.OutputDataReceived += (_, _) => { };
        _process.ErrorDataReceived += (_, _) => { };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                using var client = new TcpClient();
                await client.ConnectAsync(IPAddress.Loopback, ListenPort);
                return;
            }
            catch (SocketException)
            {
                await Task.Delay(20);
            }
        }

        throw new InvalidOperationException($"redis-server did not listen on port {ListenPort} within 10s");
    }

    /// <summary>Kills the server at once (SIGKILL), as a crash would.</summary>
    public async Task KillAsync()
    {
        if (_process is { HasExited: false } process)
        {
            process.Kill();
            await process.WaitForExitAsync();
        }

        _process?.Dispose();
        _process = null;
    }

    public async ValueTask DisposeAsync()
    {
        await KillAsync();
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
