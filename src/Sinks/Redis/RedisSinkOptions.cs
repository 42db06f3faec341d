using System.ComponentModel;

namespace Sync.Sinks.Redis;

/// <summary>The protocol spoken to the server.</summary>
public enum RedisProtocolVersion
{
    /// <summary>RESP2, which every Redis speaks.</summary>
    Resp2,

    /// <summary>RESP3 (Redis 6+, negotiated with <c>HELLO 3</c>); the client falls back to RESP2 where the server lacks it.</summary>
    Resp3,
}

/// <summary>Settings of the Redis sink. In the config:
/// <c>sinks: { cache: { type: redis, endpoints: [redis:6379], user: sync, password: ${REDIS_PASSWORD}, tls: { enabled: true, caFile: ca.pem } } }</c>.
/// A materializer's <c>target:</c> block (key template, format, indexes, TTLs) is <see cref="RedisTargetOptions"/>.</summary>
public sealed class RedisSinkOptions : IValidatable, IReportsInsecureTransport
{
    /// <summary>The server as <c>host:port</c>; several for a primary with replicas (the client writes to the
    /// primary), or some nodes of a Redis Cluster (the client discovers the rest). Required unless
    /// <see cref="Sentinel"/> names the primary instead.</summary>
    [Description("The server as `host:port` (port default 6379); several for a primary with replicas, or any nodes of a Redis Cluster (the rest are discovered). Required unless `sentinel` is set. Example: `[redis:6379]`.")]
    public List<string> Endpoints { get; set; } = [];

    /// <summary>The primary found through Redis Sentinel instead of <see cref="Endpoints"/>.</summary>
    [Description("The primary found through Redis Sentinel instead of `endpoints`: `serviceName` (the name the sentinels monitor) and `endpoints` (the sentinels as `host:port`, port default 26379). The sink writes to the primary the sentinels name and follows a failover.")]
    public RedisSentinelOptions? Sentinel { get; set; }

    /// <summary>Whether the endpoints are a Redis Cluster: <c>true</c> requires one, <c>false</c> refuses
    /// one, unset detects it from the server when the sink opens. On a cluster every row is written by its
    /// own script call in its slot (see <see cref="RedisKeys"/>).</summary>
    [Description("`true`: the endpoints must be a Redis Cluster; `false`: they must not; unset (default): detected from the server when the sink opens. On a cluster each row is applied in its own slot (its version key carries the row key's hash tag); index sets are updated after the rows and converge (repaired when a batch is replayed); `sync backfill --shadow` switches a generation pointer that carries the hash tag of the materializer's checkpoint key; `bulkShadow` is not supported there.")]
    public bool? Cluster { get; set; }

    /// <summary>The ACL user (<c>AUTH user password</c>); none = the <c>default</c> user.</summary>
    [Description("ACL user for `AUTH user password`; unset = the `default` user. Example: `sync`.")]
    public string? User { get; set; }

    /// <summary>Password for <c>AUTH</c>; never shown in any message.</summary>
    [Secret]
    [Description("Password for `AUTH`; never shown in messages. Example: `${REDIS_PASSWORD}`.")]
    public string? Password { get; set; }

    /// <summary>The logical database (<c>SELECT n</c>). Default 0.</summary>
    [Description("Logical database (`SELECT n`). Default 0.")]
    public int Database { get; set; }

    /// <summary>Prefix of the keys sync keeps for itself: version states and delete markers, target
    /// metadata, checkpoints. Must not be a prefix any key template produces. Default <c>sync:</c>.</summary>
    [Description("Prefix of sync's own keys (versions, delete markers, checkpoints, target metadata); keep it apart from your data keys. Default `sync:`.")]
    public string KeyPrefix { get; set; } = "sync:";

    /// <summary>TLS settings; off by default, certificate validation on when enabled.</summary>
    [Description("TLS: `enabled` (default false), `caFile` (PEM/DER CA that signs the server certificate; default: the system's trust store), `serverName` (default: the endpoint host), `verifyCertificate` (default true).")]
    public RedisTlsOptions Tls { get; set; } = new();

