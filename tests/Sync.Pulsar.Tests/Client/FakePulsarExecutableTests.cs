using System.Diagnostics;
using System.Reflection;

namespace Sync.Pulsar.Tests.Client;

/// <summary>The FakePulsar executable as scripts and other tools use it.</summary>
public class FakePulsarExecutableTests
{
    private static string DllPath =>
        typeof(FakePulsarExecutableTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
            .First(a => a.Key == "FakePulsarDll").Value!;

    [Fact]
    public async Task Executable_prints_its_urls_serves_clients_and_stops_at_end_of_input()
    {
        Assert.True(File.Exists(DllPath), $"FakePulsar not built at {DllPath}");
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(DllPath);
        start.ArgumentList.Add("--port");
        start.ArgumentList.Add("0");
        start.ArgumentList.Add("--admin-port");
        start.ArgumentList.Add("0");
        using var process = Process.Start(start)!;
        try
        {
            var firstLine = await process.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(30));
            var urls = firstLine!.Split(' ');

            Assert.Equal(2, urls.Length);
            Assert.StartsWith("pulsar://127.0.0.1:", urls[0], StringComparison.Ordinal);
            Assert.StartsWith("http://127.0.0.1:", urls[1], StringComparison.Ordinal);
            await using (var client = new PulsarClient(new PulsarClientOptions { ServiceUrl = new Uri(urls[0]) }))
            {
                await using var consumer = await client.SubscribeAsync(new ConsumerOptions { Topic = "exe", SubscriptionName = "s" });
                await using var producer = await client.CreateProducerAsync(new ProducerOptions { Topic = "exe" });
                await producer.SendAsync(new OutgoingMessage { Data = "through the executable"u8.ToArray() });
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(15));
                Assert.Equal("through the executable"u8.ToArray(), (await consumer.ReceiveAsync(timeout.Token)).Data.ToArray());
            }

            process.StandardInput.Close();
            await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(15));
            Assert.Equal(0, process.ExitCode);
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
        }
    }
}
