using System.Runtime.CompilerServices;
using Npgsql;

namespace Sync.Sinks.Postgres;

/// <summary>
/// Materializes changes into PostgreSQL tables.
/// <list type="bullet">
/// <item>Durable on return: one transaction per batch — binary COPY into a staging table, one
/// set-based upsert and one set-based delete per column set, delete markers, and the checkpoint row.</item>
/// <item>Never regresses: each row keeps its version (source LSN, stream, position) in bookkeeping
/// columns (<see cref="PostgresTargetOptions.VersionColumn"/>); deleted keys keep theirs in
/// <c>&lt;stateSchema&gt;.delete_markers</c> for <see cref="PostgresSinkOptions.DeleteMarkerRetention"/>.</item>
/// <item>Poison rows are returned as <see cref="RejectedChange"/>s and the rest of the batch is applied;
/// transient errors (connection loss, 40001, 40P01, 57P01, cannot connect) roll back, discard the
/// connection, back off and retry; other failures discard the connection and throw <see cref="SinkFatalException"/>.</item>
/// </list>
/// One connection (no pool: a connection in an unknown state is closed, never reused), calls serialized.
/// </summary>
public sealed partial class PostgresSink : ISink, IShadowableSink, IDeadLetterStore, IMonotonicCheckpointSink, IReconnectingSink
{
    /// <summary>Rows per page of a sweep (<see cref="ScanColumn"/>): one round trip each, a few hundred kilobytes.</summary>
    private const int ScanPage = 5_000;

    private readonly PostgresSinkOptions _options;
    private readonly string _connectionString;
    private readonly SinkSession<PostgresWriter> _session;
    private readonly TimeProvider _time;

    /// <summary>The server start time the previous connection saw (ticks; 0 before the first).</summary>
    private long _serverStartedAt;

    /// <summary>The shadows this sink began and is bulk-loading, by shadow table id (<see cref="ShadowLoad"/>).</summary>
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, ShadowLoad> _shadowLoads = new(StringComparer.Ordinal);

    private PostgresSink(string name, PostgresSinkOptions options, TimeProvider time)
    {
        Name = name;
        _options = options;
        _connectionString = options.BuildConnectionString("sync:" + name);
        _time = time;
        _session = new SinkSession<PostgresWriter>(
            this, ConnectAsync, CloseAsync, Failures(), options.Retry, time);
    }

    /// <summary>Raised when the sink finds that the server started anew since it last looked
    /// (<see cref="PostgresWriter.ServerStartedAt"/>): at every connection it opens, and while idle at
    /// every <see cref="PostgresSinkOptions.IdleProbeInterval"/>. The server restarted, was restored
    /// from an older copy or failed over, and may have lost the latest writes. A reconnect to the same
    /// running server (a killed connection, a network blip) raises nothing.</summary>
    public event Action? Reconnected;

    private async Task<PostgresWriter> ConnectAsync(CancellationToken cancellationToken)
    {
        var writer = await PostgresWriter.OpenAsync(_connectionString, _options.StateSchema, cancellationToken);
        ServerSeen(writer.ServerStartedAt);
        return writer;
    }

    private void ServerSeen(DateTime startedAt)
    {
        var started = startedAt.Ticks;
        var previous = Interlocked.Exchange(ref _serverStartedAt, started);
        if (previous != 0 && previous != started)
        {
            Reconnected?.Invoke();
        }
    }

    /// <summary>The sink keeps one connection and nothing reads from it between calls, so a server
    /// restarted under an idle sink would be noticed only at its next call. While no call used the
    /// connection for <see cref="PostgresSinkOptions.IdleProbeInterval"/>, this asks the server when
    /// it started (<see cref="PostgresWriter.ReadServerStartAsync"/>): on a connection the restart broke
    /// the query fails and a new connection is opened at once, which reads the new start time; through
    /// a pooler that reconnected on its own, the query itself reads it. Either raises
    /// <see cref="Reconnected"/>. Npgsql's own <c>Keepalive</c> is not used: it pings on a timer of its
    /// own and only raises <c>NpgsqlConnection.StateChange</c> when a ping fails
    /// (https://www.npgsql.org/doc/keepalive.html), which still leaves the reconnect and the comparison
    /// to be done, and a clock a test cannot move.</summary>
    private void StartIdleProbe() => _session.AddProbe(IdleProbe.Start(
        _time,
        _options.IdleProbeInterval,
        () => _session.LastUsed,
        stop => _session.ProbeAsync(async (writer, ct) => ServerSeen(await writer.ReadServerStartAsync(ct)), stop),
        _session.Stopping));

