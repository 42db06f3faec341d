using Sync.Testing.Process;

namespace Sync.Deployment.Tests;

/// <summary>Runs Prometheus' rule checker, <c>promtool</c>, from PATH.</summary>
internal static class Promtool
{
    public static string? Path { get; } = (Environment.GetEnvironmentVariable("PATH") ?? "")
        .Split(System.IO.Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
        .Select(folder => System.IO.Path.Combine(folder, "promtool"))
        .FirstOrDefault(File.Exists);

    public static Task<ProcessResult> RunAsync(string workingDirectory, params string[] args) =>
        SyncProcess.RunAsync(Path ?? throw new InvalidOperationException("promtool is not installed"), args, workingDirectory, TimeSpan.FromMinutes(1));
}
