using System.Net;
using System.Text.Json;
using Prometheus;
using Sync.Pulsar;

namespace Sync.Cli.Metrics;

/// <summary>Serves <c>/metrics</c> (Prometheus text, from the run's System.Diagnostics.Metrics
/// instruments through prometheus-net's meter adapter) and <c>/healthz</c> on one port.
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
    private readonly IDisposable _adapter;
    private readonly SyncMetrics _metrics;
    private readonly Task _serving;

    private MetricsServer(int port, SyncMetrics metrics)
    {
        _metrics = metrics;
        _registry = Prometheus.Metrics.NewCustomRegistry();
        _adapter = MeterAdapter.StartListening(new MeterAdapterOptions
        {
            Registry = _registry,
            // Without a factory of its own the adapter writes into prometheus-net's default registry.
            MetricFactory = Prometheus.Metrics.WithCustomRegistry(_registry),
            InstrumentFilterPredicate = instrument => instrument.Meter.Name is SyncMetrics.MeterName or PulsarClient.MeterName,
            // Series are few (one per materializer) and must not vanish while a materializer
            // stalls: a flat counter is what a stall alert looks for. The counters are observed
            // at every scrape, which keeps them; a day (the adapter's maximum) covers histograms
            // of a materializer that applies nothing for hours.
            MetricsExpireAfter = TimeSpan.FromDays(1),
            ResolveHistogramBuckets = instrument => instrument.Unit == "s" ? SecondsBuckets : SizeBuckets,
        });
        try
        {
            (_listener, Port) = Listen(port);
        }
        catch (HttpListenerException e)
        {
            _adapter.Dispose();
            throw new IOException($"--metrics-port {port} cannot be served: {e.Message}", e);
        }

        _serving = Task.Run(ServeAsync);
    }

    /// <summary>The port served: the one asked for, or the one taken when 0 asked for any free port.</summary>
    public int Port { get; }

    public static MetricsServer Start(int port, SyncMetrics metrics) => new(port, metrics);

    private static (HttpListener Listener, int Port) Listen(int port)
    {
        // HttpListener cannot bind port 0: for "any free port" the OS names one, which is then
        // taken, again with another if something else took it in between.
        for (var attempt = 1; ; attempt++)
        {
            var chosen = port == 0 ? FreePort() : port;
            var listener = new HttpListener();
            listener.Prefixes.Add($"http://*:{chosen}/");
            try
            {
                listener.Start();
                return (listener, chosen);
            }
            catch (HttpListenerException) when (port == 0 && attempt < 20)
            {
                // A failed Start leaves the listener closed; nothing to release.
            }
        }
    }

    private static int FreePort()
    {
        using var probe = new System.Net.Sockets.TcpListener(IPAddress.Any, 0);
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
        _adapter.Dispose();
    }
}