    public string Name { get; }

    /// <inheritdoc/>
    public bool NeverLowersCheckpoints => true;

    /// <summary>How many expired delete markers were pruned when the sink opened.</summary>
    public int PrunedMarkers { get; private set; }

    /// <summary>The most keys a shadow's bulk load held in memory at once, over the shadows swapped in so far (<see cref="PostgresSinkOptions.BulkShadowMaxKeys"/>).</summary>
    public int PeakHeldShadowKeys { get; private set; }

    /// <summary>How many of the shadows swapped in so far had their held changes written straight into the shadow, past the staging log.</summary>
    public int DirectShadowBuilds { get; private set; }

    /// <summary>How many times a connection was discarded after a failure (telemetry and tests).</summary>
    public int DiscardedConnections => _session.DiscardedConnections;

    /// <summary>The server process id of the current connection, or null when none is open.</summary>
    public int? ProcessId => _session.Connection?.ProcessId;

    /// <summary>Connects, creates the state schema and tables when absent, and prunes expired delete
    /// markers. Throws <see cref="ArgumentException"/> listing every problem of <paramref name="options"/>,
    /// <see cref="SinkUnavailableException"/> when the server stays unreachable for the retry budget.</summary>
    public static Task<PostgresSink> OpenAsync(string name, PostgresSinkOptions options, CancellationToken cancellationToken) =>
        OpenAsync(name, options, TimeProvider.System, cancellationToken);

    /// <inheritdoc cref="OpenAsync(string, PostgresSinkOptions, CancellationToken)"/>
    public static Task<PostgresSink> OpenAsync(string name, PostgresSinkOptions options, TimeProvider time, CancellationToken cancellationToken) =>
        SinkOpening.OpenAsync(name, options, time, () => new PostgresSink(name, options, time),
            async sink =>
            {
                sink.PrunedMarkers = await sink.WithGateAsync(
                    "open",
                    (writer, ct) => writer.PruneMarkersAsync(time.GetUtcNow() - options.DeleteMarkerRetention, ct),
                    cancellationToken);
                sink.StartIdleProbe();
            });

    public async ValueTask<IReadOnlyDictionary<string, StreamPosition>> LoadCheckpointAsync(string materializer, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(materializer);
        return await WithGateAsync(
            $"read the checkpoint of '{materializer}'",
            (writer, ct) => writer.LoadCheckpointAsync(materializer, ct),
            cancellationToken);
    }

    public async ValueTask<MissingTarget?> FindMissingTargetAsync(string materializer, TargetSpec target, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(materializer);
        var resolved = Resolve(target);
        return await WithGateAsync(
            $"check the target {resolved.Qualified} of '{materializer}'",
            (writer, ct) => writer.FindMissingTargetAsync(materializer, resolved, ct),
            cancellationToken);
    }

    public async ValueTask<ApplyResult> ApplyAsync(SinkBatch batch, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(batch);
        var target = Resolve(batch.Target);
        return await WithGateAsync(
            $"apply a batch of {batch.Changes.Count} changes to table {target.Qualified}",
            (writer, ct) => _shadowLoads.TryGetValue(target.Id, out var load) && !load.Built
                ? writer.ApplyToShadowAsync(batch, target, load, ct)
                : writer.ApplyAsync(batch, target, ct),
            cancellationToken,
            batch.Retrying);
    }

    public string DeadLetterTable => $"postgres sink {Name}, table {PostgresIdentifiers.Qualified(_options.StateSchema, "dead_letters")}";

    public async ValueTask AppendDeadLettersAsync(IReadOnlyList<DeadLetterRow> letters, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(letters);
        await WithGateAsync(
            $"write {letters.Count} dead letters",
            async (writer, ct) =>
            {
                await writer.DeadLetters.AppendAsync(writer.Connection, letters, ct);
                return 0;
            },
            cancellationToken);
    }

    public async ValueTask<IReadOnlyList<StoredDeadLetter>> ReadDeadLettersAsync(string materializer, long afterId, long throughId, int max, CancellationToken cancellationToken) =>
        await WithGateAsync(
            $"read the dead letters of '{materializer}'",
            (writer, ct) => writer.DeadLetters.ReadAsync(writer.Connection, materializer, afterId, throughId, max, ct),
            cancellationToken);

    public async ValueTask<long> LastDeadLetterIdAsync(string materializer, CancellationToken cancellationToken) =>
        await WithGateAsync(
            $"read the dead letters of '{materializer}'",
            (writer, ct) => writer.DeadLetters.ScalarAsync(writer.Connection, "max(id)", materializer, ct),
            cancellationToken);

