namespace Sync.Cli.Commands;

/// <summary><c>sync healthcheck [--port N] [--path /healthz]</c>: asks a running <c>sync run
/// --metrics-port N</c> on this host for its health, for a container's HEALTHCHECK. The runtime
/// image is Microsoft's chiseled .NET image, which has no shell and no package manager (dotnet/dotnet-docker,
/// documentation on Ubuntu Chiseled images), and the .NET images carry no curl or wget
/// (dotnet/dotnet-docker#2379).</summary>
internal static class HealthcheckCommand
{
    /// <summary>The port the container image, compose and the Kubernetes manifests serve metrics on:
    /// 9464, the default port of an OpenTelemetry Prometheus exporter (OpenTelemetry specification,
    /// specification/metrics/sdk_exporters/prometheus.md, "Configuration").</summary>
    public const int DefaultPort = 9464;

    public static Command Create(TextWriter output, TextWriter error)
    {
        var port = new Option<int>("--port")
        {
            Description = "The --metrics-port of the sync run to ask, on 127.0.0.1.",
            DefaultValueFactory = _ => DefaultPort,
        };
        port.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<int>() is < 1 or > 65535)
            {
                result.AddError("--port must be between 1 and 65535");
            }
        });
        var path = new Option<string>("--path")
        {
            Description = "/healthz (liveness: fails once a materializer stopped on a fatal error) or /readyz (readiness: also fails while one is starting, degraded or healing).",
            DefaultValueFactory = _ => "/healthz",
        };
        path.AcceptOnlyFromAmong("/healthz", "/readyz");
        var timeout = new Option<TimeSpan?>("--timeout")
        {
            Description = "How long to wait for the answer, in seconds. Default: 5.",
            CustomParser = result =>
            {
                var token = result.Tokens.Count > 0 ? result.Tokens[0].Value : "";
                if (double.TryParse(token, NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds) && seconds > 0)
                {
                    return TimeSpan.FromSeconds(seconds);
                }

                result.AddError($"--timeout ({token}) is not a positive number of seconds");
                return null;
            },
        };
        var command = new Command("healthcheck", "Ask the sync run on this host (started with --metrics-port) whether it is healthy, for a container HEALTHCHECK in an image without curl: exit 0 when /healthz (or --path /readyz) answers 200, 1 otherwise; prints the answer's body.")
        {
            port, path, timeout,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var url = new Uri($"http://127.0.0.1:{parse.GetValue(port).ToString(CultureInfo.InvariantCulture)}{parse.GetValue(path)}");
            using var http = new HttpClient { Timeout = parse.GetValue(timeout) ?? TimeSpan.FromSeconds(5) };
            try
            {
                using var response = await http.GetAsync(url, cancellationToken);
                var body = await response.Content.ReadAsStringAsync(cancellationToken);
                await output.WriteLineAsync(body.Trim());
                if (response.IsSuccessStatusCode)
                {
                    return ExitCodes.Ok;
                }

                await error.WriteLineAsync($"error: {url} answered {(int)response.StatusCode}");
                return ExitCodes.Failure;
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
            {
                await error.WriteLineAsync($"error: {url} did not answer ({(e is TaskCanceledException ? "timed out" : e.Message)}): is `sync run --metrics-port` running in this container?");
                return ExitCodes.Failure;
            }
        });
        return command;
    }
}
