using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Text.RegularExpressions;
using Sync.Cli.Metrics;
using Sync.Engine.Runtime;
using Sync.Pulsar;

namespace Sync.Cli.Tests;

/// <summary>What <c>/metrics</c> of a real <c>sync run</c> exposes, against the Prometheus naming
/// conventions (https://prometheus.io/docs/practices/naming/): a counter ends in <c>_total</c> and
/// nothing else does, durations and times are in <c>_seconds</c>, sizes in <c>_bytes</c>, base units
/// only; and the process, runtime, backlog and committed-time series exist.</summary>
public sealed partial class MetricNamingTests : PulsarCliFixture
{
    private static readonly HttpClient Http = new();

    [Fact]
    public async Task Every_exported_sync_metric_follows_the_prometheus_naming_conventions()
    {
        var (topic, config) = await UsersAsync("naming", 10, 14);
        var scraped = string.Empty;

        var result = await RunServingMetricsUntilAsync(
            port =>
            {
                scraped = Http.GetStringAsync(new Uri($"http://127.0.0.1:{port}/metrics")).GetAwaiter().GetResult();
                // The backlog is refreshed in the background: wait until it counted the committed position.
                return AllAcknowledged(topic, "sync-users")
                    && Regex.IsMatch(scraped, $@"^sync_backlog_messages\{{materializer=""users"",topic=""{Regex.Escape(topic)}""\}} 0$", RegexOptions.Multiline)
                    && scraped.Contains("sync_end_to_end_lag_seconds_count{", StringComparison.Ordinal);
            },
            "run", "--config", config);

        Assert.True(result.ExitCode == 0, result.ToString());
        var types = TypeLine().Matches(scraped).ToDictionary(m => m.Groups["name"].Value, m => m.Groups["type"].Value, StringComparer.Ordinal);
        var sync = types.Where(t => t.Key.StartsWith("sync_", StringComparison.Ordinal)).ToList();
        Assert.True(sync.Count >= 20, scraped);
        foreach (var (name, type) in sync)
        {
            AssertConventional(name, type);
            Assert.Matches($@"(?m)^# HELP {name} \S", scraped);
        }

        // Newest committed change: ts_ms 1_700_000_000_014 (PublishAsync puts 1_700_000_000_000 + lsn).
        Assert.Equal("gauge", types["sync_source_last_committed_timestamp_seconds"]);
        Assert.Matches(@"(?m)^sync_source_last_committed_timestamp_seconds\{materializer=""users""\} 1700000000\.014$", scraped);
        Assert.Equal("counter", types["sync_events_received_total"]);
        Assert.Matches(@"(?m)^sync_events_received_total\{materializer=""users""\} 2$", scraped);
        Assert.Equal("histogram", types["sync_apply_duration_seconds"]);

        // Process and runtime metrics under the names every Prometheus client library uses.
        foreach (var (name, type) in new[]
        {
            ("process_cpu_seconds_total", "counter"), ("process_resident_memory_bytes", "gauge"), ("process_open_fds", "gauge"),
            ("process_max_fds", "gauge"), ("process_start_time_seconds", "gauge"), ("dotnet_gc_collections_total", "counter"),
            ("dotnet_gc_heap_size_bytes", "gauge"), ("dotnet_threadpool_threads", "gauge"),
        })
        {
            Assert.True(types.TryGetValue(name, out var exported) && exported == type, $"{name} ({type}) is not exported as such:\n{scraped}");
        }

        Assert.Matches(@"(?m)^process_open_fds [1-9]", scraped);
        var started = double.Parse(Regex.Match(scraped, @"(?m)^process_start_time_seconds (\S+)$").Groups[1].Value, CultureInfo.InvariantCulture);
        Assert.InRange(DateTimeOffset.FromUnixTimeMilliseconds((long)(started * 1000)), DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow);
    }

    /// <summary>The instruments that have no sample yet in a short run (Pulsar reconnects, unorderable
    /// source orders) are checked by the names the exporter gives them, from every instrument the
    /// meters publish: a new instrument in a unit that is not a base unit fails here.</summary>
    [Fact]
    public void Every_instrument_of_the_sync_meters_gets_a_conventional_name()
    {
        using var metrics = new SyncMetrics();
        RuntimeHelpers.RunClassConstructor(typeof(Sync.Engine.Formats.SourceOrder).TypeHandle);
        RuntimeHelpers.RunClassConstructor(typeof(PulsarClient).Assembly.GetType("Sync.Pulsar.Internal.ReconnectLoop", throwOnError: true)!.TypeHandle);
        var instruments = new List<Instrument>();
        using var listener = new MeterListener
        {
            InstrumentPublished = (instrument, _) =>
            {
                if (instrument.Meter.Name is SyncMetrics.MeterName or PulsarClient.MeterName)
                {
                    instruments.Add(instrument);
                }
            },
        };
        listener.Start();

        Assert.Contains(instruments, i => i.Meter.Name == PulsarClient.MeterName);
        Assert.Contains(instruments, i => i.Name == "source_order.unorderable");
        foreach (var instrument in instruments)
        {
            // Base units only (UCUM as .NET spells them): seconds and bytes, or a count in braces.
            Assert.True(instrument.Unit is null or "" or "s" or "By" || instrument.Unit.StartsWith('{'), $"{instrument.Name} is in {instrument.Unit}, not a base unit");
            var kind = instrument.GetType().GetGenericTypeDefinition();
            var type = kind == typeof(Counter<>) || kind == typeof(ObservableCounter<>) ? "counter"
                : kind == typeof(Histogram<>) ? "histogram"
                : "gauge";
            var name = PrometheusBridge.NameOf(instrument);
            AssertConventional(name, type);
            if (instrument.Unit == "s")
            {
                Assert.EndsWith(type == "counter" ? "_seconds_total" : "_seconds", name, StringComparison.Ordinal);
            }
        }
    }