    public async ValueTask<long> CountDeadLettersAsync(string materializer, CancellationToken cancellationToken) =>
        await WithGateAsync(
            $"count the dead letters of '{materializer}'",
            (writer, ct) => writer.DeadLetters.ScalarAsync(writer.Connection, "count(*)", materializer, ct),
            cancellationToken);

    public async ValueTask DeleteDeadLettersAsync(string materializer, IReadOnlyList<long> ids, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(ids);
        await WithGateAsync(
            $"remove replayed dead letters of '{materializer}'",
            (writer, ct) => writer.DeadLetters.DeleteAsync(writer.Connection, materializer, ids, ct),
            cancellationToken);
    }

    public async ValueTask<long> EraseAsync(TargetSpec target, SubjectMatch match, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(match);
        return await OnTargetAsync(
            target,
            table => $"erase from table {table.Qualified} by column {PostgresIdentifiers.Quote(match.Column)}",
            async (writer, table, ct) => (await writer.EraseManyAsync(table, new SubjectMatches(match.Column, [match.Value]), ct))[0],
            cancellationToken);
    }

    /// <summary>Deletes the rows of many subject values in one transaction: one statement per kind of
    /// value (typed arrays), erasure markers written in bulk, including for keys that have no row when
    /// the table is keyed by the column alone.</summary>
    public ValueTask<IReadOnlyList<long>> EraseManyAsync(TargetSpec target, SubjectMatches matches, CancellationToken cancellationToken) =>
        OnSubjectValuesAsync(target, matches, "erase", "from", (writer, table, ct) => writer.EraseManyAsync(table, matches, ct), cancellationToken);

    public async ValueTask<long?> ReconcileEpochAsync(string materializer, TargetSpec target, string stream, long epochStart, CancellationToken cancellationToken) =>
        await OnTargetAsync(
            target,
            table => $"reconcile table {table.Qualified} with a new source epoch's snapshot",
            (writer, table, ct) => writer.ReconcileEpochAsync(table, stream, epochStart, ct),
            cancellationToken);

    public async ValueTask<IReadOnlyDictionary<string, StreamPosition>?> AddCheckpointEntriesAsync(
        string materializer, IReadOnlyList<KeyValuePair<string, StreamPosition>> entries, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(materializer);
        ArgumentNullException.ThrowIfNull(entries);
        return await WithGateAsync(
            $"agree on checkpoint entries of '{materializer}'",
            (writer, ct) => writer.AddCheckpointEntriesAsync(materializer, entries, ct),
            cancellationToken);
    }

    /// <summary>Erasure markers for the keys without a row, in one transaction (see <see cref="ISink.MarkErasedManyAsync"/>).</summary>
    public async ValueTask<MarkOutcome> MarkErasedManyAsync(TargetSpec target, IReadOnlyList<Row> keys, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(keys);
        var marked = await OnTargetAsync(
            target,
            table => $"mark {keys.Count} keys erased in table {table.Qualified}",
            (writer, table, ct) => writer.MarkErasedManyAsync(table, keys, ct),
            cancellationToken);
        return new MarkOutcome(marked, Supported: true);
    }

    public ValueTask<IReadOnlyList<long>> CountManyAsync(TargetSpec target, SubjectMatches matches, CancellationToken cancellationToken) =>
        OnSubjectValuesAsync(target, matches, "count", "in", (writer, table, ct) => writer.CountManyAsync(table, matches, ct), cancellationToken);

    public async ValueTask<IReadOnlyList<string?>> CannotMatchAsync(TargetSpec target, SubjectMatches matches, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(matches);
        var resolved = Resolve(target);
        return await WithGateAsync(
            $"read the type of column {PostgresIdentifiers.Quote(matches.Column)} of table {resolved.Qualified}",
            async (writer, ct) => (IReadOnlyList<string?>)await writer.CannotMatchAsync(resolved, matches, ct),
            cancellationToken);
    }

    public IAsyncEnumerable<string>? ScanColumn(TargetSpec target, string column, CancellationToken cancellationToken) =>
        ScanColumnPagesAsync(Resolve(target), column, cancellationToken);

    private async IAsyncEnumerable<string> ScanColumnPagesAsync(PostgresTarget target, string column, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await BuildShadowFirstAsync(target, cancellationToken);
        await foreach (var value in SweepBlocksAsync(
            $"read column {PostgresIdentifiers.Quote(column)} of table {target.Qualified}",
            (writer, first, count, ct) => writer.ScanColumnPageAsync(target, column, first, count, ct),
            cancellationToken))
        {
            yield return value;
        }
    }

