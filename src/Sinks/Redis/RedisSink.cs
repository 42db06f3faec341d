using System.Net.Security;
using System.Runtime.CompilerServices;
using System.Security.Cryptography.X509Certificates;
using StackExchange.Redis;
using StreamPosition = Sync.Engine.Changes.StreamPosition;

namespace Sync.Sinks.Redis;

/// <summary>
/// Materializes changes into Redis keys (StackExchange.Redis).
/// <list type="bullet">
/// <item>Rows: a hash or a JSON string under a key rendered from the target's key template; optional
/// field selection, TTL and secondary index sets (<see cref="RedisTargetOptions"/>).</item>
/// <item>Never regresses: every row key has a version state next to it (<see cref="RedisKeys"/>); a Lua
/// script compares and writes per key atomically, pipelined per batch. A delete leaves its state as a
/// delete marker for <see cref="RedisTargetOptions.DeleteMarkerTtl"/>.</item>
/// <item>Checkpoint: a hash per materializer, written after the batch's changes and after
/// <see cref="SinkBatch.BeforeCommit"/>. Redis has no transaction spanning the scripts and the dead
/// letters, so a batch's rows become visible before its checkpoint; a crash in between replays the batch,
/// which the version check makes harmless.</item>
/// <item>Errors: transient ones (connection loss, LOADING, BUSY, timeouts) retry the whole batch with
/// capped backoff (safe: every write is version-checked); fatal ones discard the connection and throw
/// <see cref="SinkFatalException"/>; the next call connects afresh.</item>
/// </list>
/// Calls are serialized. On a Redis Cluster (configured or detected) each row is applied by its own
/// script call in the row key's slot (<see cref="RedisKeys"/>).
/// </summary>
public sealed partial class RedisSink : ISink, IShadowableSink, IReconnectingSink, IMonotonicCheckpointSink
{
    private readonly RedisSinkOptions _options;
    private readonly SinkSession<RedisConnection> _session;
    private readonly Dictionary<(TargetSpec, string), TargetSpec> _generations = [];

    // Per generation prefix, the bulk load of a shadow generation being built (RedisSinkOptions.BulkShadow).
    private readonly Dictionary<string, RedisShadowLoad> _shadowLoads = new(StringComparer.Ordinal);

    private RedisSink(string name, RedisSinkOptions options, TimeProvider time)
    {
        Name = name;
        _options = options;
        Keys = new RedisKeys(options.KeyPrefix);
        _session = new SinkSession<RedisConnection>(this, _ => ConnectAsync(), connection => connection.Multiplexer.DisposeAsync(), Failures(), options.Retry, time)
        {
            // What was registered in the target metadata may not have been written.
            AfterFailure = connection => connection.Writer.Forget(),
        };
    }

    public string Name { get; }

    /// <inheritdoc/>
    public bool NeverLowersCheckpoints => true;

    /// <summary>Raised when StackExchange.Redis restored the lost command connection (its
    /// ConnectionRestored event): the server may have restarted from an older RDB or AOF, or empty.</summary>
    public event Action? Reconnected;

    /// <summary>The names of sync's own keys on a standalone server.</summary>
    public RedisKeys Keys { get; }

    /// <summary>Whether the last connection found a Redis Cluster (the sink then writes row by row in each
    /// row key's slot); for <c>sync status</c> and the logs.</summary>
    public bool ClusterDetected { get; private set; }

    /// <summary>Connects (with the retry policy), detects a Redis Cluster, and returns the sink.
    /// Throws <see cref="ArgumentException"/> listing every problem of <paramref name="options"/>,
    /// <see cref="SinkFatalException"/> when authentication fails or the server is (not) a cluster against
    /// <see cref="RedisSinkOptions.Cluster"/>, and
    /// <see cref="SinkUnavailableException"/> when the server stays unreachable.</summary>
    public static Task<RedisSink> OpenAsync(string name, RedisSinkOptions options, CancellationToken cancellationToken) =>
        OpenAsync(name, options, TimeProvider.System, cancellationToken);

