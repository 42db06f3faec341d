using Elastic.Clients.Elasticsearch;
using Elastic.Clients.Elasticsearch.QueryDsl;
using Elastic.Transport;
using EsFieldValue = Elastic.Clients.Elasticsearch.FieldValue;
using FieldValue = Sync.Engine.Changes.FieldValue;

namespace Sync.Sinks.Elasticsearch;

/// <summary>
/// Materializes changes into Elasticsearch indices with the official client (Elastic.Clients.Elasticsearch).
/// <list type="bullet">
/// <item>One <c>_bulk</c> per batch; a document per key, <c>_id</c> from the key (verbatim), <c>_source</c> from the after-image.</item>
/// <item>Never regresses: every index and delete carries an external version (<see cref="ExternalVersions"/>);
/// Elasticsearch refuses an older one with 409, counted as stale. A delete leaves a tombstone at its version
/// for <c>index.gc_deletes</c> (<see cref="ElasticsearchTargetOptions.DeleteRetention"/> on created indices).</item>
/// <item>Per-item failures: mapping/parse errors reject the change (dead letter) and the rest applies;
/// 429/5xx items alone are resent with capped backoff.</item>
/// <item>The checkpoint is a document per materializer in <see cref="ElasticsearchSinkOptions.CheckpointIndex"/>,
/// written after the bulk succeeded. A crash in between replays the batch, which the versions make harmless.</item>
/// <item>Durable on return: Elasticsearch acknowledges a write once it is in the translog (fsynced per
/// request by default); the refresh policy only decides when search sees it.</item>
/// </list>
/// Calls are serialized.
/// </summary>
public sealed partial class ElasticsearchSink : ISink, IShadowableSink, IMonotonicCheckpointSink, IReconnectingSink
{
    private readonly ElasticsearchClientSettings _settings;
    private readonly ElasticsearchWriter _writer;
    private readonly SinkSession<ElasticsearchWriter> _session;
    private readonly RetryPolicy _probeBackoff;
    private readonly TimeProvider _time;
    private readonly TimeSpan _idleProbeInterval;

    /// <summary>When the last request of this sink (a probe's included) completed, on <see cref="_time"/> (UTC ticks).</summary>
    private long _lastRequestTicks;

    /// <summary>The <c>cluster_uuid</c> the cluster last gave (null before it gave one).</summary>
    private string? _clusterUuid;

    /// <summary>1 from a request the cluster did not answer until one it answers.</summary>
    private int _unanswered;

    /// <summary>1 while <see cref="ProbeAsync"/> runs.</summary>
    private int _probing;
    private bool _disposed;

    private ElasticsearchSink(string name, ElasticsearchSinkOptions options, ElasticsearchClientSettings settings, TimeProvider time)
    {
        Name = name;
        _settings = settings;
        _probeBackoff = options.Retry;
        _time = time;
        _idleProbeInterval = options.IdleProbeInterval;
        _lastRequestTicks = time.GetUtcNow().UtcTicks;
        Client = new ElasticsearchClient(settings.OnRequestCompleted(OnRequestCompleted));
        _writer = new ElasticsearchWriter(Client, options, name, time);

        // One client for the sink's life: nothing to open or close per call, and the writer retries
        // what failed of a request itself (only the failed items of a bulk).
        _session = new SinkSession<ElasticsearchWriter>(
            this, _ => Task.FromResult(_writer), _ => ValueTask.CompletedTask, new SinkFailures(_ => null), options.Retry, time);
    }

    public string Name { get; }

    /// <inheritdoc/>
    public bool NeverLowersCheckpoints => true;

    /// <summary>Raised when the cluster answers again after a request of this sink got no answer (the
    /// connection refused, reset or timed out) or a 502, 503 or 504 (a node or proxy with no cluster
    /// behind it, shards not yet active): the node may have come back restored from a snapshot, so the
    /// materializers read their checkpoint back at once. While it does not answer, the sink asks it
    /// (<c>GET /</c>) with its retry backoff, capped at <see cref="RetryPolicy.MaxDelay"/>, so that an
    /// idle sink notices too. A 429 or any other answer is the cluster answering.
    /// <para>Raised too when <c>GET /</c> answers with another <c>cluster_uuid</c> than before: "the
    /// responding cluster's uuid as confirmed by cluster state"
    /// (https://www.elastic.co/guide/en/elasticsearch/reference/current/rest-api-root.html), which a
    /// new cluster (one a snapshot was restored into, behind the same address) has of its own. An idle
    /// sink asks it every <see cref="ElasticsearchSinkOptions.IdleProbeInterval"/>, so that a node
    /// swapped between two of its requests is found too.</para></summary>
    public event Action? Reconnected;

