using System.Globalization;
using System.Text.RegularExpressions;
using Sync.Testing.Files;
using Sync.Testing.Process;

namespace Sync.Deployment.Tests;

/// <summary>One real <c>sync run --metrics-port</c> process, following the quickstart changelog into
/// SQLite, for the tests that check deployment files against what the CLI serves: the metric names
/// alert rules and dashboards use, and the paths and port probes ask.</summary>
public sealed partial class RunningSync : IAsyncLifetime
{
    private readonly Workspace _workspace = new();
    private System.Diagnostics.Process? _process;

    public static HttpClient Http { get; } = new() { Timeout = TimeSpan.FromSeconds(10) };

    public int Port { get; private set; }

    /// <summary>The metric family names of <c>/metrics</c> (from its <c># TYPE</c> lines) once a
    /// batch was applied, so that the histograms have series too.</summary>
    public IReadOnlySet<string> MetricNames { get; private set; } = new HashSet<string>();

    public string Metrics { get; private set; } = string.Empty;

    public Uri Url(string path) => new($"http://127.0.0.1:{Port.ToString(CultureInfo.InvariantCulture)}{path}");

    public async Task InitializeAsync()
    {
        var config = _workspace.Write("sync.yaml", """
            sources:
              changelog: { type: file, path: examples/data/changelog.jsonl, follow: true, pollInterval: 50ms }
            sinks:
              local: { type: sqlite, path: run.db }
            materializers:
              customers: { source: changelog, topics: ['persistent://public/default/db1.public.customers'], sink: local, table: customers, linger: 0ms }
            """);
        // A verification first (of the empty sink: drift, exit 3), so that the sync_verify_* gauges
        // have samples from the run's start.
        await SyncProcess.RunAsync(_workspace.Directory, "verify", "--config", config);
        _process = SyncProcess.Start(_workspace.Directory, "run", "--config", config, "--metrics-port", "0");
        Port = await ServedPortAsync(_process);
        var error = _process.StandardError.ReadToEndAsync();
        await Poll.UntilAsync(
            async () =>
            {
                if (_process.HasExited)
                {
                    throw new InvalidOperationException($"sync run exited with {_process.ExitCode}: {await error}");
                }

                try
                {
                    Metrics = await Http.GetStringAsync(Url("/metrics"));
                }
                catch (HttpRequestException)
                {
                    return false;
                }

                // The backlog gauge has its first sample once a scrape's background refresh ended.
                return Metrics.Contains("sync_end_to_end_lag_seconds_count{", StringComparison.Ordinal)
                    && Metrics.Contains("sync_backlog_messages{", StringComparison.Ordinal);
            },
            TimeSpan.FromSeconds(60));
        MetricNames = TypeLine().Matches(Metrics).Select(m => m.Groups["name"].Value).ToHashSet(StringComparer.Ordinal);
    }

    /// <summary>The series names an expression may use for a family: a histogram's
    /// <c>_bucket</c>, <c>_sum</c> and <c>_count</c> (Prometheus text format 0.0.4,
    /// https://prometheus.io/docs/instrumenting/exposition_formats/).</summary>
    public bool Exports(string series) =>
        MetricNames.Contains(series)
        || new[] { "_bucket", "_sum", "_count" }.Any(s => series.EndsWith(s, StringComparison.Ordinal) && MetricNames.Contains(series[..^s.Length]));

    public async Task DisposeAsync()
    {
        if (_process is { HasExited: false })
        {
            using (var kill = System.Diagnostics.Process.Start("kill", ["-TERM", _process.Id.ToString(CultureInfo.InvariantCulture)]))
            {
                await kill.WaitForExitAsync();
            }

            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            try
            {
                await _process.WaitForExitAsync(timeout.Token);
            }
            catch (OperationCanceledException)
            {
                _process.Kill(entireProcessTree: true);
            }
        }

        _process?.Dispose();
        _workspace.Dispose();
    }

    /// <summary>The port the run took for <c>--metrics-port 0</c>, as its log names it.</summary>
    private static async Task<int> ServedPortAsync(System.Diagnostics.Process process)
    {
        var seen = new System.Text.StringBuilder();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        while (await process.StandardError.ReadLineAsync(timeout.Token) is { } line)
        {
            seen.AppendLine(line);
            if (ServingLine().Match(line) is { Success: true } serving)
            {
                return int.Parse(serving.Groups["port"].Value, CultureInfo.InvariantCulture);
            }
        }

        throw new InvalidOperationException($"sync run exited with {process.ExitCode} before it served metrics: {seen}");
    }

    [GeneratedRegex(@"serving /metrics, /healthz and /readyz on port (?<port>\d+)")]
    private static partial Regex ServingLine();

    [GeneratedRegex(@"^# TYPE (?<name>\S+) ", RegexOptions.Multiline)]
    private static partial Regex TypeLine();
}