    /// <inheritdoc cref="OpenAsync(string, RedisSinkOptions, CancellationToken)"/>
    public static Task<RedisSink> OpenAsync(string name, RedisSinkOptions options, TimeProvider time, CancellationToken cancellationToken) =>
        SinkOpening.OpenAsync(name, options, time, () => new RedisSink(name, options, time),
            async sink => await sink.RunAsync("connect", async writer => await writer.PingAsync(), cancellationToken));

    public async ValueTask<IReadOnlyDictionary<string, StreamPosition>> LoadCheckpointAsync(string materializer, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(materializer);
        return await RunAsync<IReadOnlyDictionary<string, StreamPosition>>(
            $"read the checkpoint of '{materializer}'", async w => await w.LoadCheckpointAsync(materializer), cancellationToken);
    }

    public async ValueTask<ApplyResult> ApplyAsync(SinkBatch batch, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(batch);
        ValidateTarget(batch.Target);
        if (ShadowLoadOf(batch.Target) is { } load)
        {
            return await RunAsync($"load a batch of {batch.Changes.Count} changes into the new key generation of table \"{batch.Target.Table}\"", w => w.LoadShadowAsync(load, batch), cancellationToken, batch.Retrying);
        }

        return await RunAsync($"apply a batch of {batch.Changes.Count} changes to table \"{batch.Target.Table}\"", async w => await w.ApplyAsync(batch with { Target = await InLiveGenerationAsync(w, batch.Target) }), cancellationToken, batch.Retrying);
    }

    public async ValueTask<long> EraseAsync(TargetSpec target, SubjectMatch match, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(match);
        ValidateTarget(target);
        return await RunAsync($"erase from table \"{target.Table}\" by column \"{match.Column}\"", async w => (await w.EraseManyAsync(await InLiveGenerationAsync(w, target), new SubjectMatches(match.Column, [match.Value])))[0], cancellationToken);
    }

    public async ValueTask<IReadOnlyList<long>> EraseManyAsync(TargetSpec target, SubjectMatches matches, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(matches);
        ValidateTarget(target);
        return await RunAsync<IReadOnlyList<long>>($"erase {matches.Values.Count} values from table \"{target.Table}\" by column \"{matches.Column}\"", async w => await w.EraseManyAsync(await InLiveGenerationAsync(w, target), matches), cancellationToken);
    }

    public async ValueTask<long?> ReconcileEpochAsync(string materializer, TargetSpec target, string stream, long epochStart, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(target);
        ValidateTarget(target);
        return await RunAsync($"reconcile table \"{target.Table}\" with a new source epoch's snapshot", async w => await w.ReconcileEpochAsync(materializer, await InLiveGenerationAsync(w, target), stream, epochStart), cancellationToken);
    }

    public async ValueTask<IReadOnlyDictionary<string, StreamPosition>?> AddCheckpointEntriesAsync(
        string materializer, IReadOnlyList<KeyValuePair<string, StreamPosition>> entries, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(materializer);
        ArgumentNullException.ThrowIfNull(entries);
        return await RunAsync<IReadOnlyDictionary<string, StreamPosition>?>($"agree on checkpoint entries of '{materializer}'", async w => await w.AddCheckpointEntriesAsync(materializer, entries), cancellationToken);
    }

    public async ValueTask<MarkOutcome> MarkErasedManyAsync(TargetSpec target, IReadOnlyList<Row> keys, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(keys);
        ValidateTarget(target);
        return await RunAsync($"mark {keys.Count} keys erased in table \"{target.Table}\"", async w => await w.MarkErasedManyAsync(await InLiveGenerationAsync(w, target), keys), cancellationToken);
    }

    public async ValueTask<IReadOnlyList<long>> CountManyAsync(TargetSpec target, SubjectMatches matches, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(matches);
        ValidateTarget(target);
        return await RunAsync<IReadOnlyList<long>>($"count {matches.Values.Count} values in table \"{target.Table}\" by column \"{matches.Column}\"", async w => await w.CountManyAsync(await InLiveGenerationAsync(w, target), matches), cancellationToken);
    }

    public IAsyncEnumerable<string>? ScanColumn(TargetSpec target, string column, CancellationToken cancellationToken)
    {
        ValidateTarget(target);
        return ScanColumnAsync(target, column, cancellationToken);
    }