    /// <summary>The client the sink talks through.</summary>
    public ElasticsearchClient Client { get; }

    /// <summary>Validates the options, builds the client and creates the checkpoint index when absent.
    /// Throws <see cref="ArgumentException"/> listing every problem of <paramref name="options"/>,
    /// <see cref="SinkUnavailableException"/> when the cluster does not answer.</summary>
    public static Task<ElasticsearchSink> OpenAsync(string name, ElasticsearchSinkOptions options, CancellationToken cancellationToken) =>
        OpenAsync(name, options, TimeProvider.System, cancellationToken);

    /// <inheritdoc cref="OpenAsync(string, ElasticsearchSinkOptions, CancellationToken)"/>
    /// <param name="time">The clock of the retry backoff and checkpoint stamps.</param>
    public static Task<ElasticsearchSink> OpenAsync(string name, ElasticsearchSinkOptions options, TimeProvider time, CancellationToken cancellationToken) =>
        SinkOpening.OpenAsync(name, options, time, () => new ElasticsearchSink(name, options, Settings(options), time),
            async sink =>
            {
                sink.ClusterSeen(await sink._writer.CheckServerVersionAsync(cancellationToken));
                await sink._writer.EnsureCheckpointIndexAsync(cancellationToken);
                sink.StartIdleProbe();
            });

    /// <summary>Client settings from the options: node pool, authentication, TLS trust, timeout. The
    /// transport's own retries stay off for a single node: retries are the sink's (only failed items).</summary>
    internal static ElasticsearchClientSettings Settings(ElasticsearchSinkOptions options)
    {
        var uris = options.Urls.Select(u => new Uri(u)).ToList();
        NodePool pool = uris.Count == 1 ? new SingleNodePool(uris[0]) : new StaticNodePool(uris, randomize: false);
        var settings = new ElasticsearchClientSettings(pool)
            .RequestTimeout(options.RequestTimeout)
            .ThrowExceptions(false)
            .DisablePing();
        if (!string.IsNullOrEmpty(options.ApiKey))
        {
            settings = settings.Authentication(new ApiKey(options.ApiKey));
        }
        else if (!string.IsNullOrEmpty(options.Username))
        {
            settings = settings.Authentication(new BasicAuthentication(options.Username, options.Password ?? string.Empty));
        }

        if (options.CaFingerprint is { } fingerprint)
        {
            settings = settings.CertificateFingerprint(fingerprint);
        }
        else if (!options.CertificateValidation)
        {
            settings = settings.ServerCertificateValidationCallback((_, _, _, _) => true);
        }

        return settings;
    }

    public async ValueTask<ShadowTarget> BeginShadowAsync(string materializer, TargetSpec live, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(materializer);
        ArgumentNullException.ThrowIfNull(live);
        var checkpointName = ShadowTarget.CheckpointNameOf(materializer);
        var options = live.Options as ElasticsearchTargetOptions ?? new ElasticsearchTargetOptions();
        var (shadow, checkpoint) = await GatedAsync(ct => _writer.BeginShadowAsync(live, materializer, checkpointName, ct), cancellationToken);
        return new ShadowTarget(materializer, live, live with { Options = options.WithIndex(shadow) }, checkpointName, checkpoint);
    }

    public async ValueTask<ShadowSwap> SwapShadowAsync(ShadowTarget shadow, bool keepOld, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(shadow);
        return await GatedAsync(ct => _writer.SwapShadowAsync(shadow, keepOld, ct), cancellationToken);
    }

    private Task<T> GatedAsync<T>(Func<CancellationToken, Task<T>> work, CancellationToken cancellationToken) =>
        _session.LockedAsync((_, ct) => work(ct), cancellationToken);

    public async ValueTask<IReadOnlyDictionary<string, StreamPosition>> LoadCheckpointAsync(string materializer, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(materializer);
        return await GatedAsync(
            async _ =>
            {
                return await _writer.LoadCheckpointAsync(materializer, cancellationToken);
            },
            cancellationToken);
    }

    public async ValueTask<ApplyResult> ApplyAsync(SinkBatch batch, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(batch);
        ValidateTarget(batch.Target);
        return await GatedAsync(
            async _ =>
            {
                return await _writer.ApplyAsync(batch, cancellationToken);
            },
            cancellationToken);
    }

