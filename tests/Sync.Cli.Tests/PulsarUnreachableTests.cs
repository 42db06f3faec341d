using System.Net;
using System.Net.Sockets;

namespace Sync.Cli.Tests;

/// <summary>A run started while its broker cannot be reached says so at the first failure, with what
/// it retries and for how long, instead of waiting in silence until it gives up.</summary>
public sealed class PulsarUnreachableTests : WorkspaceTests
{
    [Fact]
    public async Task An_unreachable_broker_is_named_with_the_retry_and_its_limit_at_the_first_failure()
    {
        // A port that was just free and is closed again: connecting is refused.
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        var config = Workspace.Write("sync.yaml", $"""
            sources:
              bus: {"{"} type: pulsar, serviceUrl: 'pulsar://127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}', subscribeRetryTimeout: 10m {"}"}
            sinks:
              local: {"{"} type: sqlite, path: users.db {"}"}
            materializers:
              users: {"{"} source: bus, topics: [persistent://public/default/users], sink: local, table: users {"}"}
            """);

        using var process = SyncProcess.Start(Workspace.Directory, "run", "--config", config);
        var output = process.StandardOutput.ReadToEndAsync();
        var error = new StandardErrorReader(process);

        // The limit is ten minutes: the line shows while the retries go on, not when they end.
        await Poll.UntilAsync(() => error.Text.Contains("retried with backoff for up to 10m", StringComparison.Ordinal), TimeSpan.FromMinutes(2));
        Assert.False(process.HasExited, error.Text);
        var said = error.Text;
        Assert.Contains("materializer users (source bus): cannot subscribe sync-users at pulsar://", said, StringComparison.Ordinal);
        Assert.Contains($"127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}", said, StringComparison.Ordinal);
        Assert.Contains("(subscribeRetryTimeout), and the materializer reports degraded meanwhile", said, StringComparison.Ordinal);

        using (var kill = System.Diagnostics.Process.Start("kill", ["-TERM", process.Id.ToString(CultureInfo.InvariantCulture)]))
        {
            await kill!.WaitForExitAsync();
        }

        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(1));
        await process.WaitForExitAsync(timeout.Token);
        await error.Completion;
        // A subscription has no end: SIGTERM is its normal stop, even before the first message.
        Assert.Equal(0, process.ExitCode);
        Assert.Matches(@"users\s+local/users\s+[^\n]*\bstopped\b", await output);
    }
}
