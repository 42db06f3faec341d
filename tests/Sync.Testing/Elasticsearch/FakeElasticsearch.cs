using System.Globalization;
using System.IO.Compression;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Sync.Testing.Process;

namespace Sync.Testing.Elasticsearch;

/// <summary>Settings of a <see cref="FakeElasticsearch"/>.</summary>
public sealed record FakeElasticsearchOptions
{
    /// <summary>The clock that ages delete tombstones (<c>index.gc_deletes</c>). Default the system clock.</summary>
    public TimeProvider Time { get; init; } = TimeProvider.System;

    /// <summary>When set, every request must carry <c>Authorization: ApiKey &lt;this&gt;</c>. Default null.</summary>
    public string? RequiredApiKey { get; init; }

    /// <summary>When set, every request must carry basic auth with this user and password. Default null.</summary>
    public (string User, string Password)? RequiredBasicAuth { get; init; }

    /// <summary>Real Elasticsearch creates a missing index on the first write
    /// (<c>action.auto_create_index</c>, default true). Default true.</summary>
    public bool AutoCreateIndex { get; init; } = true;

    /// <summary>With security on (<see cref="RequiredApiKey"/> or <see cref="RequiredBasicAuth"/>): the
    /// index privileges the caller holds, by index name or pattern (a trailing <c>*</c>), as
    /// <c>_security/user/_has_privileges</c> reports them. Default null: every privilege.</summary>
    public IReadOnlyDictionary<string, string[]>? GrantedIndexPrivileges { get; init; }

    /// <summary>Receives one line per request, for debugging. Default null.</summary>
    public Action<string>? Trace { get; init; }

    /// <summary>
    /// Answers requests whatever their Host header says (HttpListener prefix <c>http://*:PORT/</c>,
    /// which listens on every interface), for use behind a proxy such as a TLS endpoint whose
    /// host and port the client puts in Host. Default false: 127.0.0.1 only.
    /// </summary>
    public bool AnyHostHeader { get; init; }

    /// <summary>The version <c>GET /</c> reports, whose major decides which <c>compatible-with</c>
    /// media types are accepted: the server's own major and the one before it (elastic/elasticsearch
    /// server/src/main/java/org/elasticsearch/rest/RestCompatibleVersionHelper.java). "8.19.3" stands
    /// for an 8.x cluster, which refuses the 9.x client. Default "9.1.5".</summary>
    public string ServerVersion { get; init; } = "9.1.5";
}

/// <summary>
/// An in-process Elasticsearch HTTP fake on a loopback port, modelling the REST API (9.x) in the
/// points <c>sync</c> relies on — nothing more. It is not a search engine: no analysis beyond a
/// lower-casing tokenizer for <c>text</c> fields, one shard per index, no scoring, no cluster.
/// Each API area lives in its own FakeElasticsearch.*.cs file and cites the behaviour it models
/// (https://www.elastic.co/docs/api/doc/elasticsearch). Every response carries
/// <c>X-Elastic-Product: Elasticsearch</c>, which the official clients require
/// (https://www.elastic.co/guide/en/elasticsearch/reference/current/api-conventions.html), and
/// errors have the server's shape: <c>{"error":{"root_cause":[…],"type":…,"reason":…},"status":N}</c>.
/// Faults are armed through <see cref="Faults"/> instead of sleeping. All state is guarded by one lock.
/// </summary>
public sealed partial class FakeElasticsearch : IAsyncDisposable
{
    private HttpListener _listener;
    private CancellationTokenSource _loopStop = new();
    private Task _loop;
    private readonly object _gate = new();
    private readonly Dictionary<string, FakeIndex> _indices = new(StringComparer.Ordinal);
    private readonly List<string> _requests = [];
    private readonly List<int> _bulkSizes = [];

    private FakeElasticsearch(FakeElasticsearchOptions options)
    {
        Options = options;
        (_listener, Url) = LoopbackHttpListener.Start(anyHostHeader: options.AnyHostHeader);
        _loop = Task.Run(() => LoopAsync(_loopStop.Token));
    }