    /// <summary>Finds every document of the target's indices whose field equals the value (a <c>term</c>
    /// query after a refresh) and deletes each by id with the external version
    /// <see cref="ExternalVersions.Erased"/> — the erasure marker (ChangeVersion.Erased) that makes every
    /// later write of that id stale, replays and changes still in flight alike — repeating until the
    /// search finds none (a document written meanwhile is found by the next round). Not
    /// <c>_delete_by_query</c>: it deletes with internal versioning, whose tombstone (version + 1) would
    /// not stop a newer change. The markers last <c>index.gc_deletes</c>
    /// (<see cref="ElasticsearchTargetOptions.DeleteRetention"/>).</summary>
    public ValueTask<long> EraseAsync(TargetSpec target, SubjectMatch match, CancellationToken cancellationToken) =>
        OnIndicesThatCanMatchAsync(
            target,
            match,
            async pattern =>
            {
                var query = Term(match);
                long removed = 0;
                for (var round = 0; round < 1000; round++)
                {
                    await _writer.RefreshAsync(pattern, cancellationToken);
                    var response = await _writer.RetryAsync(
                        () => Client.SearchAsync<object>(new SearchRequest(pattern)
                        {
                            Query = query,
                            Size = 1000,
                            Version = true,
                            Source = new Elastic.Clients.Elasticsearch.Core.Search.SourceConfig(false),
                            IgnoreUnavailable = true,
                            AllowNoIndices = true,
                        }, cancellationToken),
                        $"searching \"{pattern}\" for the subject",
                        cancellationToken);
                    var hits = response.Hits?.Where(h => h.Index is not null && h.Id is not null && h.Version is not null)
                        .Select(h => (h.Index!, h.Id!, ExternalVersions.Erased)).ToList() ?? [];
                    if (hits.Count == 0)
                    {
                        break;
                    }

                    removed += await _writer.DeleteVersionedAsync(hits, cancellationToken);
                }

                return removed;
            },
            cancellationToken);

    /// <summary>How many documents of the target's indices hold the value (after a refresh, so that the
    /// count sees every write so far).</summary>
    public ValueTask<long> CountAsync(TargetSpec target, SubjectMatch match, CancellationToken cancellationToken) =>
        OnIndicesThatCanMatchAsync(
            target,
            match,
            async pattern =>
            {
                await _writer.RefreshAsync(pattern, cancellationToken);
                var response = await _writer.RetryAsync(
                    () => Client.CountAsync(new CountRequest(pattern) { Query = Term(match), IgnoreUnavailable = true, AllowNoIndices = true }, cancellationToken),
                    $"counting in \"{pattern}\"",
                    cancellationToken);
                return response.ApiCallDetails.HttpStatusCode == 404 ? 0 : response.Count;
            },
            cancellationToken);

    /// <summary>Runs <paramref name="work"/> under the gate on the index pattern of the target, unless
    /// the value cannot match the column's mapped type there: then no document holds it (0).</summary>
    private async ValueTask<long> OnIndicesThatCanMatchAsync(TargetSpec target, SubjectMatch match, Func<string, Task<long>> work, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(match);
        ValidateTarget(target);
        return await GatedAsync(
            async _ =>
            {
                var pattern = Pattern(target);
                if (CannotMatch(match.Value, (await _writer.FieldTypesAsync(pattern, match.Column, cancellationToken)).Values) is not null)
                {
                    // Elasticsearch could not build the query (400); no document can hold the value.
                    return 0;
                }

                return await work(pattern);
            },
            cancellationToken);
    }

    /// <summary>Throws when the target cannot name an index: empty, or a template with problems.</summary>
    public static void ValidateTarget(TargetSpec target)
    {
        ArgumentNullException.ThrowIfNull(target);
        var options = target.Options as ElasticsearchTargetOptions;
        if (target.Options is not null && options is null)
        {
            throw new ArgumentException($"target options of an elasticsearch sink must be {nameof(ElasticsearchTargetOptions)}, not {target.Options.GetType().Name}", nameof(target));
        }

        var template = (options ?? new ElasticsearchTargetOptions()).IndexTemplate(target.Table);
        var sample = ElasticsearchTargetOptions.IsTemplate(template) ? ElasticsearchTargetOptions.Pattern(template).Replace('*', 'x') : template;
        if (IndexNames.Problem(sample) is { } problem)
        {
            throw new ArgumentException($"index ({template}) {problem}", nameof(target));
        }
    }