    public async ValueTask<long> CountAsync(TargetSpec target, SubjectMatch match, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(match);
        return await OnTargetAsync(
            target,
            table => $"count in table {table.Qualified} by column {PostgresIdentifiers.Quote(match.Column)}",
            (writer, table, ct) => writer.CountAsync(table, match, ct),
            cancellationToken);
    }

    public async ValueTask<ShadowTarget> BeginShadowAsync(string materializer, TargetSpec live, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(materializer);
        var resolvedLive = Resolve(live);
        var shadow = live with { Table = live.Table + PostgresWriter.ShadowSuffix };
        var resolvedShadow = Resolve(shadow);
        _ = Resolve(live with { Table = live.Table + PostgresWriter.OldSuffix });
        var checkpointName = ShadowTarget.CheckpointNameOf(materializer);
        var log = PostgresWriter.ShadowLogName(_options.StateSchema, resolvedShadow.Id);
        _shadowLoads.TryRemove(resolvedShadow.Id, out _);
        var checkpoint = await WithGateAsync(
            $"prepare the shadow table {resolvedShadow.Qualified}",
            (writer, ct) => writer.BeginShadowAsync(resolvedLive, resolvedShadow, log, materializer, checkpointName, ct),
            cancellationToken);
        if (_options.BulkShadow)
        {
            _shadowLoads[resolvedShadow.Id] = new ShadowLoad(resolvedShadow.Id, log, _options.BulkShadowMaxKeys);
        }
        return new ShadowTarget(materializer, live, shadow, checkpointName, checkpoint);
    }

    public async ValueTask<ShadowSwap> SwapShadowAsync(ShadowTarget shadow, bool keepOld, CancellationToken cancellationToken) =>
        (await SwapShadowsTogetherAsync([shadow], [], keepOld, cancellationToken))[0];

    public async ValueTask<ShadowCheckpoint> BeginShadowCheckpointAsync(string materializer, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(materializer);
        var checkpointName = ShadowTarget.CheckpointNameOf(materializer);
        var live = await WithGateAsync(
            $"prepare the shadow checkpoint of '{materializer}'",
            (writer, ct) => writer.BeginShadowCheckpointAsync(materializer, checkpointName, ct),
            cancellationToken);
        return new ShadowCheckpoint(materializer, checkpointName, live);
    }

    public async ValueTask<IReadOnlyList<ShadowSwap>> SwapShadowsTogetherAsync(IReadOnlyList<ShadowTarget> shadows, IReadOnlyList<ShadowCheckpoint> checkpoints, bool keepOld, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(shadows);
        ArgumentNullException.ThrowIfNull(checkpoints);
        var resolved = shadows.Select(s => (s, Resolve(s.Live), Resolve(s.Shadow))).ToList();
        foreach (var (_, _, shadow) in resolved)
        {
            await BuildShadowFirstAsync(shadow, cancellationToken);
        }

        var swaps = await WithGateAsync(
            string.Join(", ", resolved.Select(r => $"swap the shadow table {r.Item3.Qualified} in as {r.Item2.Qualified}")) + (resolved.Count > 1 ? " in one transaction" : string.Empty),
            (writer, ct) => writer.SwapShadowsAsync(resolved, checkpoints, keepOld, ct),
            cancellationToken);
        foreach (var (_, _, shadow) in resolved)
        {
            if (_shadowLoads.TryRemove(shadow.Id, out var load))
            {
                PeakHeldShadowKeys = Math.Max(PeakHeldShadowKeys, load.PeakHeld);
                DirectShadowBuilds += load.State.WrittenDirect ? 1 : 0;
            }
        }

        return swaps;
    }

    /// <summary>An operation that reads or changes one target's table: resolves the target, builds it
    /// first when it is a shadow being bulk-loaded (<see cref="BuildShadowFirstAsync"/>), then runs
    /// <paramref name="work"/> on it under the gate, described by <paramref name="what"/>.</summary>
    private async Task<T> OnTargetAsync<T>(
        TargetSpec target,
        Func<PostgresTarget, string> what,
        Func<PostgresWriter, PostgresTarget, CancellationToken, Task<T>> work,
        CancellationToken cancellationToken)
    {
        var table = Resolve(target);
        await BuildShadowFirstAsync(table, cancellationToken);
        return await WithGateAsync(what(table), (writer, ct) => work(writer, table, ct), cancellationToken);
    }

