using System.Net;
using System.Net.Http;
using Microsoft.Extensions.Logging;

namespace Sync.Sources.Pulsar;

/// <summary>
/// The start of a Pulsar reader (the admin check of the subscription against the sink's checkpoint,
/// then the first subscription) retried through a broker outage, within one budget
/// (<c>subscribeRetryTimeout</c>) for all its steps: a process started while the broker restarts or
/// is upgraded waits for it, as an already running consumer does, instead of exiting (and
/// crash-looping under an orchestrator). While it waits, <see cref="Waiting"/> says for what, so the
/// materializer reports degraded with that reason; the first failure is logged at once with the
/// budget, and then again every <see cref="ReportInterval"/>.
/// </summary>
internal sealed class PulsarStartupRetry
{
    /// <summary>How often a wait that goes on is logged again after its first line.</summary>
    public static readonly TimeSpan ReportInterval = TimeSpan.FromSeconds(30);

    private readonly string _who;
    private readonly TimeSpan _budget;
    private readonly TimeProvider _time;
    private readonly ILogger _log;
    private long? _started;
    private readonly Backoff _backoff = new(TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(5));
    private TimeSpan? _nextReport;
    private volatile string? _waiting;

    /// <param name="who">Names the materializer and source in log lines.</param>
    public PulsarStartupRetry(string who, TimeSpan budget, TimeProvider time, ILogger log)
    {
        _who = who;
        _budget = budget;
        _time = time;
        _log = log;
    }

    /// <summary>Attempts that failed and were retried, all steps together.</summary>
    public int Retries { get; private set; }

    /// <summary>What the start waits for while it retries; null once a step succeeds, or before any failed.</summary>
    public string? Waiting => _waiting;

    private TimeSpan Elapsed => _started is { } started ? _time.GetElapsedTime(started) : TimeSpan.Zero;

    /// <summary>Runs <paramref name="attempt"/> until it succeeds, fails in a way that is not
    /// <paramref name="passing"/>, or the budget would be spent by the next wait (then the last
    /// failure is thrown, and <see cref="Elapsed"/> says how long it was retried).</summary>
    /// <param name="step">What is being done, for the log and status: "subscribe sync-users to …".</param>
    public async Task<T> RunAsync<T>(string step, Func<CancellationToken, Task<T>> attempt, Func<Exception, bool> passing, CancellationToken cancellationToken)
    {
        _started ??= _time.GetTimestamp();
        while (true)
        {
            try
            {
                var result = await attempt(cancellationToken);
                if (_waiting is not null)
                {
                    _log.LogInformation("{Who}: the Pulsar broker answered after {Elapsed} of retries: {Step} succeeded", _who, Durations.Format(Elapsed), step);
                    _waiting = null;
                }

                return result;
            }
            catch (Exception e) when (!cancellationToken.IsCancellationRequested && passing(e) && Elapsed + _backoff.Delay < _budget)
            {
                Retries++;
                var left = _budget - Elapsed;
                if (_nextReport is null)
                {
                    _log.LogWarning(
                        "{Who}: cannot {Step}: {Reason}; the broker looks down or restarting, so this is retried with backoff for up to {Budget} (subscribeRetryTimeout), and the materializer reports degraded meanwhile",
                        _who, step, e.Message, Durations.Format(_budget));
                    _nextReport = Elapsed + ReportInterval;
                }
                else if (Elapsed >= _nextReport)
                {
                    _log.LogWarning(
                        "{Who}: still cannot {Step} after {Elapsed}: {Reason}; giving up in {Left}",
                        _who, step, Durations.Format(Elapsed), e.Message, Durations.Format(left));
                    _nextReport = Elapsed + ReportInterval;
                }

                // Set after the log line, so that whoever sees the degraded state finds the line written.
                _waiting = $"waiting for the Pulsar broker to {step}: {e.Message} (retrying for {Durations.Format(left)} more, subscribeRetryTimeout {Durations.Format(_budget)})";
                await Task.Delay(_backoff.Jittered(), _time, cancellationToken);
                _backoff.Increase();
            }
        }
    }

    /// <summary>How long the start has been retried, for the message of a final failure.</summary>
    public string Spent => Retries == 0 ? string.Empty : $" (after {Retries} retries in {Durations.Format(Elapsed)}; subscribeRetryTimeout {Durations.Format(_budget)})";

    /// <summary>Failures of the binary protocol a broker gets over: it cannot be reached (the socket
    /// is refused or drops), it does not answer in time, or it says it is not ready or too busy. A
    /// failed TLS handshake (an untrusted certificate) or an unreadable token file is a setting to
    /// fix: not retried.</summary>
    public static bool PassingBrokerFailure(Exception failure) => failure switch
    {
        ConnectionClosedException closed => closed.InnerException is null or System.Net.Sockets.SocketException or ObjectDisposedException
            or (IOException and not FileNotFoundException and not DirectoryNotFoundException),
        PulsarTimeoutException or ServiceNotReadyException or TooManyRequestsException => true,
        _ => false,
    };

    /// <summary>Failures of the admin API a broker gets over: the port refuses or the connection
    /// drops before an answer (the web service is down or restarting), the request times out, or
    /// the broker (or a proxy in front of it) answers that it is unavailable or overloaded. A refused
    /// credential, a missing permission or a TLS failure is a setting to fix: not retried.</summary>
    public static bool PassingAdminFailure(Exception failure) => failure switch
    {
        PulsarAdminException refused => refused.StatusCode is HttpStatusCode.ServiceUnavailable or HttpStatusCode.BadGateway
            or HttpStatusCode.GatewayTimeout or HttpStatusCode.TooManyRequests,
        HttpRequestException http => http.HttpRequestError is HttpRequestError.ConnectionError or HttpRequestError.ResponseEnded
            or HttpRequestError.NameResolutionError
            // A connection reset while the request is sent or read (the broker closes it as it goes
            // down) carries no category of its own: the socket's error says it dropped.
            || http.InnerException is System.Net.Sockets.SocketException or IOException { InnerException: System.Net.Sockets.SocketException },
        // HttpClient's own timeout (the caller's token is checked before this is asked).
        TaskCanceledException => true,
        IOException => true,
        _ => false,
    };
}