    public FakeElasticsearchOptions Options { get; }

    /// <summary><c>http://127.0.0.1:PORT/</c>.</summary>
    public Uri Url { get; }

    /// <summary>Fault injection: answer the next requests or bulk items with errors, or delay them.</summary>
    public FakeElasticsearchFaults Faults { get; } = new();

    /// <summary>Starts a fake listening on 127.0.0.1 on a free port.</summary>
    public static FakeElasticsearch Start(FakeElasticsearchOptions? options = null) => new(options ?? new FakeElasticsearchOptions());

    /// <summary>Every request received, as <c>METHOD /path?query</c>, in order.</summary>
    public IReadOnlyList<string> Requests
    {
        get
        {
            lock (_gate)
            {
                return [.. _requests];
            }
        }
    }

    /// <summary>The number of actions of each <c>_bulk</c> request received, in order.</summary>
    public IReadOnlyList<int> BulkSizes
    {
        get
        {
            lock (_gate)
            {
                return [.. _bulkSizes];
            }
        }
    }

    /// <summary>Names of the existing indices.</summary>
    public IReadOnlyList<string> IndexNames
    {
        get
        {
            lock (_gate)
            {
                return [.. _indices.Keys.Order(StringComparer.Ordinal)];
            }
        }
    }

    /// <summary>The live documents of an index (realtime, as GET sees them): id -> <c>_source</c> JSON text. Empty when the index does not exist.</summary>
    public IReadOnlyDictionary<string, string> Documents(string index)
    {
        lock (_gate)
        {
            return _indices.TryGetValue(index, out var i)
                ? i.Docs.Where(d => d.Value.Source is not null).ToDictionary(d => d.Key, d => d.Value.Source!, StringComparer.Ordinal)
                : new Dictionary<string, string>(StringComparer.Ordinal);
        }
    }

    /// <summary>The stored version of a document, live or a tombstone still within <c>index.gc_deletes</c>; null when none.</summary>
    public long? VersionOf(string index, string id)
    {
        lock (_gate)
        {
            return _indices.TryGetValue(index, out var i) && i.Lookup(id, Options.Time.GetUtcNow()) is { } d ? d.Version : null;
        }
    }

    /// <summary>The index's mappings as GET _mapping returns them (<c>{"properties":{…}}</c>), or null.</summary>
    public JsonObject? Mapping(string index)
    {
        lock (_gate)
        {
            return _indices.TryGetValue(index, out var i) ? (JsonObject)i.Mappings.DeepClone() : null;
        }
    }

    /// <summary>The index's settings as created (flat keys such as <c>index.gc_deletes</c>), or null.</summary>
    public IReadOnlyDictionary<string, string>? Settings(string index)
    {
        lock (_gate)
        {
            return _indices.TryGetValue(index, out var i) ? new Dictionary<string, string>(i.Settings, StringComparer.Ordinal) : null;
        }
    }

    /// <summary>Aliases of an index.</summary>
    public IReadOnlyList<string> Aliases(string index)
    {
        lock (_gate)
        {
            return _indices.TryGetValue(index, out var i) ? [.. i.Aliases.Order(StringComparer.Ordinal)] : [];
        }
    }

    // The loop ends on its own token, not only on the listener's close: a GetContextAsync the managed
    // HttpListener began while it was being stopped can stay pending for good (a hang seen with the
    // Pulsar admin fake's listener).
    private Task LoopAsync(CancellationToken stop) => LoopbackHttpListener.ServeAsync(_listener, HandleAsync, stop);

