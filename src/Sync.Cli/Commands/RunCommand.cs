namespace Sync.Cli.Commands;

/// <summary><c>sync run --config F [--materializer NAME]...</c>: materializes from each checkpoint on.</summary>
internal static class RunCommand
{
    public static Command Create(TextWriter output, TextWriter error)
    {
        var materializers = new Option<string[]>("--materializer", "-m")
        {
            Description = "Run only this materializer (repeat for several). Default: all.",
            AllowMultipleArgumentsPerToken = false,
        };
        var logLevel = CommonOptions.LogLevel();
        var logFormat = CommonOptions.LogFormat();
        var metricsPort = new Option<int?>("--metrics-port")
        {
            Description = "Serve Prometheus metrics on http://ADDRESS:PORT/metrics (0: any free port, named in the log), liveness on /healthz (200 unless a materializer stopped on a fatal error, then 503; the body says degraded while one retries a transient error) and readiness on /readyz (503 while one is starting, degraded or failed).",
        };
        var metricsAddress = new Option<string>("--metrics-address")
        {
            Description = $"The address --metrics-port is served on: an IP address of this host (127.0.0.1 or ::1 for this host only; requests must then name that address), or {Metrics.MetricsEndpoint.AllInterfaces}, :: or * for every interface.",
            DefaultValueFactory = _ => Metrics.MetricsEndpoint.AllInterfaces,
            HelpName = "ADDRESS",
        };
        metricsAddress.Validators.Add(result =>
        {
            if (Metrics.MetricsEndpoint.Problem(result.GetValueOrDefault<string>()) is { } problem)
            {
                result.AddError(problem);
            }
        });
        var stopAll = new Option<bool>("--stop-all-on-failure")
        {
            Description = "When a materializer stops on a fatal error, stop the others too (each finishes its current batch) instead of letting them run on.",
        };
        // A parser, not a validator: a validator that reads the value of a token that is no number
        // throws instead of reporting it.
        metricsPort.CustomParser = result =>
        {
            var token = result.Tokens.Count > 0 ? result.Tokens[0].Value : "";
            if (!int.TryParse(token, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var port))
            {
                result.AddError($"--metrics-port ({token}) is not a port number: give a number between 0 and 65535");
                return null;
            }

            if (port > 65535)
            {
                result.AddError($"--metrics-port ({token}) must be between 0 and 65535");
                return null;
            }

            return port;
        };
        var command = new ConfiguredCommand("run", "Materialize every configured changelog into its sink, resuming from the checkpoint stored with the data. Ends at the end of finite sources; Ctrl+C stops after the current batch.")
        {
            materializers,
            logLevel,
            logFormat,
            metricsPort,
            metricsAddress,
            stopAll,
        };
        command.Validators.Add(result =>
        {
            if (result.GetResult(metricsAddress) is { Implicit: false } && result.GetValue(metricsPort) is null)
            {
                result.AddError("--metrics-address needs --metrics-port: give the port to serve /metrics on");
            }
        });
        command.SetAction((parse, cancellationToken) => SyncHost.RunAsync(
            parse.GetRequiredValue(command.Config),
            parse.GetValue(materializers) ?? [],
            RunMode.Resume,
            parse.GetValue(logLevel),
            output,
            error,
            cancellationToken,
            parse.GetValue(metricsPort) is { } port ? new Metrics.MetricsEndpoint(parse.GetRequiredValue(metricsAddress), port) : null,
            stopAllOnFailure: parse.GetValue(stopAll),
            logFormat: parse.GetValue(logFormat)));
        return command;
    }
}
