using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Sync.Testing.Process;

namespace Sync.Deployment.Tests;

/// <summary><c>sync healthcheck</c>, the image's HEALTHCHECK, against a real <c>sync run --metrics-port</c>.</summary>
[Collection(RunningSyncCollection.Name)]
public sealed class HealthcheckCommandTests(RunningSync sync)
{
    [Fact]
    public async Task Healthcheck_exits_0_with_the_body_while_the_run_is_live_and_ready()
    {
        var port = sync.Port.ToString(CultureInfo.InvariantCulture);

        var live = await SyncProcess.RunAsync(Path.GetTempPath(), "healthcheck", "--port", port);
        var ready = await SyncProcess.RunAsync(Path.GetTempPath(), "healthcheck", "--port", port, "--path", "/readyz");

        Assert.True(live.ExitCode == 0, live.ToString());
        Assert.Contains("\"status\": \"ok\"", live.Output, StringComparison.Ordinal);
        Assert.True(ready.ExitCode == 0, ready.ToString());
        Assert.Contains("\"name\": \"customers\"", ready.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Healthcheck_exits_1_with_a_sentence_when_nothing_serves_the_port()
    {
        int closed;
        using (var listener = new TcpListener(IPAddress.Loopback, 0))
        {
            listener.Start();
            closed = ((IPEndPoint)listener.LocalEndpoint).Port;
        }

        var result = await SyncProcess.RunAsync(Path.GetTempPath(), "healthcheck", "--port", closed.ToString(CultureInfo.InvariantCulture));

        Assert.Equal(1, result.ExitCode);
        Assert.Contains($"http://127.0.0.1:{closed}/healthz did not answer", result.Error, StringComparison.Ordinal);
        Assert.Contains("sync run --metrics-port", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Healthcheck_refuses_a_path_the_run_does_not_serve()
    {
        var result = await SyncProcess.RunAsync(Path.GetTempPath(), "healthcheck", "--path", "/metrics");

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("/metrics", result.Error, StringComparison.Ordinal);
    }
}
