using System.Diagnostics;

namespace Sync.Testing.Process;

/// <summary>What a finished process printed and returned.</summary>
public sealed record ProcessResult(int ExitCode, string Output, string Error)
{
    public override string ToString() => $"exit {ExitCode}\n--- stdout\n{Output}\n--- stderr\n{Error}";
}

/// <summary>Runs the real CLI as a separate process, as a user would.</summary>
public static class SyncProcess
{
    /// <summary>Runs <c>dotnet sync.dll ARGS</c> in <paramref name="workingDirectory"/> and waits for it.</summary>
    public static Task<ProcessResult> RunAsync(string workingDirectory, params string[] args) =>
        RunAsync("dotnet", [RepoPaths.CliAssembly, .. args], workingDirectory, TimeSpan.FromMinutes(3));

    /// <summary>Starts the CLI without waiting, for tests that stop it themselves.</summary>
    public static System.Diagnostics.Process Start(string workingDirectory, params string[] args)
    {
        var info = Info("dotnet", [RepoPaths.CliAssembly, .. args], workingDirectory);
        return System.Diagnostics.Process.Start(info) ?? throw new InvalidOperationException("the CLI did not start");
    }

    /// <summary>Starts another program (the CLI under a wrapper such as env, or an apphost) without waiting.</summary>
    public static System.Diagnostics.Process StartProgram(string workingDirectory, string fileName, IEnumerable<string> args) =>
        System.Diagnostics.Process.Start(Info(fileName, args, workingDirectory)) ?? throw new InvalidOperationException($"{fileName} did not start");

    /// <summary>Starts the CLI with extra environment variables, without waiting.</summary>
    public static System.Diagnostics.Process Start(string workingDirectory, IReadOnlyDictionary<string, string> environment, params string[] args)
    {
        var info = Info("dotnet", [RepoPaths.CliAssembly, .. args], workingDirectory);
        foreach (var (name, value) in environment)
        {
            info.Environment[name] = value;
        }

        return System.Diagnostics.Process.Start(info) ?? throw new InvalidOperationException("the CLI did not start");
    }

    /// <summary>Runs the CLI with extra environment variables.</summary>
    public static Task<ProcessResult> RunWithEnvironmentAsync(string workingDirectory, IReadOnlyDictionary<string, string> environment, params string[] args) =>
        RunAsync("dotnet", [RepoPaths.CliAssembly, .. args], workingDirectory, TimeSpan.FromMinutes(3), environment);

    public static async Task<ProcessResult> RunAsync(string fileName, IReadOnlyList<string> args, string workingDirectory, TimeSpan timeout, IReadOnlyDictionary<string, string>? environment = null)
    {
        var info = Info(fileName, args, workingDirectory);
        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            info.Environment[name] = value;
        }

        using var process = System.Diagnostics.Process.Start(info)
            ?? throw new InvalidOperationException($"{fileName} did not start");
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{fileName} {string.Join(' ', args)} did not finish within {timeout}");
        }

        return new ProcessResult(process.ExitCode, await output, await error);
    }

    private static ProcessStartInfo Info(string fileName, IEnumerable<string> args, string workingDirectory)
    {
        var info = new ProcessStartInfo(fileName)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        info.Environment["DOTNET_NOLOGO"] = "1";
        info.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        return info;
    }
}
