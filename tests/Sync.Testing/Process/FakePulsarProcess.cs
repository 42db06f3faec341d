using System.Diagnostics;

namespace Sync.Testing.Process;

/// <summary>The fake broker as its own process (tests/FakePulsar), as scripts and other tools run
/// it: started on ephemeral ports, its URLs read from the first line it prints, stopped by closing
/// its standard input. Its fault API is not reachable from outside: tests that arm faults run the
/// broker in process instead.</summary>
public sealed class FakePulsarProcess : IAsyncDisposable
{
    private readonly System.Diagnostics.Process _process;

    private FakePulsarProcess(System.Diagnostics.Process process, Uri serviceUrl, Uri adminUrl)
    {
        _process = process;
        ServiceUrl = serviceUrl;
        AdminUrl = adminUrl;
    }

    public Uri ServiceUrl { get; }

    public Uri AdminUrl { get; }

    /// <param name="dllPath">FakePulsar.dll, as the test project's build put it (assembly metadata <c>FakePulsarDll</c>).</param>
    public static async Task<FakePulsarProcess> StartAsync(string dllPath)
    {
        if (!File.Exists(dllPath))
        {
            throw new FileNotFoundException($"FakePulsar is not built at {dllPath}: build the test project (it builds tests/FakePulsar)", dllPath);
        }

        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in new[] { dllPath, "--port", "0", "--admin-port", "0" })
        {
            info.ArgumentList.Add(arg);
        }

        var process = System.Diagnostics.Process.Start(info) ?? throw new InvalidOperationException("FakePulsar did not start");
        try
        {
            var line = await process.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(60))
                ?? throw new InvalidOperationException($"FakePulsar ended before printing its URLs: {await process.StandardError.ReadToEndAsync()}");
            var urls = line.Split(' ');
            return new FakePulsarProcess(process, new Uri(urls[0]), new Uri(urls[1]));
        }
        catch
        {
            process.Kill(entireProcessTree: true);
            process.Dispose();
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        // End of standard input stops the broker; a broker that does not stop is killed.
        _process.StandardInput.Close();
        try
        {
            await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(15));
        }
        catch (TimeoutException)
        {
            _process.Kill(entireProcessTree: true);
        }

        _process.Dispose();
    }
}
