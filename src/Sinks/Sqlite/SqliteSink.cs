using System.Runtime.CompilerServices;
using Microsoft.Data.Sqlite;

namespace Sync.Sinks.Sqlite;

/// <summary>
/// The embedded default sink: materializes changes into tables of one SQLite database file.
/// <list type="bullet">
/// <item>Durable on return: WAL journal with <c>synchronous=FULL</c>, one transaction per batch, the
/// checkpoint written in the same transaction.</item>
/// <item>Never regresses: each key's version (source LSN, stream, position) and delete markers live in
/// <c>_sync_state</c>; an older change is counted as stale and skipped. Delete markers are kept for
/// <see cref="SqliteSinkOptions.DeleteMarkerRetention"/> and pruned when the sink opens.</item>
/// <item>Poison rows are returned as <see cref="RejectedChange"/>s and the rest of the batch is applied;
/// busy/locked errors are retried with capped backoff; storage failures discard the connection and
/// throw <see cref="SinkFatalException"/> (the next call opens a new connection).</item>
/// </list>
/// One connection, calls serialized. Tables are created when absent; see <see cref="SqliteWriter"/> for the type mapping.
/// </summary>
public sealed partial class SqliteSink : ISink, IShadowableSink, IDeadLetterStore, IMonotonicCheckpointSink
{
    /// <summary>Rows per page of a sweep (<see cref="ScanColumn"/>): the writer's lock is held for one page at a time.</summary>
    private const int ScanPage = 5_000;

    private readonly SqliteSinkOptions _options;
    private readonly TimeProvider _time;
    private readonly SinkSession<SqliteDatabase> _session;
    private readonly SinkFailures _calls;
    private readonly SinkFailures _unchangedCalls;

    private SqliteSink(string name, SqliteSinkOptions options, TimeProvider time)
    {
        Name = name;
        _options = options;
        _time = time;

        // Outside a batch, every SQLite failure is a storage failure: no retry.
        _calls = new SinkFailures(e => e is SqliteException ? ErrorVerdict.Fatal : null)
        {
            Fatal = (what, e) => $"sqlite sink '{Name}': cannot {what}: {e.Message}",
        };
        _unchangedCalls = _calls with { Fatal = (what, e) => $"sqlite sink '{Name}': cannot {what}; nothing was changed: {e.Message}" };
        _session = new SinkSession<SqliteDatabase>(this, _ => Task.FromResult(Open()), Close, _calls, options.Retry, time);
    }

    public string Name { get; }

    /// <inheritdoc/>
    public bool NeverLowersCheckpoints => true;

    /// <summary>The database file.</summary>
    public string Path => _options.Path;

    /// <summary>How many expired delete markers were pruned when the sink opened.</summary>
    public int PrunedMarkers { get; private set; }

    /// <summary>Opens (and creates when absent) the database, sets WAL and <c>synchronous=FULL</c>,
    /// creates the side tables and prunes expired delete markers. Throws <see cref="ArgumentException"/>
    /// listing every problem of <paramref name="options"/>.</summary>
    public static ValueTask<SqliteSink> OpenAsync(string name, SqliteSinkOptions options, CancellationToken cancellationToken) =>
        OpenAsync(name, options, TimeProvider.System, cancellationToken);

    /// <inheritdoc cref="OpenAsync(string, SqliteSinkOptions, CancellationToken)"/>
    /// <param name="time">The clock that stamps state rows and decides which markers expired.</param>
    public static async ValueTask<SqliteSink> OpenAsync(string name, SqliteSinkOptions options, TimeProvider time, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return await SinkOpening.OpenAsync(name, options, time, () => new SqliteSink(name, options, time),
            async sink => sink.PrunedMarkers = await sink.OnDatabaseAsync(
                $"open {options.Path}", database => database.Writer.PruneMarkers(time.GetUtcNow() - options.DeleteMarkerRetention), cancellationToken));
    }

