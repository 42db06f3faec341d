using System.Net;
using System.Text.RegularExpressions;
using Sync.Pulsar;

namespace Sync.Cli.Tests;

public sealed partial class MetricsTests : PulsarCliFixture
{
    private static readonly HttpClient Http = new();

    [Fact]
    public async Task Metrics_count_what_the_run_applied_and_healthz_is_200_while_every_materializer_runs()
    {
        var topic = NewTopic("metrics");
        await using var producer = await Client.CreateProducerAsync(new ProducerOptions { Topic = topic });
        await PublishAsync(producer, "1", "c", "a", 10);
        await PublishAsync(producer, "2", "c", "b", 11);
        await PublishAsync(producer, "2", "x", "b", 12);
        await PublishAsync(producer, "1", "d", null, 13);
        await PublishAsync(producer, "3", "c", "c", 14);
        var config = WriteConfig($"""
              users: {"{"} source: broker, topics: ['{topic}'], sink: local, table: users, linger: 0ms, batchSize: 2 {"}"}
            """);
        string metrics = string.Empty;
        HttpResponseMessage? health = null;

        var result = await RunServingMetricsUntilAsync(
            port =>
            {
                if (!AllAcknowledged(topic, "sync-users"))
                {
                    return false;
                }

                // The runner counts a batch just after acknowledging it: wait until every message
                // is counted as read and as exactly one outcome.
                metrics = Http.GetStringAsync(new Uri($"http://127.0.0.1:{port}/metrics")).GetAwaiter().GetResult();
                var outcomes = new[] { "applied", "deleted", "stale", "collapsed", "suppressed", "dead_lettered" }
                    .Sum(o => long.TryParse(TryValue(metrics, $"sync_events_{o}_total"), System.Globalization.CultureInfo.InvariantCulture, out var n) ? n : 0);
                if (TryValue(metrics, "sync_events_received_total") != "5" || outcomes != 5)
                {
                    return false;
                }

                health = Http.GetAsync(new Uri($"http://127.0.0.1:{port}/healthz")).GetAwaiter().GetResult();
                return true;
            },
            "run", "--config", config);

        // One message was dead-lettered: the run says so in its exit code (docs/operations.md, "Exit codes").
        Assert.True(result.ExitCode == 3, result.ToString());
        var summary = SummaryRow().Match(result.Output);
        Assert.True(summary.Success, result.Output);
        Assert.Equal(summary.Groups["read"].Value, Value(metrics, "sync_events_received_total"));
        Assert.Equal(summary.Groups["applied"].Value, Value(metrics, "sync_events_applied_total"));
        Assert.Equal(summary.Groups["deleted"].Value, Value(metrics, "sync_events_deleted_total"));
        Assert.Equal(summary.Groups["dead"].Value, Value(metrics, "sync_events_dead_lettered_total"));
        Assert.Equal(("5", "3", "1", "1"), (Value(metrics, "sync_events_received_total"), Value(metrics, "sync_events_applied_total"), Value(metrics, "sync_events_deleted_total"), Value(metrics, "sync_events_dead_lettered_total")));
        Assert.Matches(@"sync_batch_size_count\{materializer=""users""\} [1-9]", metrics);
        Assert.Matches(@"sync_events_skipped_total\{[^}]*kind=""heartbeat""[^}]*\} 0", metrics);
        Assert.Matches(@"sync_end_to_end_lag_seconds_count\{materializer=""users""\} [1-9]", metrics);
        Assert.Matches(@"sync_materializer_state\{materializer=""users"",state=""running""\} 1", metrics);
        Assert.Equal(HttpStatusCode.OK, health!.StatusCode);
        var body = JsonDocument.Parse(await health.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal("ok", body.GetProperty("status").GetString());
        Assert.Equal("running", body.GetProperty("materializers")[0].GetProperty("state").GetString());
    }

    [Fact]
    public async Task Healthz_is_503_once_a_materializer_stopped_on_a_fatal_error_while_the_others_run()
    {
        var (topic, config) = await OneRunningAndOneFailingMaterializerAsync("health");
        HttpResponseMessage? health = null;

        var result = await RunServingMetricsUntilAsync(
            port =>
            {
                if (!AllAcknowledged(topic, "sync-users"))
                {
                    return false;
                }

                health = Http.GetAsync(new Uri($"http://127.0.0.1:{port}/healthz")).GetAwaiter().GetResult();
                return health.StatusCode == HttpStatusCode.ServiceUnavailable;
            },
            "run", "--config", config);

        Assert.Equal(1, result.ExitCode);
        var body = JsonDocument.Parse(await health!.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal("failing", body.GetProperty("status").GetString());
        var states = body.GetProperty("materializers").EnumerateArray().ToDictionary(m => m.GetProperty("name").GetString()!, m => m.GetProperty("state").GetString());
        Assert.Equal("failed", states["orders"]);
        Assert.Equal("running", states["users"]);
        Assert.Contains("none.jsonl", body.GetProperty("materializers")[0].GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.Equal(["id=1|name=a"], SqliteTables.Rows(Database, "users"));
        // Logged when it happened, not only in the summary at exit.
        Assert.Contains("materializer orders stopped; the others keep running", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_materializer_is_degraded_with_healthz_200_while_its_broker_is_gone_and_running_again_after_the_reconnect()
    {
        var topic = NewTopic("degraded");
        await using var producer = await Client.CreateProducerAsync(new ProducerOptions { Topic = topic });
        await PublishAsync(producer, "1", "c", "a", 10);
        var config = WriteConfig($"""
              users: {"{"} source: broker, topics: ['{topic}'], sink: local, table: users, linger: 0ms {"}"}
            """);
        var states = new List<(HttpStatusCode Status, string State)>();
        var phase = 0;

        var result = await RunServingMetricsUntilAsync(
            port =>
            {
                var healthz = new Uri($"http://127.0.0.1:{port}/healthz");
                switch (phase)
                {
                    case 0 when AllAcknowledged(topic, "sync-users"):
                        Broker.Faults.ListenerPaused = true;
                        Broker.DropAllConnections();
                        phase = 1;
                        return false;
                    case 1 when Health(healthz) is { State: "degraded" } degraded:
                        states.Add(degraded);
                        Broker.Faults.ListenerPaused = false;
                        phase = 2;
                        return false;
                    case 2 when Health(healthz) is { State: "running" } running:
                        states.Add(running);
                        return true;
                    default:
                        return false;
                }
            },
            "run", "--config", config);

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal([(HttpStatusCode.OK, "degraded"), (HttpStatusCode.OK, "running")], states);
    }

    [Fact]
    public async Task Pulsar_reconnects_are_counted()
    {
        var topic = NewTopic("reconnects");
        await using var producer = await Client.CreateProducerAsync(new ProducerOptions { Topic = topic });
        await PublishAsync(producer, "1", "c", "a", 10);
        var config = WriteConfig($"""
              users: {"{"} source: broker, topics: ['{topic}'], sink: local, table: users, linger: 0ms {"}"}
            """);
        var dropped = false;
        var scraped = string.Empty;

        var result = await RunServingMetricsUntilAsync(
            port =>
            {
                if (!dropped && AllAcknowledged(topic, "sync-users"))
                {
                    Broker.DropAllConnections();
                    dropped = true;
                }

                if (!dropped)
                {
                    return false;
                }

                scraped = Http.GetStringAsync(new Uri($"http://127.0.0.1:{port}/metrics")).GetAwaiter().GetResult();
                return Regex.IsMatch(scraped, @"^sync_pulsar_client_reconnects_total [1-9]", RegexOptions.Multiline);
            },
            "run", "--config", config);

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal(1, Broker.Faults.Fired("DropAllConnections"));
    }

    private static (HttpStatusCode Status, string State)? Health(Uri healthz)
    {
        using var response = Http.GetAsync(healthz).GetAwaiter().GetResult();
        var body = JsonDocument.Parse(response.Content.ReadAsStringAsync().GetAwaiter().GetResult()).RootElement;
        return (response.StatusCode, body.GetProperty("materializers")[0].GetProperty("state").GetString()!);
    }

    [Fact]
    public async Task A_metrics_port_out_of_range_is_a_usage_error()
    {
        var result = await Workspace.Sync("run", "--config", Workspace.Quickstart, "--metrics-port", "70000");

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("--metrics-port (70000) must be between 0 and 65535", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_metrics_port_that_is_no_number_is_a_usage_error_not_a_crash()
    {
        var result = await Workspace.Sync("run", "--config", Workspace.Quickstart, "--metrics-port", "abc");

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("--metrics-port (abc) is not a port number: give a number between 0 and 65535", result.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("Unhandled exception", result.Error, StringComparison.Ordinal);
    }

    /// <summary>The value of a series of materializer users.</summary>
    private static string Value(string metrics, string name) =>
        TryValue(metrics, name) ?? throw new Xunit.Sdk.XunitException($"{name} is not in\n{metrics}");

    private static string? TryValue(string metrics, string name)
    {
        var match = Regex.Match(metrics, $@"^{name}\{{[^}}]*materializer=""users""[^}}]*\}} (?<value>\S+)", RegexOptions.Multiline);
        return match.Success ? match.Groups["value"].Value : null;
    }

    [GeneratedRegex(@"users\s+local/users\s+(?<read>\d+)\s+(?<applied>\d+)\s+(?<deleted>\d+)\s+\d+\s+\d+\s+\d+\s+\d+\s+\d+\s+(?<dead>\d+)")]
    private static partial Regex SummaryRow();
}