    /// <summary>A sweep holds the connection it started on: a failure mid-sweep ends it, and the caller runs it again.</summary>
    private async IAsyncEnumerable<string> ScanColumnAsync(TargetSpec target, string column, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var (writer, live) = await RunAsync($"read table \"{target.Table}\"", async w => (w, await InLiveGenerationAsync(w, target)), cancellationToken);
        await foreach (var value in writer.ScanColumnAsync(live, column).WithCancellation(cancellationToken))
        {
            yield return value;
        }
    }

    public async ValueTask<long> CountAsync(TargetSpec target, SubjectMatch match, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(match);
        ValidateTarget(target);
        return await RunAsync($"count in table \"{target.Table}\" by column \"{match.Column}\"", async w => await w.CountAsync(await InLiveGenerationAsync(w, target), match), cancellationToken);
    }

    public async ValueTask<ShadowTarget> BeginShadowAsync(string materializer, TargetSpec live, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(materializer);
        ValidateTarget(live);
        if (_options.BulkShadow && ClusterDetected)
        {
            // The bulk load's reads of many keys at once and its plain index writes assume one server.
            throw new SinkFatalException($"redis sink '{Name}': bulkShadow is not supported on a Redis Cluster; set bulkShadow: false (the shadow backfill then writes each change with the per-row script, as on the live keys)");
        }

        var checkpointName = ShadowTarget.CheckpointNameOf(materializer);
        var (prefix, checkpoint) = await RunAsync(
            $"prepare a new key generation of table \"{live.Table}\"", w => w.BeginShadowAsync(live, materializer, checkpointName), cancellationToken);
        var options = live.Options as RedisTargetOptions ?? new RedisTargetOptions();
        lock (_shadowLoads)
        {
            _shadowLoads.Remove(prefix);
            if (_options.BulkShadow)
            {
                _shadowLoads[prefix] = new RedisShadowLoad(_options.BulkShadowMaxKeys);
            }
        }

        return new ShadowTarget(materializer, live, live with { Options = options.InGeneration(prefix) }, checkpointName, checkpoint);
    }

    public async ValueTask<ShadowSwap> SwapShadowAsync(ShadowTarget shadow, bool keepOld, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(shadow);
        var swap = await RunAsync(
            $"switch table \"{shadow.Live.Table}\" to its new key generation",
            async w =>
            {
                await FlushShadowLoadAsync(w, shadow.Shadow);
                return await w.SwapShadowAsync(shadow, keepOld);
            },
            cancellationToken);
        lock (_shadowLoads)
        {
            _shadowLoads.Remove(GenerationPrefixOf(shadow.Shadow));
        }

        return swap;
    }

    /// <summary>The target in the table's live key generation, read from the pointer key on every call
    /// so that a run follows a swap made by a shadow backfill; a shadow's own target is left as it is.</summary>
    private async Task<TargetSpec> InLiveGenerationAsync(RedisWriter writer, TargetSpec target)
    {
        var options = target.Options as RedisTargetOptions ?? new RedisTargetOptions();
        if (options.GenerationPrefix.Length > 0)
        {
            await FlushShadowLoadAsync(writer, target);
            return target;
        }

        var prefix = await writer.GenerationPrefixAsync(target.Table);
        if (prefix.Length == 0)
        {
            return target;
        }

        lock (_generations)
        {
            if (!_generations.TryGetValue((target, prefix), out var inGeneration))
            {
                // Cached, so that the writer keeps one compiled target (and its registered metadata) per generation.
                inGeneration = target with { Options = options.InGeneration(prefix) };
                _generations[(target, prefix)] = inGeneration;
            }

            return inGeneration;
        }
    }

    /// <summary>The bulk load of a shadow generation that <paramref name="target"/> names, or null.</summary>
    private RedisShadowLoad? ShadowLoadOf(TargetSpec target)
    {
        var prefix = GenerationPrefixOf(target);
        lock (_shadowLoads)
        {
            return prefix.Length > 0 && _shadowLoads.TryGetValue(prefix, out var load) ? load : null;
        }
    }

    private static string GenerationPrefixOf(TargetSpec target) => (target.Options as RedisTargetOptions)?.GenerationPrefix ?? string.Empty;