    public async ValueTask<MissingTarget?> FindMissingTargetAsync(string materializer, TargetSpec target, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(materializer);
        ArgumentNullException.ThrowIfNull(target);
        return await OnDatabaseAsync(
            $"check the target {target.Table} of '{materializer}'", database => database.Writer.FindMissingTarget(materializer, target.Table, _time.GetUtcNow()), cancellationToken);
    }

    public async ValueTask<IReadOnlyDictionary<string, StreamPosition>> LoadCheckpointAsync(string materializer, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(materializer);
        return await OnDatabaseAsync($"read the checkpoint of '{materializer}'", database => database.Writer.LoadCheckpoint(materializer), cancellationToken);
    }

    public async ValueTask<ApplyResult> ApplyAsync(SinkBatch batch, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(batch);
        ValidateTarget(batch.Target);
        var table = $"table \"{batch.Target.Table}\"";
        var failures = new SinkFailures(e => e is SqliteException sqlite ? SqliteErrorClassifier.Classify(sqlite) : null)
        {
            // Poison errors outside a row write (checkpoint, state) are storage failures too.
            Fatal = (_, e) => $"sqlite sink '{Name}': a batch of {batch.Changes.Count} changes to {table} failed and was rolled back; the connection was discarded: {e.Message}",
            Unavailable = (_, attempts, e) => $"sqlite sink '{Name}': {table} stayed busy or locked after {attempts} attempts: {e.Message}",
            Retrying = (_, attempt, e) => $"sqlite sink '{Name}': {table} is busy or locked (attempt {attempt}), retrying: {e.Message}",
        };
        return await _session.RunAsync(
            table, (database, ct) => database.Writer.ApplyAsync(batch, _time.GetUtcNow(), ct), cancellationToken, batch.Retrying, failures);
    }

    public string DeadLetterTable => $"sqlite sink {Name}, table {SqliteDeadLetters.Table} in {_options.Path}";

    public ValueTask AppendDeadLettersAsync(IReadOnlyList<DeadLetterRow> letters, CancellationToken cancellationToken) =>
        WithConnectionAsync(connection => SqliteDeadLetters.Append(connection, letters), "write dead letters", cancellationToken);

    public async ValueTask<IReadOnlyList<StoredDeadLetter>> ReadDeadLettersAsync(string materializer, long afterId, long throughId, int max, CancellationToken cancellationToken)
    {
        IReadOnlyList<StoredDeadLetter> letters = [];
        await WithConnectionAsync(connection => letters = SqliteDeadLetters.Read(connection, materializer, afterId, throughId, max), "read dead letters", cancellationToken);
        return letters;
    }

    public async ValueTask<long> LastDeadLetterIdAsync(string materializer, CancellationToken cancellationToken)
    {
        long last = 0;
        await WithConnectionAsync(connection => last = SqliteDeadLetters.Scalar(connection, "max(id)", materializer), "read dead letters", cancellationToken);
        return last;
    }

    public async ValueTask<long> CountDeadLettersAsync(string materializer, CancellationToken cancellationToken)
    {
        long count = 0;
        await WithConnectionAsync(connection => count = SqliteDeadLetters.Scalar(connection, "count(*)", materializer), "count dead letters", cancellationToken);
        return count;
    }

    public ValueTask DeleteDeadLettersAsync(string materializer, IReadOnlyList<long> ids, CancellationToken cancellationToken) =>
        WithConnectionAsync(connection => SqliteDeadLetters.Delete(connection, materializer, ids), "remove replayed dead letters", cancellationToken);

    private async ValueTask WithConnectionAsync(Action<SqliteConnection> work, string what, CancellationToken cancellationToken) =>
        await OnDatabaseAsync(what, database =>
        {
            work(database.Connection);
            return 0;
        }, cancellationToken);

    public ValueTask<long> EraseAsync(TargetSpec target, SubjectMatch match, CancellationToken cancellationToken) =>
        BySubjectAsync(target, match, writer => writer.Erase(target.Table, match, _time.GetUtcNow()), cancellationToken);

    public ValueTask<long> CountAsync(TargetSpec target, SubjectMatch match, CancellationToken cancellationToken) =>
        BySubjectAsync(target, match, writer => writer.Count(target.Table, match), cancellationToken);

