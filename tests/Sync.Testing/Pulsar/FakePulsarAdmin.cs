using System.Net;
using System.Text;
using System.Text.Json;
using Sync.Pulsar;
using Sync.Testing.Process;

namespace Sync.Testing.Pulsar;

/// <summary>
/// The admin REST endpoint (v2) of the fake broker, on HttpListener: the calls sync makes, with
/// the status codes and bodies of the real web service (errors as {"reason": "..."}).
/// </summary>
internal sealed class FakePulsarAdmin : IAsyncDisposable
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);
    private readonly FakePulsarBroker _broker;
    private readonly HttpListener _listener;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;

    public FakePulsarAdmin(FakePulsarBroker broker, int port)
    {
        _broker = broker;
        (_listener, Url) = LoopbackHttpListener.Start(port);
        _loop = Task.Run(LoopAsync);
    }

    public Uri Url { get; }

    private Task LoopAsync() => LoopbackHttpListener.ServeAsync(_listener, HandleAsync, _stop.Token);

    private async Task HandleAsync(HttpListenerContext context)
    {
        var response = context.Response;
        try
        {
            var (status, body) = Route(context.Request, await ReadBodyAsync(context.Request));
            response.StatusCode = (int)status;
            if (body is not null)
            {
                var bytes = JsonSerializer.SerializeToUtf8Bytes(body, Json);
                response.ContentType = "application/json";
                response.ContentLength64 = bytes.Length;
                await response.OutputStream.WriteAsync(bytes);
            }
        }
#pragma warning disable CA1031 // a fake server answers 500 like the real one instead of dying
        catch (Exception e)
#pragma warning restore CA1031
        {
            response.StatusCode = 500;
            var bytes = JsonSerializer.SerializeToUtf8Bytes(new { reason = e.Message }, Json);
            await response.OutputStream.WriteAsync(bytes);
        }
        finally
        {
            response.Close();
        }
    }

    private static async Task<string> ReadBodyAsync(HttpListenerRequest request)
    {
        using var reader = new StreamReader(request.InputStream, Encoding.UTF8);
        return await reader.ReadToEndAsync();
    }

    private static (HttpStatusCode, object?) Error(HttpStatusCode status, string reason) => (status, new { reason });

    private (HttpStatusCode Status, object? Body) Route(HttpListenerRequest request, string body)
    {
        if (_broker.RequiredToken is { } token && request.Headers["Authorization"] != $"Bearer {token}")
        {
            // The web service answers a missing or wrong token with 401.
            return Error(HttpStatusCode.Unauthorized, "Authentication required");
        }
        if (_broker.Faults.TakeAdminFailure(request.HttpMethod, request.Url!.AbsolutePath, out var failure, out var reason))
        {
            return Error(failure, reason);
        }
        var segments = request.Url!.AbsolutePath.Trim('/').Split('/').Select(Uri.UnescapeDataString).ToArray();
        var method = request.HttpMethod;
        if (segments.Length >= 2 && segments[0] == "fake")
        {
            return Fault(method, segments[1..], request);
        }
        if (segments.Length < 4 || segments[0] != "admin" || segments[1] != "v2")
        {
            return Error(HttpStatusCode.NotFound, "Not found");
        }
        if (segments[2] == "namespaces" && segments.Length == 6 && segments[5] == "retention")
        {
            return NamespaceRetention(method, $"{segments[3]}/{segments[4]}", body);
        }
        if (segments[2] == "namespaces" && segments.Length == 6 && segments[5] == "compactionThreshold")
        {
            // Namespace policy: GET answers the number (or nothing when unset), PUT sets it.
            return CompactionThreshold(method, $"namespace:{segments[3]}/{segments[4]}", body, "PUT");
        }
        if (segments[2] == "schemas" && segments.Length is 7 or 8 && segments[6] == "schema" && method == "GET")
        {
            // GET /admin/v2/schemas/{tenant}/{namespace}/{topic}/schema[/{version}]
            long? version = segments.Length == 8 ? long.Parse(segments[7], System.Globalization.CultureInfo.InvariantCulture) : null;
            return _broker.AdminGetSchema($"persistent://{segments[3]}/{segments[4]}/{segments[5]}", version);
        }
        if (segments[2] != "persistent" || segments.Length < 5)
        {
            return Error(HttpStatusCode.NotFound, "Not found");
        }
        var ns = $"{segments[3]}/{segments[4]}";
        if (segments.Length == 5 && method == "GET")
        {
            return (HttpStatusCode.OK, _broker.TopicNames.Where(t => t.StartsWith($"persistent://{ns}/", StringComparison.Ordinal)).ToArray());
        }
        if (segments.Length == 6 && segments[5] == "partitioned" && method == "GET")
        {
            return (HttpStatusCode.OK, _broker.PartitionedTopicNames.Where(t => t.StartsWith($"persistent://{ns}/", StringComparison.Ordinal)).ToArray());
        }
        var topic = $"persistent://{ns}/{segments[5]}";
        var action = segments.Length > 6 ? segments[6] : null;
        return (action, method) switch
        {
            (null, "PUT") => _broker.AdminCreateTopic(topic, 0),
            (null, "DELETE") => _broker.AdminDeleteTopic(topic, request.QueryString["force"] == "true"),
            ("partitions", "PUT") => _broker.AdminCreateTopic(topic, int.Parse(body, System.Globalization.CultureInfo.InvariantCulture)),
            ("partitions", "GET") => (HttpStatusCode.OK, new { partitions = _broker.PartitionCount(topic) }),
            ("compaction", "PUT") => _broker.AdminCompact(topic),
            ("compaction", "GET") => _broker.AdminCompactionStatus(topic),
            ("truncate", "DELETE") => _broker.AdminTruncate(topic),
            ("retention", _) => TopicRetention(method, topic, body),
            ("internalStats", "GET") => _broker.AdminInternalStats(topic),
            ("subscription", "POST") when segments.Length == 9 && segments[8] == "resetcursor" => ResetCursor(topic, segments[7], body),
            ("compactionThreshold", _) => CompactionThreshold(method, topic, body, "POST"),
            _ => Error(HttpStatusCode.MethodNotAllowed, $"{method} {request.Url.AbsolutePath} is not supported by the fake"),
        };
    }

    private (HttpStatusCode, object?) ResetCursor(string topic, string subscription, string body)
    {
        // ResetCursorData: ledgerId and entryId (partitionIndex and batchIndex are accepted and,
        // for a non-partitioned fake ledger, not needed).
        using var json = JsonDocument.Parse(body);
        var root = json.RootElement;
        return root.TryGetProperty("ledgerId", out var ledger) && root.TryGetProperty("entryId", out var entry)
            ? _broker.AdminResetCursor(topic, subscription, ledger.GetInt64(), entry.GetInt64())
            : Error(HttpStatusCode.BadRequest, "ledgerId and entryId are required");
    }

    /// <summary>
    /// Fault endpoints for tests that drive the fake from another process (not part of Pulsar's
    /// API): POST /fake/retention/enforce, POST /fake/clock/advance?minutes=N (with a manual
    /// clock), POST /fake/ledgers/roll?topic=T.
    /// </summary>
    private (HttpStatusCode, object?) Fault(string method, string[] path, HttpListenerRequest request)
    {
        if (method != "POST")
        {
            return Error(HttpStatusCode.MethodNotAllowed, "fault endpoints take POST");
        }
        switch (string.Join('/', path))
        {
            case "retention/enforce":
                return (HttpStatusCode.OK, new { deletedLedgers = _broker.EnforceRetention() });
            case "clock/advance" when _broker.Options.Clock is ManualTimeProvider clock
                && int.TryParse(request.QueryString["minutes"], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var minutes):
                clock.Advance(TimeSpan.FromMinutes(minutes));
                return (HttpStatusCode.OK, new { now = clock.GetUtcNow() });
            case "clock/advance":
                return Error(HttpStatusCode.Conflict, "the clock only moves when the fake runs with a manual clock and minutes=N is given");
            case "ledgers/roll" when request.QueryString["topic"] is { Length: > 0 } topic:
                _broker.RollLedger(topic);
                return (HttpStatusCode.NoContent, null);
            default:
                return Error(HttpStatusCode.NotFound, $"no fault endpoint /fake/{string.Join('/', path)}");
        }
    }

    private (HttpStatusCode, object?) TopicRetention(string method, string topic, string body) => method switch
    {
        "GET" => Policy(_broker.Retention(topic)),
        "POST" => Set(() => _broker.SetRetention(topic, JsonSerializer.Deserialize<RetentionBody>(body, Json))),
        "DELETE" => Set(() => _broker.SetRetention(topic, null)),
        _ => Error(HttpStatusCode.MethodNotAllowed, "retention supports GET, POST and DELETE"),
    };

    private (HttpStatusCode, object?) NamespaceRetention(string method, string ns, string body) => method switch
    {
        "GET" => Policy(_broker.Retention($"namespace:{ns}")),
        "POST" => Set(() => _broker.SetRetention($"namespace:{ns}", JsonSerializer.Deserialize<RetentionBody>(body, Json))),
        "DELETE" => Set(() => _broker.SetRetention($"namespace:{ns}", null)),
        _ => Error(HttpStatusCode.MethodNotAllowed, "retention supports GET, POST and DELETE"),
    };

    private (HttpStatusCode, object?) CompactionThreshold(string method, string key, string body, string setMethod) => method switch
    {
        "GET" => (HttpStatusCode.OK, _broker.CompactionThreshold(key)),
        "DELETE" => Set(() => _broker.SetCompactionThreshold(key, null)),
        _ when method == setMethod => Set(() => _broker.SetCompactionThreshold(key, long.Parse(body, System.Globalization.CultureInfo.InvariantCulture))),
        _ => Error(HttpStatusCode.MethodNotAllowed, $"compactionThreshold supports GET, {setMethod} and DELETE"),
    };

    /// <summary>A policy GET: the policy, or 204 without a body when none is set (the web service
    /// resumes the request with null, which JAX-RS answers with 204 No Content).</summary>
    private static (HttpStatusCode, object?) Policy(object? policy) =>
        policy is null ? (HttpStatusCode.NoContent, null) : (HttpStatusCode.OK, policy);

    private static (HttpStatusCode, object?) Set(Action change)
    {
        change();
        return (HttpStatusCode.NoContent, null);
    }

    public async ValueTask DisposeAsync()
    {
        // Close alone: on the managed HttpListener a Close after Stop binds the port again, and
        // throws "address already in use" when another process took it in between.
        await _stop.CancelAsync();
        _listener.Close();
        await _loop;
        _stop.Dispose();
    }
}

/// <summary>A retention policy as the admin API carries it.</summary>
public sealed record RetentionBody(int RetentionTimeInMinutes, long RetentionSizeInMB);
