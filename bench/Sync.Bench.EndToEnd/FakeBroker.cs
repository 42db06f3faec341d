using System.Diagnostics;

namespace Sync.Bench.EndToEnd;

/// <summary>tests/FakePulsar as a child process, so that the broker's CPU is not this process's.</summary>
internal sealed class FakeBroker : IDisposable
{
    private readonly Process _process;

    private FakeBroker(Process process, Uri serviceUrl, Uri adminUrl)
    {
        _process = process;
        ServiceUrl = serviceUrl;
        AdminUrl = adminUrl;
    }

    public Uri ServiceUrl { get; }

    public Uri AdminUrl { get; }

    public static FakeBroker Start(string dll)
    {
        if (!File.Exists(dll))
        {
            throw new FileNotFoundException($"FakePulsar.dll not found at {dll}: build bench/Sync.Bench.EndToEnd first");
        }

        var process = Process.Start(new ProcessStartInfo("dotnet", [dll]) { RedirectStandardInput = true, RedirectStandardOutput = true })
            ?? throw new InvalidOperationException("FakePulsar did not start");
        var line = process.StandardOutput.ReadLine() ?? throw new InvalidOperationException("FakePulsar printed nothing");
        var parts = line.Split(' ');
        return new FakeBroker(process, new Uri(parts[0]), new Uri(parts[1]));
    }

    public void Dispose()
    {
        // End of standard input stops the fake.
        _process.StandardInput.Close();
        if (!_process.WaitForExit(10_000))
        {
            _process.Kill();
        }

        _process.Dispose();
    }
}