    public IAsyncEnumerable<string>? ScanColumn(TargetSpec target, string column, CancellationToken cancellationToken)
    {
        ValidateTarget(target);
        return ScanColumnPagesAsync(target.Table, column, cancellationToken);
    }

    private async IAsyncEnumerable<string> ScanColumnPagesAsync(string table, string column, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        long? after = 0;
        while (after is { } from)
        {
            var (values, next) = await _session.LockedAsync((database, _) => Task.FromResult(database.Writer.ScanColumnPage(table, column, from, ScanPage)), cancellationToken);
            foreach (var value in values)
            {
                yield return value;
            }

            after = next;
        }
    }

    public async ValueTask<IReadOnlyList<long>> EraseManyAsync(TargetSpec target, SubjectMatches matches, CancellationToken cancellationToken) =>
        await BySubjectAsync(target, matches, writer => writer.EraseMany(target.Table, matches, _time.GetUtcNow()), cancellationToken);

    public async ValueTask<IReadOnlyList<long>> CountManyAsync(TargetSpec target, SubjectMatches matches, CancellationToken cancellationToken) =>
        await BySubjectAsync(target, matches, writer => writer.CountMany(target.Table, matches), cancellationToken);

    public async ValueTask<MarkOutcome> MarkErasedManyAsync(TargetSpec target, IReadOnlyList<Row> keys, CancellationToken cancellationToken) =>
        new(await BySubjectAsync(target, keys, writer => writer.MarkErasedMany(target.Table, keys, _time.GetUtcNow()), cancellationToken), Supported: true);

    public async ValueTask<long?> ReconcileEpochAsync(string materializer, TargetSpec target, string stream, long epochStart, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(target);
        ValidateTarget(target);
        return await OnWriterAsync($"reconcile table \"{target.Table}\" with a new source epoch's snapshot", writer => writer.ReconcileEpoch(target.Table, stream, epochStart, _time.GetUtcNow()), cancellationToken);
    }

    public async ValueTask<IReadOnlyDictionary<string, StreamPosition>?> AddCheckpointEntriesAsync(
        string materializer, IReadOnlyList<KeyValuePair<string, StreamPosition>> entries, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(materializer);
        ArgumentNullException.ThrowIfNull(entries);
        return await OnWriterAsync<IReadOnlyDictionary<string, StreamPosition>?>(
            $"agree on checkpoint entries of '{materializer}'", writer => writer.AddCheckpointEntries(materializer, entries, _time.GetUtcNow()), cancellationToken);
    }

    private async ValueTask<T> BySubjectAsync<T>(TargetSpec target, object match, Func<SqliteWriter, T> work, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(match);
        ValidateTarget(target);
        return await _session.LockedAsync((database, _) => Task.FromResult(work(database.Writer)), cancellationToken);
    }

    public async ValueTask<ShadowTarget> BeginShadowAsync(string materializer, TargetSpec live, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(materializer);
        ValidateTarget(live);
        var shadow = live with { Table = live.Table + SqliteWriter.ShadowSuffix };
        var checkpointName = ShadowTarget.CheckpointNameOf(materializer);
        var checkpoint = await OnWriterAsync($"prepare the shadow of table \"{live.Table}\"", writer => writer.BeginShadow(live.Table, shadow.Table, materializer, checkpointName), cancellationToken);
        return new ShadowTarget(materializer, live, shadow, checkpointName, checkpoint);
    }

    public ValueTask<ShadowSwap> SwapShadowAsync(ShadowTarget shadow, bool keepOld, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(shadow);
        return OnWriterAsync($"swap the shadow \"{shadow.Shadow.Table}\" in as \"{shadow.Live.Table}\"", writer => writer.SwapShadows([shadow], [], keepOld)[0], cancellationToken);
    }

    public async ValueTask<ShadowCheckpoint> BeginShadowCheckpointAsync(string materializer, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(materializer);
        var checkpointName = ShadowTarget.CheckpointNameOf(materializer);
        var live = await OnWriterAsync($"prepare the shadow checkpoint of '{materializer}'", writer => writer.BeginShadowCheckpoint(materializer, checkpointName), cancellationToken);
        return new ShadowCheckpoint(materializer, checkpointName, live);
    }

