using System.Diagnostics;
using Sync.Testing.Tls;

namespace Sync.Sinks.Tests.Postgres;

/// <summary>
/// A PostgreSQL server this test starts itself (here: with TLS), the way scripts/lib/services.sh
/// starts the suite's server: initdb with trust authentication, pg_ctl on a free loopback port,
/// data in a folder of its own. As root, the server runs as the postgres user, as PostgreSQL
/// insists. The Debian postgresql package must be installed, as ./scripts/test.sh ensures.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
internal sealed class PostgresServerProcess : IAsyncDisposable
{
    private readonly string _bin;
    private string _options = string.Empty;

    private PostgresServerProcess(string bin, string directory, int port)
    {
        _bin = bin;
        Directory = directory;
        Port = port;
    }

    public string Directory { get; }

    public int Port { get; }

    private string DataDirectory => Path.Combine(Directory, "data");

    /// <summary>Starts a server (with TLS on when <paramref name="tls"/> is given) and waits until it accepts connections.</summary>
    public static async Task<PostgresServerProcess> StartAsync(TestCertificates? tls = null)
    {
        var bin = System.IO.Directory.Exists("/usr/lib/postgresql")
            ? System.IO.Directory.GetDirectories("/usr/lib/postgresql").Select(d => Path.Combine(d, "bin")).Where(System.IO.Directory.Exists).OrderBy(d => d, StringComparer.Ordinal).LastOrDefault()
            : null;
        if (bin is null)
        {
            throw new InvalidOperationException("PostgreSQL is not installed under /usr/lib/postgresql: run the tests with ./scripts/test.sh, which installs it");
        }

        var directory = System.IO.Directory.CreateTempSubdirectory("sync-pg-").FullName;
        File.SetUnixFileMode(directory, (UnixFileMode)0b111_101_101);
        var initialized = new PostgresServerProcess(bin, directory, 0);
        await initialized.RunAsync("initdb", "-D", initialized.DataDirectory, "-U", "postgres", "-A", "trust", "--no-sync");
        return await LoopbackPort.StartOnFreePortAsync(async port =>
        {
            var server = new PostgresServerProcess(bin, directory, port);
            try
            {
                await server.StartOnPortAsync(tls);
                return server;
            }
            catch (InvalidOperationException e) when (server.ServerLog.Contains("Address already in use", StringComparison.Ordinal))
            {
                // The log is appended to by each start: a later attempt must not see this one's line.
                File.Delete(Path.Combine(directory, "server.log"));
                throw new PortTakenException(port, e.Message);
            }
        });
    }

    private async Task StartOnPortAsync(TestCertificates? tls)
    {
        var directory = Directory;
        var options = $"-p {Port.ToString(CultureInfo.InvariantCulture)} -k {directory} -c listen_addresses=127.0.0.1 -c fsync=off";
        if (tls is not null)
        {
            // The server reads its key as its own user, and only from a file no one else can read.
            var certificate = Path.Combine(directory, "server.crt");
            var key = Path.Combine(directory, "server.key");
            if (!File.Exists(certificate))
            {
                File.Copy(tls.CertificateFile, certificate);
                File.Copy(tls.KeyFile, key);
                File.SetUnixFileMode(key, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            }

            options += $" -c ssl=on -c ssl_cert_file={certificate} -c ssl_key_file={key}";
        }
        _options = options;
        await StartAgainAsync();
    }

    /// <summary>Connection string of the server's postgres database (TLS left to the caller).</summary>
    public string ConnectionString => $"Host=127.0.0.1;Port={Port.ToString(CultureInfo.InvariantCulture)};Username=postgres;Database=postgres";

    /// <summary>Stops the server at once, as a crash would (clients see their connections refused
    /// until <see cref="StartAgainAsync"/>); its data stays.</summary>
    public Task StopAsync() => RunAsync("pg_ctl", "-D", DataDirectory, "-m", "immediate", "-w", "stop");

    /// <summary>Starts the server on its port with its data and settings and waits until it accepts connections.</summary>
    public Task StartAgainAsync() => RunAsync("pg_ctl", "-D", DataDirectory, "-w", "-l", Path.Combine(Directory, "server.log"), "-o", _options, "start");

    /// <summary>Stops the server, keeps a copy of its data directory named <paramref name="name"/>, and starts it again.</summary>
    public async Task CopyDataAsideAsync(string name)
    {
        await StopAsync();
        await ExecAsync("cp", ["-a", DataDirectory, Path.Combine(Directory, name)]);
        await StartAgainAsync();
    }

    /// <summary>Stops the server, puts the copy named <paramref name="name"/> back in place of its data
    /// directory and starts it: a server restored from an older copy of its data.</summary>
    public async Task RestoreDataAsync(string name)
    {
        await StopAsync();
        await ExecAsync("rm", ["-rf", DataDirectory]);
        await ExecAsync("cp", ["-a", Path.Combine(Directory, name), DataDirectory]);
        await StartAgainAsync();
    }

    public string ServerLog => File.Exists(Path.Combine(Directory, "server.log")) ? File.ReadAllText(Path.Combine(Directory, "server.log")) : string.Empty;

    private async Task RunAsync(string tool, params string[] arguments)
    {
        var path = Path.Combine(_bin, tool);
        if (Environment.UserName == "root")
        {
            await ExecAsync("chown", ["-R", "postgres", Directory]);
            await ExecAsync("runuser", ["-u", "postgres", "--", path, .. arguments]);
        }
        else
        {
            await ExecAsync(path, arguments);
        }
    }

    private async Task ExecAsync(string fileName, string[] arguments)
    {
        var start = new ProcessStartInfo(fileName) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{fileName} {string.Join(' ', arguments)} exited with {process.ExitCode}: {await output}{await error}\n{ServerLog}");
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await RunAsync("pg_ctl", "-D", DataDirectory, "-m", "immediate", "stop");
        }
        catch (InvalidOperationException)
        {
            // Not running (a failed start): only the folder is left to remove.
        }
        System.IO.Directory.Delete(Directory, recursive: true);
    }
}