    /// <summary>Every index the target's template can name: the index (or alias) itself, or the template with placeholders as <c>*</c>.</summary>
    private static string Pattern(TargetSpec target)
    {
        var template = (target.Options as ElasticsearchTargetOptions ?? new ElasticsearchTargetOptions()).IndexTemplate(target.Table);
        return ElasticsearchTargetOptions.Pattern(template);
    }

    /// <summary>A term query for the value as the documents hold it: integers, floats and booleans as JSON
    /// values, everything else as its canonical text (decimals included, as the sink writes them).</summary>
    private static TermQuery Term(SubjectMatch match) => new(match.Column, match.Value.Kind switch
    {
        ValueKind.Int64 => EsFieldValue.Long(match.Value.AsInt64),
        ValueKind.Double => EsFieldValue.Double(match.Value.AsDouble),
        ValueKind.Boolean => EsFieldValue.Boolean(match.Value.AsBoolean),
        ValueKind.Null => EsFieldValue.Null,
        _ => EsFieldValue.String(match.Value.ToText()!),
    });

    public async ValueTask DisposeAsync()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        // The session stops the probes first.
        await _session.DisposeAsync();
        ((IDisposable)_settings).Dispose();
    }

    /// <summary>Every request's outcome, from the transport (<c>OnRequestCompleted</c>).</summary>
    private void OnRequestCompleted(ApiCallDetails call)
    {
        Interlocked.Exchange(ref _lastRequestTicks, _time.GetUtcNow().UtcTicks);
        if (call.HttpStatusCode is null or 502 or 503 or 504)
        {
            Volatile.Write(ref _unanswered, 1);
            StartProbe();
        }
        else if (Interlocked.Exchange(ref _unanswered, 0) == 1)
        {
            Reconnected?.Invoke();
        }
    }

    private void StartProbe()
    {
        if (!_session.IsStopping && Interlocked.CompareExchange(ref _probing, 1, 0) == 0)
        {
            _session.AddProbe(Task.Run(ProbeAsync, CancellationToken.None));
        }
    }

    /// <summary>Asks the cluster until it answers; the answer itself goes through
    /// <see cref="OnRequestCompleted"/>, which raises <see cref="Reconnected"/>.</summary>
    private async Task ProbeAsync()
    {
        var stop = _session.Stopping;
        try
        {
            for (var attempt = 1; Volatile.Read(ref _unanswered) == 1; attempt++)
            {
                await Task.Delay(_probeBackoff.DelayAfter(attempt), _time, stop);
                // No answer either: asked again after the next delay.
                await IdleProbe.AskAsync(async ct => ClusterSeen(await AskClusterAsync(ct)), stop);
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            // Disposed.
        }
        finally
        {
            Volatile.Write(ref _probing, 0);
        }

        if (Volatile.Read(ref _unanswered) == 1)
        {
            // A request failed after the loop looked: it asked for a probe while this one was ending.
            StartProbe();
        }
    }

    /// <summary>Notes the cluster's <c>cluster_uuid</c> and raises <see cref="Reconnected"/> when it
    /// differs from the one given before. <c>_na_</c> (a cluster still forming, whose state has no uuid
    /// yet) says nothing.</summary>
    private void ClusterSeen(string? uuid)
    {
        if (string.IsNullOrEmpty(uuid) || uuid == "_na_")
        {
            return;
        }

        var previous = Interlocked.Exchange(ref _clusterUuid, uuid);
        if (previous is not null && previous != uuid)
        {
            Reconnected?.Invoke();
        }
    }

    /// <summary><c>GET /</c>: the cluster's uuid when it answered 200.</summary>
    private async Task<string?> AskClusterAsync(CancellationToken cancellationToken)
    {
        var info = await Client.InfoAsync(cancellationToken);
        return info.ApiCallDetails.HttpStatusCode == 200 ? info.ClusterUuid : null;
    }

    /// <summary>Nothing goes to the cluster between an idle sink's calls: every
    /// <see cref="ElasticsearchSinkOptions.IdleProbeInterval"/> without a request it asks <c>GET /</c>.
    /// No answer starts <see cref="ProbeAsync"/> (through <see cref="OnRequestCompleted"/>); an answer
    /// with another <c>cluster_uuid</c> raises <see cref="Reconnected"/>.</summary>
    private void StartIdleProbe() => _session.AddProbe(IdleProbe.Start(
        _time,
        _idleProbeInterval,
        () => new DateTimeOffset(Interlocked.Read(ref _lastRequestTicks), TimeSpan.Zero),
        async stop => ClusterSeen(await AskClusterAsync(stop)),
        _session.Stopping));
}
