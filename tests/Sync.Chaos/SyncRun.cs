using System.Diagnostics;
using System.Globalization;

namespace Sync.Chaos;

/// <summary>
/// <c>sync run --config FILE</c> as a separate process (the built sync.dll, as a user runs it),
/// with its output appended to a log file. <see cref="KillAsync"/> is SIGKILL: no shutdown code runs.
/// </summary>
public sealed class SyncRun : IDisposable
{
    private readonly Process _process;

    private SyncRun(Process process) => _process = process;

    public int Id => _process.Id;

    public bool HasExited => _process.HasExited;

    public int ExitCode => _process.ExitCode;

    public static SyncRun Start(string cliAssembly, string config, string log)
    {
        // exec: the process id is the runtime's own, so that SIGKILL reaches sync itself.
        var info = new ProcessStartInfo("/bin/sh")
        {
            UseShellExecute = false,
            WorkingDirectory = Path.GetDirectoryName(config)!,
        };
        info.ArgumentList.Add("-c");
        info.ArgumentList.Add("exec dotnet \"$0\" run --config \"$1\" >>\"$2\" 2>&1");
        info.ArgumentList.Add(cliAssembly);
        info.ArgumentList.Add(config);
        info.ArgumentList.Add(log);
        info.Environment["DOTNET_NOLOGO"] = "1";
        info.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        return new SyncRun(Process.Start(info) ?? throw new InvalidOperationException("sync run did not start"));
    }

    /// <summary>SIGKILL, then waits until the process is gone.</summary>
    public async Task KillAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
        }

        await _process.WaitForExitAsync();
    }

    /// <summary>Peak resident set size so far (VmHWM), in bytes; null once the process is gone.</summary>
    public long? PeakRss()
    {
        try
        {
            foreach (var line in File.ReadLines($"/proc/{_process.Id}/status"))
            {
                if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
                {
                    return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
                }
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Gone between the check and the read.
        }

        return null;
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
            _process.WaitForExit();
        }

        _process.Dispose();
    }
}