    public ValueTask<IReadOnlyList<ShadowSwap>> SwapShadowsTogetherAsync(IReadOnlyList<ShadowTarget> shadows, IReadOnlyList<ShadowCheckpoint> checkpoints, bool keepOld, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(shadows);
        ArgumentNullException.ThrowIfNull(checkpoints);
        return OnWriterAsync(
            $"swap the shadows {string.Join(", ", shadows.Select(s => $"\"{s.Shadow.Table}\" in as \"{s.Live.Table}\""))} in one transaction",
            writer => writer.SwapShadows(shadows, checkpoints, keepOld),
            cancellationToken);
    }

    private async ValueTask<T> OnWriterAsync<T>(string what, Func<SqliteWriter, T> work, CancellationToken cancellationToken) =>
        await _session.RunAsync(what, (database, _) => Task.FromResult(work(database.Writer)), cancellationToken, failures: _unchangedCalls);

    private async ValueTask<T> OnDatabaseAsync<T>(string what, Func<SqliteDatabase, T> work, CancellationToken cancellationToken) =>
        await _session.RunAsync(what, (database, _) => Task.FromResult(work(database)), cancellationToken);

    /// <summary>Throws when a target table name cannot be used: empty, a NUL character, or one of the
    /// names SQLite and this sink reserve (<c>sqlite_*</c>, <c>_sync_*</c>).</summary>
    public static void ValidateTarget(TargetSpec target)
    {
        ArgumentNullException.ThrowIfNull(target);
        var table = target.Table;
        if (string.IsNullOrEmpty(table) || table.Contains('\0', StringComparison.Ordinal))
        {
            throw new ArgumentException($"table ({(string.IsNullOrEmpty(table) ? "empty" : "with a NUL character")}) must be a table name", nameof(target));
        }

        if (table.StartsWith("sqlite_", StringComparison.OrdinalIgnoreCase) || table.StartsWith("_sync_", StringComparison.OrdinalIgnoreCase))
        {
            throw new ArgumentException($"table ({table}) is reserved: names starting with sqlite_ or _sync_ cannot be targets", nameof(target));
        }
    }

    private SqliteDatabase Open()
    {
        var builder = new SqliteConnectionStringBuilder
        {
            DataSource = _options.Path,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Pooling = false,

            // Microsoft.Data.Sqlite retries busy statements itself until the command timeout (whole
            // seconds, 0 = forever); keep that short and let busy_timeout and our backoff do the waiting.
            DefaultTimeout = 1,
        };
        var connection = new SqliteConnection(builder.ConnectionString);
        try
        {
            Prepare(connection);
            return new SqliteDatabase(connection, new SqliteWriter(connection));
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }

    private void Prepare(SqliteConnection connection)
    {
        connection.Open();
        using var command = connection.CreateCommand();
        var busyMs = (long)_options.BusyTimeout.TotalMilliseconds;
        command.CommandText = FormattableString.Invariant($"PRAGMA busy_timeout = {busyMs};");
        command.ExecuteNonQuery();
        command.CommandText = "PRAGMA journal_mode = WAL;";
        var mode = command.ExecuteScalar() as string;
        if (!string.Equals(mode, "wal", StringComparison.OrdinalIgnoreCase))
        {
            throw new SinkFatalException($"sqlite sink '{Name}': {_options.Path} cannot use a WAL journal (journal_mode is {mode})");
        }

        command.CommandText = "PRAGMA synchronous = FULL;";
        command.ExecuteNonQuery();
    }

    /// <summary>A connection in an unknown state is never reused: close it; the next call opens a new one.</summary>
    private static ValueTask Close(SqliteDatabase database)
    {
        database.Writer.Dispose();
        database.Connection.Dispose();
        return ValueTask.CompletedTask;
    }

    public ValueTask DisposeAsync() => _session.DisposeAsync();

    /// <summary>The connection and the writer that uses it.</summary>
    private sealed record SqliteDatabase(SqliteConnection Connection, SqliteWriter Writer);
}