    private async Task HandleAsync(HttpListenerContext context)
    {
        var request = context.Request;
        var response = context.Response;
        try
        {
            var raw = request.RawUrl ?? "/";
            var queryStart = raw.IndexOf('?', StringComparison.Ordinal);
            var path = queryStart < 0 ? raw : raw[..queryStart];
            var query = ParseQuery(queryStart < 0 ? string.Empty : raw[(queryStart + 1)..]);

            // Path segments are percent-decoded one by one, so that an id holding an encoded '/' stays one segment.
            var segments = path.Split('/', StringSplitOptions.RemoveEmptyEntries).Select(Uri.UnescapeDataString).ToArray();
            byte[] body;
            using (var buffer = new MemoryStream())
            {
                // Request bodies may be gzip- or deflate-compressed (Content-Encoding), which the server
                // accepts; the official client compresses by default. Responses go back uncompressed.
                var encoding = request.Headers["Content-Encoding"];
                await using Stream input = encoding switch
                {
                    "gzip" => new GZipStream(request.InputStream, CompressionMode.Decompress),
                    "deflate" => new DeflateStream(request.InputStream, CompressionMode.Decompress),
                    _ => request.InputStream,
                };
                await input.CopyToAsync(buffer);
                body = buffer.ToArray();
            }

            lock (_gate)
            {
                _requests.Add($"{request.HttpMethod} {raw}");
            }

            Options.Trace?.Invoke($"{request.HttpMethod} {raw} ({body.Length} bytes)");
            if (Faults.TakeDelay() is { } delay)
            {
                await Task.Delay(delay);
            }

            if (Faults.TakeBeforeRequest(path) is { } before)
            {
                await before();
            }

            var reply = Authenticate(request) ?? CheckCompatibleWith(request, body.Length > 0) ?? Faults.TakeRequestFault(request.HttpMethod, path) ?? Route(request.HttpMethod, segments, query, body);
            await WriteAsync(request, response, reply);
        }
        catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or IOException)
        {
            // The client went away.
        }
        catch (Exception e)
        {
            try
            {
                Options.Trace?.Invoke(e.ToString());
                await WriteAsync(request, response, Error(500, "exception", e.Message));
            }
            catch (Exception ignored) when (ignored is HttpListenerException or ObjectDisposedException or IOException or InvalidOperationException)
            {
            }
        }
    }

    private static async Task WriteAsync(HttpListenerRequest request, HttpListenerResponse response, Reply reply)
    {
        response.StatusCode = reply.Status;

        // Every REST response of Elasticsearch 7.14+ carries the product header; the official clients
        // refuse to talk to a server without it (the "product check").
        response.Headers["X-Elastic-Product"] = "Elasticsearch";

        // A client asking for the versioned media type (compatible-with=N) gets it back, as the server does.
        var accept = request.Headers["Accept"] ?? request.ContentType ?? string.Empty;
        response.ContentType = accept.Contains("vnd.elasticsearch+json", StringComparison.OrdinalIgnoreCase)
            ? "application/vnd.elasticsearch+json;compatible-with=" + new string([.. accept[(accept.IndexOf("compatible-with=", StringComparison.OrdinalIgnoreCase) is var at and >= 0 ? at + 16 : accept.Length)..].TakeWhile(char.IsAsciiDigit)])
            : "application/json; charset=UTF-8";
        var bytes = reply.Body is null || request.HttpMethod == "HEAD" ? [] : Encoding.UTF8.GetBytes(reply.Body.ToJsonString());
        response.ContentLength64 = bytes.Length;
        if (bytes.Length > 0)
        {
            await response.OutputStream.WriteAsync(bytes);
        }

        response.Close();
    }

    private int ServerMajor => int.Parse(Options.ServerVersion.Split('.')[0], CultureInfo.InvariantCulture);

    /// <summary>A <c>compatible-with=N</c> parameter on <c>Accept</c> (or, with a body, <c>Content-Type</c>)
    /// must name the server's major or the one before it, else 400 with the server's message, before
    /// anything else is done (RestCompatibleVersionHelper.getCompatibleVersion, cited on
    /// <see cref="FakeElasticsearchOptions.ServerVersion"/>).</summary>
    private Reply? CheckCompatibleWith(HttpListenerRequest request, bool hasContent)
    {
        var major = ServerMajor;
        foreach (var (name, header) in new[] { ("Accept", request.Headers["Accept"]), ("Content-Type", hasContent ? request.ContentType : null) })
        {
            var at = header?.IndexOf("compatible-with=", StringComparison.OrdinalIgnoreCase) ?? -1;
            if (at < 0)
            {
                continue;
            }

            var digits = new string([.. header![(at + "compatible-with=".Length)..].TakeWhile(char.IsAsciiDigit)]);
            if (!int.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out var wanted) || wanted > major || wanted < major - 1)
            {
                return Error(400, "status_exception", $"{name} version must be either version {major} or {major - 1}, but found {digits}. {name}={header}");
            }
        }

        return null;
    }

    /// <summary>With security enabled, a request without valid credentials is answered 401 with a
    /// <c>security_exception</c> and a <c>WWW-Authenticate</c> challenge.</summary>
    private Reply? Authenticate(HttpListenerRequest request)
    {
        if (Options.RequiredApiKey is null && Options.RequiredBasicAuth is null)
        {
            return null;
        }

        var header = request.Headers["Authorization"] ?? string.Empty;
        if (Options.RequiredApiKey is { } key && header == "ApiKey " + key)
        {
            return null;
        }

        if (Options.RequiredBasicAuth is { } basic
            && header == "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes($"{basic.User}:{basic.Password}")))
        {
            return null;
        }

        return Error(401, "security_exception", header.Length == 0
            ? "missing authentication credentials for REST request [" + request.RawUrl + "]"
            : "unable to authenticate with provided credentials and anonymous access is not allowed for this request");
    }

    private Reply Route(string method, string[] s, Dictionary<string, string> query, byte[] body)
    {
        lock (_gate)
        {
            switch (s.Length)
            {
                case 0 when method is "GET" or "HEAD":
                    return Info();
                case 1 when s[0] == "_bulk" && method is "POST" or "PUT":
                    return Bulk(null, query, body);
                case 1 when s[0] == "_refresh" && method is "POST" or "GET":
                    return Refresh("_all", query);
                case 1 when s[0] is "_count" or "_search":
                    return s[0] == "_count" ? Count("_all", query, body) : Search("_all", query, body);
                case 1 when s[0] == "_aliases" && method == "POST":
                    return UpdateAliases(body);
                case 2 when s[0] == "_alias" && method is "HEAD" or "GET":
                    return GetAlias(s[1]);
                case 1 when s[0] == "_pit" && method == "DELETE":
                    return ClosePointInTime(body);
                case 1 when s[0].StartsWith('_'):
                    break;
                case 1 when method == "PUT":
                    return CreateIndex(s[0], body);
                case 1 when method is "HEAD" or "GET":
                    return method == "HEAD" ? IndexExists(s[0]) : GetIndex(s[0]);
                case 1 when method == "DELETE":
                    return DeleteIndex(s[0]);
                case 2 when s[1] == "_bulk" && method is "POST" or "PUT":
                    return Bulk(s[0], query, body);
                case 2 when s[1] == "_refresh" && method is "POST" or "GET":
                    return Refresh(s[0], query);
                case 2 when s[1] == "_mget" && method is "POST" or "GET":
                    return MultiGet(s[0], query, body);
                case 2 when s[1] == "_count" && method is "POST" or "GET":
                    return Count(s[0], query, body);
                case 2 when s[1] == "_pit" && method == "POST":
                    return OpenPointInTime(s[0], query);
                case 2 when s[1] == "_search" && method is "POST" or "GET":
                    return Search(s[0], query, body);
                case 2 when s[1] == "_delete_by_query" && method == "POST":
                    return DeleteByQuery(s[0], query, body);
                case 2 when s[1] == "_mapping" && method is "PUT" or "POST":
                    return PutMapping(s[0], body);
                case 2 when s[1] == "_mapping" && method == "GET":
                    return GetMapping(s[0]);
                case 2 when s[1] == "_settings" && method == "PUT":
                    return PutSettings(s[0], body);
                case 2 when s[1] == "_settings" && method == "GET":
                    return GetSettings(s[0], query);
                case 2 when s[1] == "_doc" && method == "POST":
                    return IndexDocument(s[0], null, query, body, create: false);
                case 3 when s[1] == "_doc" && method is "PUT" or "POST":
                    return IndexDocument(s[0], s[2], query, body, create: query.GetValueOrDefault("op_type") == "create");
                case 3 when s[1] == "_create" && method is "PUT" or "POST":
                    return IndexDocument(s[0], s[2], query, body, create: true);
                case 3 when s[1] == "_doc" && method is "GET" or "HEAD":
                    return GetDocument(s[0], s[2], query);
                case 3 when s[1] == "_doc" && method == "DELETE":
                    return DeleteDocument(s[0], s[2], query);
                case 3 when s[0] == "_security" && s[1] == "user" && s[2] == "_has_privileges" && method is "GET" or "POST":
                    return HasPrivileges(body);
                case 3 when s[1] is "_alias" or "_aliases" && method is "PUT" or "POST":
                    return PutAlias(s[0], s[2]);
            }

            // Real Elasticsearch answers an unknown endpoint with 400 (or 405 for a known path with another method).
            return Error(400, "illegal_argument_exception", $"request [/{string.Join('/', s)}] contains unrecognized parameter or path for method [{method}]");
        }
    }

    internal static Dictionary<string, string> ParseQuery(string query)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var part in query.Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var eq = part.IndexOf('=', StringComparison.Ordinal);
            var key = Uri.UnescapeDataString(eq < 0 ? part : part[..eq]);
            var value = eq < 0 ? string.Empty : Uri.UnescapeDataString(part[(eq + 1)..].Replace('+', ' '));
            result[key] = value;
        }

        return result;
    }

    /// <summary>An error in the server's shape: the cause repeated under <c>root_cause</c>, and the HTTP status.</summary>
    internal static Reply Error(int status, string type, string reason, string? index = null)
    {
        return new Reply(status, new JsonObject
        {
            ["error"] = ErrorCause(type, reason, index, withRootCause: true),
            ["status"] = status,
        });
    }

    internal static JsonObject ErrorCause(string type, string reason, string? index, bool withRootCause = false, JsonObject? causedBy = null)
    {
        var cause = new JsonObject { ["type"] = type, ["reason"] = reason };
        if (index is not null)
        {
            cause["index_uuid"] = FakeIndex.UuidOf(index);
            cause["index"] = index;
        }

        if (causedBy is not null)
        {
            cause["caused_by"] = causedBy;
        }

        if (withRootCause)
        {
            var root = new JsonObject { ["type"] = type, ["reason"] = reason };
            if (index is not null)
            {
                root["index_uuid"] = FakeIndex.UuidOf(index);
                root["index"] = index;
            }

            return new JsonObject { ["root_cause"] = new JsonArray(root) }.Merge(cause);
        }

        return cause;
    }

    internal static JsonObject Shards(int successful = 1) => new() { ["total"] = 1, ["successful"] = successful, ["failed"] = 0 };

    internal static JsonNode? ParseBody(byte[] body) =>
        body.Length == 0 ? null : JsonNode.Parse(body, documentOptions: new JsonDocumentOptions { AllowTrailingCommas = false });

    internal static bool Flag(Dictionary<string, string> query, string name) =>
        query.TryGetValue(name, out var value) && (value.Length == 0 || value == "true");

    public async ValueTask DisposeAsync()
    {
        await _loopStop.CancelAsync();
        await StopResettingAsync();
        _listener.Close();
        try
        {
            await _loop;
        }
        catch (Exception e) when (e is HttpListenerException or ObjectDisposedException)
        {
        }

        _loopStop.Dispose();
    }

    internal sealed record Reply(int Status, JsonNode? Body);
}

internal static class JsonObjectExtensions
{
    /// <summary>Copies the properties of <paramref name="other"/> into <paramref name="target"/>.</summary>
    public static JsonObject Merge(this JsonObject target, JsonObject other)
    {
        foreach (var (key, value) in other.ToList())
        {
            other.Remove(key);
            target[key] = value;
        }

        return target;
    }
}
