using System.Diagnostics;

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
        return await LoopbackPort.StartOnFreePortAsync(async port =>
        {
            var server = new RedisServerProcess(port, directory, extra);
            await server.StartAgainAsync();
            return server;
        });
    }

    /// <summary>Starts a TLS-only server (<c>--port 0 --tls-port P</c>) on a free port, with <paramref name="extra"/> (its certificate files).</summary>
    public static async Task<RedisServerProcess> StartTlsAsync(params string[] extra)
    {
        var directory = Path.Combine(Path.GetTempPath(), "sync-redis-" + Guid.NewGuid().ToString("N"));
        System.IO.Directory.CreateDirectory(directory);
        return await LoopbackPort.StartOnFreePortAsync(async port =>
        {
            var server = new RedisServerProcess(0, directory, ["--port", "0", "--tls-port", port.ToString(System.Globalization.CultureInfo.InvariantCulture), .. extra]);
            await server.StartAgainAsync();
            return server;
        });
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

        // Its own log says when it listens, or that it cannot: a connection to the port could
        // reach another process that took it first.
        var log = new System.Text.StringBuilder();
        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        void OnLine(string? line)
        {
            lock (log)
            {
                log.AppendLine(line);
            }

            if (line?.Contains("Ready to accept connections", StringComparison.Ordinal) == true)
            {
                ready.TrySetResult();
            }
        }

        var process = _process;
        process.OutputDataReceived += (_, e) => OnLine(e.Data);
        process.ErrorDataReceived += (_, e) => OnLine(e.Data);
        process.EnableRaisingEvents = true;
        process.Exited += (_, _) => ready.TrySetException(new InvalidOperationException("redis-server exited"));
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            await ready.Task.WaitAsync(TimeSpan.FromSeconds(10));
        }
        catch (Exception e) when (e is InvalidOperationException or TimeoutException)
        {
            await KillAsync();
            string text;
            lock (log)
            {
                text = log.ToString();
            }

            throw text.Contains("Address already in use", StringComparison.Ordinal)
                ? new PortTakenException(ListenPort, text)
                : new InvalidOperationException($"redis-server did not listen on port {ListenPort} within 10s: {text}", e);
        }
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