    /// <summary>RESP3 where the server has it (default), else RESP2.</summary>
    [Description("`resp3` (default; falls back to RESP2 on servers without it) or `resp2`.")]
    public RedisProtocolVersion Protocol { get; set; } = RedisProtocolVersion.Resp3;

    /// <summary>How long connecting may take. Default 5 s.</summary>
    [Description("How long connecting may take. Default 5s.")]
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How long one command (one script call of up to <see cref="ChangesPerScript"/> changes) may
    /// take before it counts as a transient timeout and the batch is retried. Default 10 s.</summary>
    [Description("How long one command may take before the batch is retried as a transient timeout. Default 10s.")]
    public TimeSpan CommandTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Changes per Lua script call; a batch becomes several pipelined calls. Larger calls spread
    /// the script's fixed cost over more rows but hold the server longer. Default 200.</summary>
    [Description("Changes per Lua script call; a batch is sent as pipelined calls of this size. Default 200.")]
    public int ChangesPerScript { get; set; } = 200;

    /// <summary>Whether <c>sync backfill --shadow</c> writes the new key generation with plain pipelined
    /// writes (HSET or SET, SADD, SET of the version state) of the newest change per key, collapsed in
    /// memory across batches, instead of the compare-and-set script per change: the generation has one
    /// writer, in log order. Both leave the same keys. Default false (opt-in, as the PostgreSQL and
    /// Elasticsearch sinks' <c>bulkShadow</c>).</summary>
    [Description("`backfill --shadow` writes the new key generation with plain pipelined writes of the newest change per key, collapsed in memory across batches (up to `bulkShadowMaxKeys`), instead of the compare-and-set script per change. Same keys either way. Not on a Redis Cluster. Default false.")]
    public bool BulkShadow { get; set; }

    /// <summary>With <see cref="BulkShadow"/>: how many keys' newest changes are held in memory before
    /// they are written out (and the checkpoint with them). Default 200,000.</summary>
    [Description("With `bulkShadow`: how many keys' newest changes are held in memory before they are written out, with the checkpoint. Default 200000.")]
    public int BulkShadowMaxKeys { get; set; } = 200_000;

    /// <summary>Accept a server whose <c>maxmemory-policy</c> may evict keys. Never-regress keeps each
    /// key's version (and each delete's marker) in Redis itself; an evicted version lets an older,
    /// redelivered change overwrite newer state. <c>sync check</c> reports any policy but
    /// <c>noeviction</c> as an error unless this is true. Default false.</summary>
    [Description("Accept a server whose `maxmemory-policy` may evict keys (anything but `noeviction`): an evicted version key lets a redelivered older change overwrite newer state. `sync check` reports such a policy as an error unless this is true. Default false.")]
    public bool AllowEviction { get; set; }

    /// <summary>Backoff for transient errors (connection loss, LOADING, BUSY, TRYAGAIN, READONLY, timeouts).
    /// Default 8 attempts, 50 ms doubling to 2 s.</summary>
    [Description("Backoff for transient errors (connection loss, LOADING, BUSY, timeouts): `maxAttempts` (default 8), `initialDelay` (50ms), `maxDelay` (2s).")]
    public RetryPolicy Retry { get; set; } = RetryPolicy.Default;

    /// <summary>Every problem at once, each naming the field path and the value (never the password). Pure.</summary>
    /// <inheritdoc/>
    public IReadOnlyList<string> InsecureTransport(string path) => Tls.Enabled && !Tls.VerifyCertificate
        ? [$"{path}.tls.verifyCertificate is false: the server certificate is not checked"]
        : [];