    /// <summary>An operation over a subject's values in one target (<see cref="OnTargetAsync"/>), one
    /// count per value, described as "<paramref name="verb"/> N values <paramref name="preposition"/>
    /// table T by column C".</summary>
    private async ValueTask<IReadOnlyList<long>> OnSubjectValuesAsync(
        TargetSpec target,
        SubjectMatches matches,
        string verb,
        string preposition,
        Func<PostgresWriter, PostgresTarget, CancellationToken, Task<long[]>> work,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(matches);
        return await OnTargetAsync(
            target,
            table => $"{verb} {matches.Values.Count} values {preposition} table {table.Qualified} by column {PostgresIdentifiers.Quote(matches.Column)}",
            work,
            cancellationToken);
    }

    /// <summary>When the target is a shadow being bulk-loaded, builds it from its staging log (in a
    /// transaction of its own) before anything reads or changes it other than by appending.</summary>
    private async Task BuildShadowFirstAsync(PostgresTarget target, CancellationToken cancellationToken)
    {
        if (_shadowLoads.TryGetValue(target.Id, out var load) && !load.Built)
        {
            await WithGateAsync(
                $"build the shadow table {target.Qualified} from its staging log",
                (writer, ct) => writer.BuildShadowAsync(target, load, ct),
                cancellationToken);
        }
    }

    /// <summary>The table, schema and settings of a target; throws <see cref="ArgumentException"/> when
    /// the table name or the target options cannot be used.</summary>
    private PostgresTarget Resolve(TargetSpec target)
    {
        ArgumentNullException.ThrowIfNull(target);
        var options = target.Options switch
        {
            null => PostgresTargetOptions.Default,
            PostgresTargetOptions o => o,
            var other => throw new ArgumentException($"postgres sink '{Name}': target options must be {nameof(PostgresTargetOptions)}, not {other.GetType().Name}", nameof(target)),
        };
        var problems = options.Validate("target").ToList();
        if (PostgresIdentifiers.Problem(target.Table) is { } problem)
        {
            problems.Insert(0, $"table ({(string.IsNullOrEmpty(target.Table) ? "empty" : target.Table)}) must be a PostgreSQL identifier: it {problem}");
        }

        if (problems.Count > 0)
        {
            throw new ArgumentException($"postgres sink '{Name}': " + string.Join("; ", problems), nameof(target));
        }

        return new PostgresTarget(options.Schema ?? _options.Schema, target.Table, options.SchemaEvolution, options.VersionColumn, options.FillFactor);
    }

    private Task<T> WithGateAsync<T>(string what, Func<PostgresWriter, CancellationToken, Task<T>> work, CancellationToken cancellationToken, Action<string>? retrying = null) =>
        _session.RunAsync(what, work, cancellationToken, retrying);

    /// <summary>Transient failures discard the connection and retry with capped backoff; any other
    /// failure of the server, the driver or a value discards it and throws <see cref="SinkFatalException"/>.
    /// Nothing of a failed attempt stays applied (it ran in a transaction).</summary>
    private SinkFailures Failures() => new(e => e switch
    {
        NpgsqlException or TimeoutException when PostgresErrorClassifier.Classify(e) == ErrorVerdict.Transient => ErrorVerdict.Transient,
        NpgsqlException or InvalidOperationException or NotSupportedException or InvalidCastException or FormatException => ErrorVerdict.Fatal,
        _ => null,
    })
    {
        Fatal = (what, e) => $"postgres sink '{Name}': could not {what}; nothing was applied and the connection was discarded: {PostgresErrorClassifier.Describe(e)}",
        Unavailable = (what, attempts, e) => $"postgres sink '{Name}': could not {what} after {attempts} attempts; the server stayed unavailable or busy: {PostgresErrorClassifier.Describe(e)}",
        Retrying = (what, attempt, e) => $"postgres sink '{Name}': could not {what} (attempt {attempt}), retrying: {PostgresErrorClassifier.Describe(e)}",
        DiscardsOnTransient = true,
        DiscardsOnCancel = true,
    };

    /// <summary>Closing a broken connection may fail; it is gone either way.</summary>
    private static async ValueTask CloseAsync(PostgresWriter writer)
    {
        try
        {
            await writer.DisposeAsync();
        }
        catch (Exception e) when (e is NpgsqlException or IOException or InvalidOperationException)
        {
            // Nothing left to close.
        }
    }

    /// <summary>Stops the idle probe, then closes the connection (<see cref="SinkSession{TConnection}.DisposeAsync"/>).</summary>
    public ValueTask DisposeAsync() => _session.DisposeAsync();
}
