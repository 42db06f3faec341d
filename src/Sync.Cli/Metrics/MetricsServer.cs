using System.Net;
using System.Text.Json;
using Prometheus;
using Sync.Pulsar;

namespace Sync.Cli.Metrics;

/// <summary>Serves <c>/metrics</c> (Prometheus text, from the run's System.Diagnostics.Metrics
/// instruments through <see cref="PrometheusBridge"/>, and the process and runtime metrics) and <c>/healthz</c> on one port.
/// <para>prometheus-net rather than OpenTelemetry's Prometheus HttpListener exporter: it is a
/// stable release (the OpenTelemetry one is a beta), and its registry can be exported into our
/// own listener, so that <c>/metrics</c> and <c>/healthz</c> share the port; the OpenTelemetry
/// listener owns its HttpListener and serves the scrape path only.</para></summary>
internal sealed class MetricsServer : IAsyncDisposable
{
    private static readonly double[] SecondsBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];
    private static readonly double[] SizeBuckets = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000];
    private static readonly JsonSerializerOptions Json = new() { PropertyNamingPolicy = JsonNamingPolicy.CamelCase, WriteIndented = true, DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull };

    private readonly HttpListener _listener;
    private readonly CollectorRegistry _registry;
    private readonly PrometheusBridge _bridge;
    private readonly SyncMetrics _metrics;
    private readonly Task _serving;

    private MetricsServer(MetricsEndpoint endpoint, SyncMetrics metrics)
    {
        _metrics = metrics;
        _registry = Prometheus.Metrics.NewCustomRegistry();
        // Series are few (one per materializer and topic) and stay while a materializer stalls: a
        // flat counter is what a stall alert looks for.
        _bridge = new PrometheusBridge(
            _registry,
            [SyncMetrics.MeterName, PulsarClient.MeterName],
            instrument => instrument.Unit == "s" ? SecondsBuckets : SizeBuckets);
        ProcessMetrics.Register(_registry);
        try
        {
            (_listener, Port) = Listen(endpoint);
        }
        catch (HttpListenerException e)
        {
            _bridge.Dispose();
            throw new IOException($"--metrics-port {endpoint.Port} cannot be served on {endpoint.Address}: {e.Message}", e);
        }

        _serving = Task.Run(ServeAsync);
    }

    /// <summary>The port served: the one asked for, or the one taken when 0 asked for any free port.</summary>
    public int Port { get; }

    public static MetricsServer Start(MetricsEndpoint endpoint, SyncMetrics metrics) => new(endpoint, metrics);

    private static (HttpListener Listener, int Port) Listen(MetricsEndpoint endpoint)
    {
        // HttpListener cannot bind port 0: for "any free port" the OS names one, which is then
        // taken, again with another if something else took it in between.
        for (var attempt = 1; ; attempt++)
        {
            var chosen = endpoint.Port == 0 ? FreePort(endpoint) : endpoint.Port;
            var listener = new HttpListener();
            listener.Prefixes.Add(endpoint.Prefix(chosen));
            try
            {
                listener.Start();
                return (listener, chosen);
            }
            catch (HttpListenerException) when (endpoint.Port == 0 && attempt < 20)
            {
                // A failed Start leaves the listener closed; nothing to release.
            }
        }
    }

    private static int FreePort(MetricsEndpoint endpoint)
    {
        using var probe = new System.Net.Sockets.TcpListener(endpoint.IsAllInterfaces ? IPAddress.Any : endpoint.Ip!, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
    }

    private async Task ServeAsync()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync();
            }
            catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or InvalidOperationException)
            {
                return;
            }

            try
            {
                await AnswerAsync(context);
            }
            catch (Exception e) when (e is HttpListenerException or IOException)
            {
                // The scraper went away mid-answer; the next scrape starts afresh.
            }
            finally
            {
                context.Response.Close();
            }
        }
    }

    private async Task AnswerAsync(HttpListenerContext context)
    {
        var response = context.Response;
        switch (context.Request.Url?.AbsolutePath)
        {
            case "/metrics":
                response.ContentType = "text/plain; version=0.0.4; charset=utf-8";
                await _registry.CollectAndExportAsTextAsync(response.OutputStream, CancellationToken.None);
                break;
            case "/healthz":
            case "/readyz":
                // Liveness (/healthz) fails only when a materializer stopped on a fatal error: a
                // restart may help there, while a materializer that retries a transient error heals
                // on its own and a restart would only lose its place. Readiness (/readyz) also fails
                // while any materializer is degraded or still starting, to take the process out of
                // rotation and alert, without restarting it.
                var health = _metrics.Health();
                var failed = health.Any(h => h.State == MaterializerState.Failed);
                var degraded = health.Any(h => h.State == MaterializerState.Degraded);
                var starting = health.Any(h => h.State == MaterializerState.Starting);
                // Healing: the sink lacks changes until the replay caught up, so not ready either.
                var healing = health.Any(h => h.State == MaterializerState.Healing);
                var ready = !failed && !degraded && !starting && !healing;
                var live = !failed;
                response.StatusCode = (context.Request.Url.AbsolutePath == "/readyz" ? ready : live) ? (int)HttpStatusCode.OK : (int)HttpStatusCode.ServiceUnavailable;
                response.ContentType = "application/json";
                var body = new
                {
                    status = failed ? "failing" : degraded ? "degraded" : healing ? "healing" : "ok",
                    materializers = health.Select(h => new
                    {
                        name = h.Materializer,
                        state = h.State.ToString().ToLowerInvariant(),
                        error = h.Error,
                        since = h.DegradedSince,
                        stage = h.DegradedStage,
                    }),
                };
                await JsonSerializer.SerializeAsync(response.OutputStream, body, Json);
                break;
            default:
                response.StatusCode = (int)HttpStatusCode.NotFound;
                break;
        }
    }

    public async ValueTask DisposeAsync()
    {
        // Close alone: on the managed HttpListener (Linux, macOS) Stop releases the port and a
        // following Close binds it again to look for prefixes to remove, which fails with "address
        // already in use" once another process took the port in between.
        _listener.Close();
        await _serving;
        _bridge.Dispose();
    }
}