    public IReadOnlyList<string> Validate(string path)
    {
        var problems = new List<string>();
        if (Sentinel is not null)
        {
            problems.AddRange(Sentinel.Validate(path + ".sentinel"));
            if (Endpoints is { Count: > 0 })
            {
                problems.Add($"{path}.endpoints ({string.Join(", ", Endpoints)}) must be left out with sentinel: the sentinels name the primary");
            }

            if (Cluster == true)
            {
                problems.Add($"{path}.cluster (true) contradicts sentinel: a Redis Cluster fails over by itself, without sentinels");
            }
        }
        else if (Endpoints is null || Endpoints.Count == 0)
        {
            problems.Add($"{path}.endpoints (empty) must name at least one host:port (or set sentinel)");
        }
        else
        {
            for (var i = 0; i < Endpoints.Count; i++)
            {
                if (!TryParseEndpoint(Endpoints[i], out _, out _))
                {
                    var shown = string.IsNullOrWhiteSpace(Endpoints[i]) ? "empty" : Endpoints[i].ReplaceLineEndings(" ");
                    problems.Add($"{path}.endpoints[{i}] ({shown}) must be host:port with a port between 1 and 65535");
                }
            }
        }

        if (User is not null && string.IsNullOrEmpty(Password))
        {
            problems.Add($"{path}.user ({User}) needs a password: an ACL user cannot log in without one");
        }

        problems.MustBeBetween($"{path}.database", Database, 0, 100_000);

        if (string.IsNullOrEmpty(KeyPrefix))
        {
            problems.Add($"{path}.keyPrefix (empty) must be set: sync's own keys need a namespace apart from the data");
        }
        else if (KeyPrefix.Any(char.IsWhiteSpace))
        {
            problems.Add($"{path}.keyPrefix ({KeyPrefix.ReplaceLineEndings(" ")}) must not contain white space");
        }

        if (Tls is null)
        {
            problems.Add($"{path}.tls (null) must be set");
        }
        else
        {
            problems.AddRange(Tls.Validate(path + ".tls"));
        }

        if (Cluster == true && Database != 0)
        {
            problems.Add($"{path}.database ({Database}) must be 0 with cluster: true: a Redis Cluster has only database 0");
        }

        if (Cluster != false && KeyPrefix is not null && KeyPrefix.Contains('{', StringComparison.Ordinal))
        {
            problems.Add($"{path}.keyPrefix ({KeyPrefix}) must not contain '{{' unless cluster: false: on a Redis Cluster each version key carries its row key's hash tag, which a '{{' before it would override");
        }

        problems.MustBeWithin($"{path}.connectTimeout", ConnectTimeout, zeroAllowed: false, TimeSpan.FromMinutes(5), "1ms and 5m");
        problems.MustBeWithin($"{path}.commandTimeout", CommandTimeout, zeroAllowed: false, TimeSpan.FromMinutes(10), "1ms and 10m");
        problems.MustBeBetween($"{path}.changesPerScript", ChangesPerScript, 1, 10_000);
        if (Cluster == true && BulkShadow)
        {
            problems.Add($"{path}.bulkShadow (true) is not supported with cluster: true: its bulk load reads many keys at once and writes index sets alongside the rows, which a Redis Cluster's slots do not allow; leave it false");
        }

        problems.MustBeBetween($"{path}.bulkShadowMaxKeys", BulkShadowMaxKeys, 1, 100_000_000);
        problems.AddRange(RetryPolicy.ValidateSetting(Retry, path + ".retry"));

        return problems;
    }

    /// <summary>Parses <c>host:port</c>, <c>host</c> (port <paramref name="defaultPort"/>, 6379 unless
    /// given) or <c>[v6]:port</c>.</summary>
    public static bool TryParseEndpoint(string? text, out string host, out int port, int defaultPort = 6379)
    {
        host = string.Empty;
        port = defaultPort;
        if (string.IsNullOrWhiteSpace(text) || text.Any(char.IsWhiteSpace))
        {
            return false;
        }

        var colon = text.LastIndexOf(':');
        var bracket = text.LastIndexOf(']');
        if (colon > bracket)
        {
            if (!int.TryParse(text.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out port) || port is < 1 or > 65535)
            {
                return false;
            }

            host = text[..colon];
        }
        else
        {
            host = text;
        }

        host = host.TrimStart('[').TrimEnd(']');
        return host.Length > 0 && !host.Contains('/', StringComparison.Ordinal);
    }
}

/// <summary>TLS to the server. Off by default; when on, the server certificate is validated (chain and
/// name) against the system trust store or <see cref="CaFile"/>.</summary>
public sealed class RedisTlsOptions
{
    /// <summary>Connect with TLS. Default false.</summary>
    [Description("Connect with TLS. Default false.")]
    public bool Enabled { get; set; }