    [Fact]
    public async Task Metrics_address_serves_on_that_address_only()
    {
        var (_, config) = await UsersAsync("address", 10);
        using var process = SyncProcess.Start(Workspace.Directory, "run", "--config", config, "--metrics-port", "0", "--metrics-address", "127.0.0.1");
        try
        {
            var port = 0;
            var lines = new List<string>();
            await Poll.UntilAsync(() =>
            {
                if (process.HasExited)
                {
                    return true;
                }

                var line = process.StandardError.ReadLine();
                if (line is not null)
                {
                    lines.Add(line);
                }

                var match = Regex.Match(line ?? "", @"serving /metrics, /healthz and /readyz on 127\.0\.0\.1 port (\d+)");
                port = match.Success ? int.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture) : 0;
                return port != 0;
            });
            Assert.True(port != 0, string.Join('\n', lines));

            using var health = await Http.GetAsync(new Uri($"http://127.0.0.1:{port}/healthz"));
            Assert.Equal(HttpStatusCode.OK, health.StatusCode);
            // Not bound on the other addresses of the host: a connection to another one is refused.
            if (OtherAddress() is { } other)
            {
                using var socket = new Socket(other.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
                await Assert.ThrowsAnyAsync<SocketException>(async () => await socket.ConnectAsync(other, port));
            }
        }
        finally
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }
    }

    [Theory]
    [InlineData("localhost.example", "--metrics-address (localhost.example) is not an IP address")]
    [InlineData("10.1", "--metrics-address (10.1) is not an IP address")]
    [InlineData("", "--metrics-address () is not an IP address")]
    public async Task A_metrics_address_that_is_no_ip_address_is_a_usage_error(string address, string message)
    {
        var result = await Workspace.Sync("run", "--config", Workspace.Quickstart, "--metrics-port", "0", "--metrics-address", address);

        Assert.Equal(2, result.ExitCode);
        Assert.Contains(message, result.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("Unhandled exception", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_metrics_address_without_a_port_is_a_usage_error()
    {
        var result = await Workspace.Sync("run", "--config", Workspace.Quickstart, "--metrics-address", "127.0.0.1");

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("--metrics-address needs --metrics-port", result.Error, StringComparison.Ordinal);
    }

    /// <summary>A new topic with one user created per LSN, and a config with materializer users on it.</summary>
    private async Task<(string Topic, string Config)> UsersAsync(string name, params long[] lsns)
    {
        var topic = NewTopic(name);
        await using var producer = await Client.CreateProducerAsync(new ProducerOptions { Topic = topic });
        foreach (var lsn in lsns)
        {
            await PublishAsync(producer, lsn.ToString(CultureInfo.InvariantCulture), "c", $"user{lsn}", lsn);
        }

        return (topic, WriteConfig($"""
              users: {"{"} source: broker, topics: ['{topic}'], sink: local, table: users, linger: 0ms {"}"}
            """));
    }

    private static void AssertConventional(string name, string type)
    {
        Assert.Matches("^[a-z_][a-z0-9_]*$", name);
        if (type == "counter")
        {
            Assert.True(name.EndsWith("_total", StringComparison.Ordinal), $"the counter {name} does not end in _total");
        }
        else
        {
            Assert.False(name.EndsWith("_total", StringComparison.Ordinal), $"the {type} {name} ends in _total, which only counters may");
        }

        var stem = name.EndsWith("_total", StringComparison.Ordinal) ? name[..^"_total".Length] : name;
        Assert.False(NonBaseUnit().IsMatch(stem), $"{name} names a unit that is not a base unit");
        if (TimeWord().IsMatch(stem))
        {
            Assert.True(stem.EndsWith("_seconds", StringComparison.Ordinal), $"{name} is a duration or time without _seconds");
        }

        if (SizeWord().IsMatch(stem))
        {
            Assert.True(stem.EndsWith("_bytes", StringComparison.Ordinal), $"{name} is a size in memory or on disk without _bytes");
        }
    }

    private static IPAddress? OtherAddress() =>
        System.Net.NetworkInformation.NetworkInterface.GetAllNetworkInterfaces()
            .SelectMany(i => i.GetIPProperties().UnicastAddresses)
            .Select(a => a.Address)
            .FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork && !IPAddress.IsLoopback(a));

    [GeneratedRegex(@"(?m)^# TYPE (?<name>\S+) (?<type>\S+)$")]
    private static partial Regex TypeLine();

    [GeneratedRegex(@"_(milliseconds|microseconds|nanoseconds|ms|minutes|hours|days|kilobytes|megabytes|kb|mb|bits|percent)(_|$)")]
    private static partial Regex NonBaseUnit();

    [GeneratedRegex(@"_(duration|lag|latency|time|timestamp|age|delay|seconds)(_|$)")]
    private static partial Regex TimeWord();

    [GeneratedRegex(@"_(memory|heap|bytes)(_|$)")]
    private static partial Regex SizeWord();
}