    /// <summary>Writes out what a bulk-loaded shadow generation holds before anything else reads or
    /// changes it (a count, an erase, a sweep, the swap).</summary>
    private async Task FlushShadowLoadAsync(RedisWriter writer, TargetSpec target)
    {
        if (ShadowLoadOf(target) is { } load)
        {
            await writer.FlushShadowLoadAsync(load, target);
        }
    }

    /// <summary>Throws when a target cannot be used: an empty table name, or target options of another
    /// sink type or with problems (each named, as config validation names them).</summary>
    public static void ValidateTarget(TargetSpec target)
    {
        ArgumentNullException.ThrowIfNull(target);
        if (string.IsNullOrEmpty(target.Table))
        {
            throw new ArgumentException("table (empty) must name the target", nameof(target));
        }

        if (target.Options is not null and not RedisTargetOptions)
        {
            throw new ArgumentException($"target options of type {target.Options.GetType().Name} are not Redis target options", nameof(target));
        }

        if (target.Options is RedisTargetOptions options && options.Validate("target") is { Count: > 0 } problems)
        {
            throw new ArgumentException(string.Join("; ", problems), nameof(target));
        }
    }

    /// <summary>Runs one unit of work with the retry policy: transient errors back off and retry (the
    /// work is idempotent), fatal ones discard the connection.</summary>
    private Task<T> RunAsync<T>(string what, Func<RedisWriter, Task<T>> work, CancellationToken cancellationToken, Action<string>? retrying = null) =>
        _session.RunAsync(what, (connection, _) => work(connection.Writer), cancellationToken, retrying);

    private SinkFailures Failures() => new(e => e is RedisException or TimeoutException ? RedisErrorClassifier.Classify(e) : null)
    {
        Fatal = (what, e) => $"redis sink '{Name}': could not {what}; the connection was discarded: {e.Message}",
        Unavailable = (what, attempts, e) => $"redis sink '{Name}': could not {what}: the server stayed unavailable after {attempts} attempts: {e.Message}",
        Retrying = (what, attempt, e) => $"redis sink '{Name}': could not {what} (attempt {attempt}), retrying: {e.Message}",
    };