    /// <summary>A CA certificate (PEM or DER) that must sign the server's certificate, instead of the system trust store.</summary>
    [FilePath]
    [Description("CA certificate (PEM or DER) that signs the server certificate; default: the system trust store. Example: `certs/ca.pem`.")]
    public string? CaFile { get; set; }

    /// <summary>The name the certificate must carry; default the endpoint's host.</summary>
    [Description("Name the server certificate must carry (SNI); default: the endpoint host.")]
    public string? ServerName { get; set; }

    /// <summary>Validate the server certificate. Default true; false only for throwaway test servers.</summary>
    [Description("Validate the server certificate. Default true; set false only for throwaway test servers.")]
    public bool VerifyCertificate { get; set; } = true;

    public IReadOnlyList<string> Validate(string path)
    {
        var problems = new List<string>();
        if (!Enabled && (CaFile is not null || ServerName is not null))
        {
            var setting = CaFile is not null ? $"caFile ({CaFile})" : $"serverName ({ServerName})";
            problems.Add($"{path}.{setting} needs enabled: true; without TLS it has no effect");
        }

        if (CaFile is { } ca && string.IsNullOrWhiteSpace(ca))
        {
            problems.Add($"{path}.caFile (empty) must be a file path");
        }

        if (ServerName is { } name && (name.Length == 0 || name.Any(char.IsWhiteSpace)))
        {
            problems.Add($"{path}.serverName ({(name.Length == 0 ? "empty" : name.ReplaceLineEndings(" "))}) must be a host name");
        }

        if (!VerifyCertificate && CaFile is not null)
        {
            problems.Add($"{path}.verifyCertificate (false) contradicts caFile ({CaFile}): a CA is only used to verify");
        }

        return problems;
    }
}

/// <summary>Redis Sentinel settings of the sink: the service the sentinels monitor and where they listen.
/// StackExchange.Redis asks the sentinels for the service's primary, connects to it and moves when the
/// sentinels switch to another (docs/Configuration.md of StackExchange/StackExchange.Redis: "If you
/// specify a serviceName … it will trigger sentinel mode … discover the current master server … and
/// return a managed connection pointing to that master server that will automatically be updated if
/// the master changes").</summary>
public sealed class RedisSentinelOptions : IValidatable
{
    /// <summary>The name the sentinels monitor (<c>sentinel monitor NAME …</c>). Required.</summary>
    [Description("The service name the sentinels monitor (`sentinel monitor NAME host port quorum`). Example: `mymaster`.")]
    public string ServiceName { get; set; } = string.Empty;

    /// <summary>The sentinels as <c>host:port</c> (port default 26379). Required.</summary>
    [Description("The sentinels as `host:port` (port default 26379); list several, so that one down does not stop the sink. Example: `[sentinel1:26379, sentinel2:26379, sentinel3:26379]`.")]
    public List<string> Endpoints { get; set; } = [];

    public IReadOnlyList<string> Validate(string path)
    {
        var problems = new List<string>();
        if (string.IsNullOrWhiteSpace(ServiceName))
        {
            problems.Add($"{path}.serviceName (empty) must name the service the sentinels monitor");
        }

        if (Endpoints is null || Endpoints.Count == 0)
        {
            problems.Add($"{path}.endpoints (empty) must name at least one sentinel as host:port");
            return problems;
        }

        for (var i = 0; i < Endpoints.Count; i++)
        {
            if (!RedisSinkOptions.TryParseEndpoint(Endpoints[i], out _, out _, DefaultPort))
            {
                var shown = string.IsNullOrWhiteSpace(Endpoints[i]) ? "empty" : Endpoints[i].ReplaceLineEndings(" ");
                problems.Add($"{path}.endpoints[{i}] ({shown}) must be host:port with a port between 1 and 65535");
            }
        }

        return problems;
    }

    /// <summary>The port Redis Sentinel listens on by default.</summary>
    public const int DefaultPort = 26379;
}