    private async Task<RedisConnection> ConnectAsync()
    {
        var connection = await ConnectionMultiplexer.ConnectAsync(Configuration(_options));
        connection.ConnectionRestored += (_, restored) =>
        {
            if (restored.ConnectionType == ConnectionType.Interactive)
            {
                Reconnected?.Invoke();
            }
        };
        try
        {
            var server = connection.GetServers().FirstOrDefault(s => s.IsConnected && !s.IsReplica)
                ?? throw new RedisConnectionException(ConnectionFailureType.UnableToConnect, CommandFlags.None, $"no primary among {Describe(_options)} is reachable", null, CommandStatus.Unknown);
            var cluster = server.ServerType == ServerType.Cluster;
            if (_options.Cluster is { } configured && configured != cluster)
            {
                throw new SinkFatalException(cluster
                    ? $"redis sink '{Name}': {server.EndPoint} is a Redis Cluster node, but cluster is false; set cluster: true (or leave it unset) to write to the cluster"
                    : $"redis sink '{Name}': {server.EndPoint} is not a Redis Cluster node, but cluster is true; point endpoints at the cluster's nodes, or set cluster: false");
            }

            await CheckIdentityAsync(server);
            ClusterDetected = cluster;
            var keys = cluster ? new RedisKeys(_options.KeyPrefix, cluster: true) : Keys;
            return new RedisConnection(connection, new RedisWriter(connection.GetDatabase(_options.Database), server, keys, _options.ChangesPerScript, _options.CommandTimeout / 2));
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
    }

    /// <summary>Where the sink looks for its primary, for messages.</summary>
    internal static string Describe(RedisSinkOptions options) => options.Sentinel is { } sentinel
        ? $"the primary of service '{sentinel.ServiceName}' named by the sentinels {string.Join(", ", sentinel.Endpoints)}"
        : string.Join(", ", options.Endpoints);

    /// <summary>A failed <c>AUTH user password</c> leaves a connection logged in as the <c>default</c>
    /// user, and where that user needs no password the client carries on as it. So with a user
    /// configured, <c>ACL WHOAMI</c> must name that user; otherwise the credentials were refused.</summary>
    private async Task CheckIdentityAsync(IServer server)
    {
        if (_options.User is not { } user)
        {
            return;
        }

        string? whoami;
        try
        {
            whoami = (string?)await server.ExecuteAsync("ACL", "WHOAMI");
        }
        catch (RedisServerException e) when (e.Message.StartsWith("NOPERM", StringComparison.Ordinal))
        {
            return; // the user may not run ACL WHOAMI; being refused shows it is not the all-powerful default user
        }

        if (!string.Equals(whoami, user, StringComparison.Ordinal))
        {
            throw new SinkFatalException($"redis sink '{Name}': authentication as user '{user}' failed on {server.EndPoint} (the server kept the connection as '{whoami}'); check user and password");
        }
    }

    /// <summary>The client configuration. Commands fail fast while disconnected, so that our backoff (not
    /// the client's queue) decides how long a batch waits; the client reconnects in the background.</summary>
    public static ConfigurationOptions Configuration(RedisSinkOptions options)
    {
        var config = new ConfigurationOptions
        {
            AbortOnConnectFail = false,
            ConnectTimeout = (int)options.ConnectTimeout.TotalMilliseconds,
            SyncTimeout = (int)options.CommandTimeout.TotalMilliseconds,
            AsyncTimeout = (int)options.CommandTimeout.TotalMilliseconds,
            ConnectRetry = 1,
            BacklogPolicy = BacklogPolicy.FailFast,
            ReconnectRetryPolicy = new ExponentialRetry(100, (int)Math.Max(200, options.Retry.MaxDelay.TotalMilliseconds)),
            DefaultDatabase = options.Database,
            User = options.User,
            Password = options.Password,
            Protocol = options.Protocol == RedisProtocolVersion.Resp3 ? RedisProtocol.Resp3 : RedisProtocol.Resp2,
            ClientName = "sync",
            TieBreaker = string.Empty,
            ConfigurationChannel = string.Empty,
            IncludeDetailInExceptions = false,
            Ssl = options.Tls.Enabled,
        };
        foreach (var endpoint in options.Endpoints)
        {
            RedisSinkOptions.TryParseEndpoint(endpoint, out var host, out var port);
            config.EndPoints.Add(host, port);
        }

        if (options.Sentinel is { } sentinel)
        {
            // A service name puts the client in sentinel mode: the endpoints are the sentinels, and the
            // connection returned is a managed one to the primary they name, moved on a failover.
            config.ServiceName = sentinel.ServiceName;
            foreach (var endpoint in sentinel.Endpoints)
            {
                RedisSinkOptions.TryParseEndpoint(endpoint, out var host, out var port, RedisSentinelOptions.DefaultPort);
                config.EndPoints.Add(host, port);
            }
        }

        if (options.Tls.Enabled)
        {
            config.SslHost = options.Tls.ServerName;
            if (!options.Tls.VerifyCertificate)
            {
                config.CertificateValidation += (_, _, _, _) => true;
            }
            else if (options.Tls.CaFile is { } caFile)
            {
                var ca = X509CertificateLoader.LoadCertificateFromFile(caFile);
                config.CertificateValidation += (_, certificate, _, errors) => Validate(ca, certificate, errors);
            }
        }

        return config;
    }

    /// <summary>A server certificate is valid when its name matched and its chain ends at the configured CA.</summary>
    private static bool Validate(X509Certificate2 ca, X509Certificate? certificate, SslPolicyErrors errors)
    {
        if (certificate is null || errors.HasFlag(SslPolicyErrors.RemoteCertificateNameMismatch) || errors.HasFlag(SslPolicyErrors.RemoteCertificateNotAvailable))
        {
            return false;
        }

        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(ca);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        using var server = new X509Certificate2(certificate);
        return chain.Build(server);
    }

    public ValueTask DisposeAsync() => _session.DisposeAsync();

    /// <summary>The multiplexer and the writer that uses it; closing it closes the multiplexer.</summary>
    private sealed record RedisConnection(ConnectionMultiplexer Multiplexer, RedisWriter Writer);
}
