using System.Globalization;
using System.Text;
using System.Text.Json;
using Microsoft.Data.Sqlite;
using Sync.Engine.Changes;
using Sync.Engine.Sinks;

namespace Sync.Sinks.Sqlite;

/// <summary>Writes batches into one open SQLite connection: one transaction per batch, a version
/// check per change against <c>_sync_state</c>, upsert or delete, the state write, and the checkpoint.
/// Commands are prepared once and reused (one upsert command per table and column set).
/// Not thread-safe: <see cref="SqliteSink"/> serializes calls.</summary>
internal sealed partial class SqliteWriter : IDisposable
{
    internal const string StateTable = "_sync_state";
    internal const string CheckpointTable = "_sync_checkpoints";

    /// <summary>The table each materializer last wrote to, so that a later run can tell a moved or
    /// dropped target from one that no row has created yet.</summary>
    internal const string TargetsTable = "_sync_targets";

    /// <summary>The <c>key_text</c> of a target's truncate marker. Every real key text is a JSON object, so it cannot collide.</summary>
    internal const string TruncateMarkerKey = "*";

    private const string TimestampFormat = "yyyy-MM-dd'T'HH:mm:ss.fffffff'Z'";

    private readonly SqliteConnection _connection;
    private readonly Dictionary<string, TableState?> _tables = new(StringComparer.Ordinal);
    private readonly Dictionary<string, StateEntry?> _truncateMarkers = new(StringComparer.Ordinal);
    private readonly SqliteCommand _readState;
    private readonly SqliteCommand _writeState;
    private readonly SqliteCommand _readTargetStates;
    private readonly SqliteCommand _markTargetTruncated;
    private readonly SqliteCommand _writeCheckpoint;
    private readonly SqliteCommand _readCheckpoints;
    private readonly SqliteCommand _readTable;
    private SqliteTransaction? _transaction;

    /// <summary>Materializers whose target this connection has recorded in <see cref="TargetsTable"/> (forgotten on rollback).</summary>
    private readonly HashSet<(string Materializer, string Target)> _recorded = [];
    private long _schemaVersion = -1;

    public SqliteWriter(SqliteConnection connection)
    {
        _connection = connection;
        CreateSchema(connection);
        _readState = Prepare(
            $"SELECT lsn, stream, position, deleted FROM {StateTable} WHERE target = $target AND key_text = $key",
            "$target", "$key");
        _writeState = Prepare(
            $"""
            INSERT INTO {StateTable} (target, key_text, lsn, stream, position, deleted, updated_at)
            VALUES ($target, $key, $lsn, $stream, $position, $deleted, $now)
            ON CONFLICT (target, key_text) DO UPDATE SET lsn = excluded.lsn, stream = excluded.stream,
              position = excluded.position, deleted = excluded.deleted, updated_at = excluded.updated_at
            """,
            "$target", "$key", "$lsn", "$stream", "$position", "$deleted", "$now");
        _readTargetStates = Prepare(
            $"SELECT key_text, lsn, stream, position, deleted FROM {StateTable} WHERE target = $target AND key_text <> '{TruncateMarkerKey}'",
            "$target");
        _markTargetTruncated = Prepare(
            $"""
            UPDATE {StateTable} SET deleted = 1, lsn = coalesce($lsn, lsn), stream = $stream, position = $position, updated_at = $now
            WHERE target = $target AND key_text <> '{TruncateMarkerKey}'
            """,
            "$target", "$lsn", "$stream", "$position", "$now");
        _writeCheckpoint = Prepare(
            $"""
            INSERT INTO {CheckpointTable} (materializer, stream, position, updated_at) VALUES ($materializer, $stream, $position, $now)
            ON CONFLICT (materializer, stream) DO UPDATE SET position = excluded.position, updated_at = excluded.updated_at
            """,
            "$materializer", "$stream", "$position", "$now");
        _readCheckpoints = Prepare(
            $"SELECT stream, position FROM {CheckpointTable} WHERE materializer = $materializer",
            "$materializer");
        _readTable = Prepare("SELECT name, type, pk FROM pragma_table_info($table) ORDER BY cid", "$table");
    }

    /// <summary>Creates the side tables when absent.</summary>
    private static void CreateSchema(SqliteConnection connection)
    {
        using var command = connection.CreateCommand();
        command.CommandText =
            $"""
            CREATE TABLE IF NOT EXISTS {StateTable} (
              target TEXT NOT NULL,
              key_text TEXT NOT NULL,
              lsn INTEGER,
              stream TEXT NOT NULL,
              position TEXT NOT NULL,
              deleted INTEGER NOT NULL,
              updated_at TEXT NOT NULL,
              PRIMARY KEY (target, key_text)) WITHOUT ROWID;
            CREATE INDEX IF NOT EXISTS {StateTable}_markers ON {StateTable} (updated_at) WHERE deleted = 1;
            CREATE TABLE IF NOT EXISTS {CheckpointTable} (
              materializer TEXT NOT NULL,
              stream TEXT NOT NULL,
              position TEXT NOT NULL,
              updated_at TEXT NOT NULL,
              PRIMARY KEY (materializer, stream)) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS {TargetsTable} (
              materializer TEXT PRIMARY KEY,
              target TEXT NOT NULL,
              updated_at TEXT NOT NULL) WITHOUT ROWID;
            """;
        command.ExecuteNonQuery();
    }

    /// <summary>Removes delete markers (and truncate markers) written before <paramref name="cutoff"/>.</summary>
    public int PruneMarkers(DateTimeOffset cutoff)
    {
        using var command = _connection.CreateCommand();
        command.CommandText = $"DELETE FROM {StateTable} WHERE deleted = 1 AND updated_at < $cutoff";
        command.Parameters.AddWithValue("$cutoff", FormatTime(cutoff));
        return command.ExecuteNonQuery();
    }

    public Dictionary<string, StreamPosition> LoadCheckpoint(string materializer)
    {
        _readCheckpoints.Transaction = null;
        _readCheckpoints.Parameters["$materializer"].Value = materializer;
        var result = new Dictionary<string, StreamPosition>(StringComparer.Ordinal);
        using var reader = _readCheckpoints.ExecuteReader();
        while (reader.Read())
        {
            result[reader.GetString(0)] = StreamPosition.Parse(reader.GetString(1));
        }

        return result;
    }

    /// <summary>Records the table as the materializer's target when it exists (once per connection,
    /// in the open transaction when there is one); returns whether it exists.</summary>
    private bool RecordTarget(string materializer, string target, string now)
    {
        if (_recorded.Contains((materializer, target)))
        {
            return true;
        }

        using var command = _connection.CreateCommand();
        command.Transaction = _transaction;
        command.CommandText =
            $"""
            INSERT INTO {TargetsTable} (materializer, target, updated_at)
            SELECT $materializer, $target, $now WHERE EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = $target COLLATE NOCASE)
            ON CONFLICT (materializer) DO UPDATE SET target = excluded.target, updated_at = excluded.updated_at
            """;
        command.Parameters.AddWithValue("$materializer", materializer);
        command.Parameters.AddWithValue("$target", target);
        command.Parameters.AddWithValue("$now", now);
        if (command.ExecuteNonQuery() == 0)
        {
            return false;
        }

        _recorded.Add((materializer, target));
        return true;
    }

    /// <summary>See <see cref="ISink.FindMissingTargetAsync"/>: an existing target is recorded (a
    /// checkpoint stored before targets were recorded counts from now on); a missing one is reported
    /// when a target was recorded for the materializer.</summary>
    public MissingTarget? FindMissingTarget(string materializer, string target, DateTimeOffset now)
    {
        _recorded.Remove((materializer, target));
        if (RecordTarget(materializer, target, FormatTime(now)))
        {
            return null;
        }

        using var command = _connection.CreateCommand();
        command.CommandText = $"SELECT target FROM {TargetsTable} WHERE materializer = $materializer";
        command.Parameters.AddWithValue("$materializer", materializer);
        return command.ExecuteScalar() is string recorded ? new MissingTarget(target, recorded) : null;
    }

    /// <summary>Applies the batch in one transaction. Poison rows are rejected and the rest applied;
    /// any other exception rolls the whole batch back and leaves the writer ready for a retry.</summary>
    public async Task<ApplyResult> ApplyAsync(SinkBatch batch, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var target = batch.Target.Table;
        var context = new BatchContext(target, FormatTime(now));
        return await InTransactionAsync(
            async transaction =>
            {
                _truncateMarkers.Clear();
                foreach (var change in batch.Changes)
                {
                    switch (change.Op)
                    {
                        case ChangeOp.Truncate:
                            ApplyTruncate(context, change);
                            break;
                        case ChangeOp.Delete or ChangeOp.Tombstone:
                            ApplyDelete(context, change);
                            break;
                        default:
                            ApplyUpsert(context, change);
                            break;
                    }
                }

                foreach (var (stream, position) in batch.Checkpoint)
                {
                    Bind(_writeCheckpoint, batch.Materializer, stream, position.ToString(), context.Now);
                    _writeCheckpoint.ExecuteNonQuery();
                }

                if (batch.Checkpoint.Count > 0)
                {
                    RecordTarget(batch.Materializer, target, context.Now);
                }

                if (batch.BeforeCommit is { } beforeCommit && await beforeCommit(context.Rejected, cancellationToken) is { Count: > 0 } letters)
                {
                    // In the batch's transaction: the letters commit with the checkpoint that passes them.
                    SqliteDeadLetters.Insert(_connection, transaction, letters);
                }

                return new ApplyResult(context.Upserted, context.Deleted, context.Stale, context.Rejected) { Unavailable = context.Unavailable };
            });
    }

    /// <summary>Runs <paramref name="work"/> in a transaction that the writer's commands join
    /// (<c>_transaction</c>, also given to it) and commits it; on any failure rolls it back
    /// (forgetting the DDL it made) and rethrows.</summary>
    /// <remarks>The work is synchronous, so the task is complete when InTransactionAsync returns: nothing waits on it.</remarks>
    private T InTransaction<T>(Func<SqliteTransaction, T> work) => InTransactionAsync(transaction => Task.FromResult(work(transaction))).GetAwaiter().GetResult();

    /// <inheritdoc cref="InTransaction"/>
    private async Task<T> InTransactionAsync<T>(Func<SqliteTransaction, Task<T>> work)
    {
        _transaction = _connection.BeginTransaction();
        try
        {
            ForgetTablesChangedElsewhere();
            var result = await work(_transaction);
            _transaction.Commit();
            return result;
        }
        catch
        {
            RollBack();
            throw;
        }
        finally
        {
            _transaction.Dispose();
            _transaction = null;
        }
    }

    private void RollBack()
    {
        // DDL (CREATE TABLE, ADD COLUMN) of this batch is rolled back too: forget what we knew.
        ForgetTables();
        _truncateMarkers.Clear();
        _recorded.Clear();
        try
        {
            _transaction?.Rollback();
        }
        catch (SqliteException)
        {
            // SQLite already rolled back (it does on I/O errors and disk full); nothing is left to undo.
        }
        catch (InvalidOperationException)
        {
            // The transaction is already completed.
        }
    }

    private void ApplyUpsert(BatchContext context, ChangeEvent change)
    {
        var keyNames = change.Key.Names;
        if (keyNames.Length == 0)
        {
            context.Reject(change, $"table \"{context.Target}\": a {change.Op} has no key columns");
            return;
        }

        var stored = ReadState(context.Target, change.KeyText);
        var version = change.Version;
        if (stored is { } s && !version.Supersedes(s.Version))
        {
            context.Stale++;
            return;
        }

        var image = change.After;
        if (image is null)
        {
            context.Reject(change, $"table \"{context.Target}\" (key {Describe(keyNames)}): a {change.Op} has no row image (after)");
            return;
        }

        if (CheckImage(keyNames, image) is { } problem)
        {
            context.Reject(change, $"table \"{context.Target}\" (key {Describe(keyNames)}): {problem}");
            return;
        }

        var table = EnsureTable(context.Target, keyNames, image, out problem);
        if (table is null)
        {
            context.Reject(change, $"table \"{context.Target}\" (key {Describe(keyNames)}): {problem}");
            return;
        }

        // Unavailable columns (unchanged TOASTed values the source did not send) keep the stored
        // value: the upsert for this set of kept columns leaves them out of DO UPDATE, and a new row
        // gets null there, which is counted.
        var kept = image.UnavailableColumns();
        var command = table.Upsert(image.Names, _connection, kept);
        command.Transaction = _transaction;
        var values = image.Values;
        for (var i = 0; i < values.Length; i++)
        {
            command.Parameters[i].Value = values[i].IsUnavailable ? DBNull.Value : ToDbValue(values[i]);
        }

        var missing = kept is not null && !RowExists(table, change.Key);
        if (!TryExecute(command, context, change, "written"))
        {
            return;
        }

        if (missing)
        {
            context.Unavailable++;
        }

        WriteState(context, change.KeyText, version, stored, deleted: false);
        context.Upserted++;
    }


    private bool RowExists(TableState table, Row key)
    {
        var command = table.ExistsCommand(_connection);
        command.Transaction = _transaction;
        for (var i = 0; i < key.Count; i++)
        {
            command.Parameters[table.KeyOrdinal(key.Names[i])].Value = ToDbValue(key.Values[i]);
        }

        return command.ExecuteScalar() is not null;
    }

    /// <summary>Runs a row statement; a poison error rejects the change. A failed statement changes
    /// nothing (SQLite statement atomicity), so the batch goes on.</summary>
    private static bool TryExecute(SqliteCommand command, BatchContext context, ChangeEvent change, string action)
    {
        try
        {
            command.ExecuteNonQuery();
            return true;
        }
        catch (SqliteException e) when (SqliteErrorClassifier.Classify(e) == ErrorVerdict.Poison)
        {
            context.Reject(change, $"table \"{context.Target}\" (key {Describe(change.Key.Names)}): the row cannot be {action}: {Reason(e)}");
            return false;
        }
    }

    private void ApplyDelete(BatchContext context, ChangeEvent change)
    {
        var keyNames = change.Key.Names;
        if (keyNames.Length == 0)
        {
            context.Reject(change, $"table \"{context.Target}\": a {change.Op} has no key columns");
            return;
        }

        var stored = ReadState(context.Target, change.KeyText);
        var version = change.Version;
        if (stored is { } s && !version.Supersedes(s.Version))
        {
            context.Stale++;
            return;
        }

        if (LoadTable(context.Target) is { } table)
        {
            if (!table.HasKey(keyNames))
            {
                context.Reject(change, $"table \"{context.Target}\" (key {Describe(keyNames)}): the table's primary key is ({Describe(table.KeyColumns)})");
                return;
            }

            var command = table.DeleteCommand(_connection);
            command.Transaction = _transaction;
            for (var i = 0; i < keyNames.Length; i++)
            {
                command.Parameters[table.KeyOrdinal(keyNames[i])].Value = ToDbValue(change.Key.Values[i]);
            }

            if (!TryExecute(command, context, change, "deleted"))
            {
                return;
            }
        }

        WriteState(context, change.KeyText, version, stored, deleted: true);
        context.Deleted++;
    }

    /// <summary>A truncate removes every row whose state it supersedes and marks those keys deleted
    /// with its version; a key written after the truncate (a newer version) survives a replayed
    /// truncate. A target-level marker makes a late, older change of a key never seen before stale too.</summary>
    private void ApplyTruncate(BatchContext context, ChangeEvent change)
    {
        var version = change.Version;
        var marker = TruncateMarker(context.Target);
        if (marker is { } m && !version.Supersedes(m.Version))
        {
            context.Stale++;
            return;
        }

        var superseded = new List<(string KeyText, StateEntry State)>();
        var newerKeys = 0;
        _readTargetStates.Transaction = _transaction;
        _readTargetStates.Parameters[0].Value = context.Target;
        using (var reader = _readTargetStates.ExecuteReader())
        {
            while (reader.Read())
            {
                var state = ReadEntry(reader, 1);
                if (version.Supersedes(state.Version))
                {
                    superseded.Add((reader.GetString(0), state));
                }
                else
                {
                    newerKeys++;
                }
            }
        }

        var table = LoadTable(context.Target);
        if (newerKeys == 0)
        {
            if (table is not null)
            {
                using var delete = _connection.CreateCommand();
                delete.Transaction = _transaction;
                delete.CommandText = "DELETE FROM " + table.QuotedName;
                context.Deleted += delete.ExecuteNonQuery();
            }

            Bind(_markTargetTruncated, context.Target, (object?)version.Lsn ?? DBNull.Value, version.Stream, version.Position.ToString(), context.Now);
            _markTargetTruncated.ExecuteNonQuery();
        }
        else
        {
            foreach (var (keyText, state) in superseded)
            {
                if (!state.Deleted && table is not null)
                {
                    context.Deleted += DeleteByKeyText(table, keyText);
                }

                WriteState(context, keyText, version, state, deleted: true);
            }
        }

        WriteState(context, TruncateMarkerKey, version, marker, deleted: true);
        _truncateMarkers[context.Target] = new StateEntry(version with { Lsn = version.Lsn ?? marker?.Version.Lsn }, Deleted: true);
    }

    /// <summary>Deletes every row whose column equals the value, in one transaction, leaving an
    /// erasure marker for each key (<see cref="ChangeVersion.Erased"/>), and for the value itself when
    /// the table is keyed by that column alone and no row holds it.</summary>
    public long Erase(string target, SubjectMatch match, DateTimeOffset now) =>
        EraseMany(target, new SubjectMatches(match.Column, [match.Value]), now)[0];

    /// <summary>How many rows hold the value in the column.</summary>
    public long Count(string target, SubjectMatch match)
    {
        ForgetTablesChangedElsewhere();
        var table = LoadTable(target);
        if (table is null || !table.Columns.ContainsKey(match.Column))
        {
            return 0;
        }

        using var count = _connection.CreateCommand();
        count.CommandText = $"SELECT count(*) FROM {table.QuotedName} WHERE {Quote(match.Column)} = $value";
        count.Parameters.AddWithValue("$value", ToDbValue(match.Value));
        return (long)count.ExecuteScalar()!;
    }

    /// <summary>Deletes, in one transaction, every row whose column equals one of the values (one
    /// statement per chunk of values), leaving an erasure marker for each removed key and, when
    /// <see cref="SubjectMatches.IsKey"/> and the table is keyed by that column alone (or does not exist
    /// yet), for each value without a row. Returns the rows removed per value (see <see cref="ISink.EraseManyAsync"/>).</summary>
    public long[] EraseMany(string target, SubjectMatches matches, DateTimeOffset now)
    {
        var counts = new long[matches.Values.Count];
        ForgetTablesChangedElsewhere();
        var table = LoadTable(target);
        var searchable = table is not null && table.Columns.ContainsKey(matches.Column);
        // A table keyed by the column alone: every value names a key, held or not.
        var soleKey = table is null
            ? matches.IsKey
            : table.KeyColumns.Length == 1 && IdentifierComparer.Instance.Equals(table.KeyColumns[0], matches.Column);
        if (!searchable && !soleKey)
        {
            return counts;
        }

        var context = new BatchContext(target, FormatTime(now));
        return InTransaction(
            _ =>
            {
                var removedKeys = new HashSet<string>(StringComparer.Ordinal);
                if (searchable)
                {
                    foreach (var (keyText, first) in Matching(table!, matches))
                    {
                        removedKeys.Add(keyText);
                        counts[first]++;
                    }

                    foreach (var chunk in Distinct(matches.Values).Chunk(MaxValuesPerStatement))
                    {
                        using var delete = _connection.CreateCommand();
                        delete.Transaction = _transaction;
                        delete.CommandText = $"DELETE FROM {table!.QuotedName} WHERE {Quote(matches.Column)} IN ({Placeholders(delete, chunk)})";
                        delete.ExecuteNonQuery();
                    }
                }

                var marked = new HashSet<string>(removedKeys, StringComparer.Ordinal);
                if (soleKey)
                {
                    var declared = table?.Columns[matches.Column];
                    foreach (var value in matches.Values)
                    {
                        foreach (var keyValue in KeyValuesOf(value, declared))
                        {
                            marked.Add(new Row([table?.KeyColumns[0] ?? matches.Column], [keyValue]).ToJson());
                        }
                    }
                }

                foreach (var keyText in marked)
                {
                    var stored = ReadStateExact(target, keyText);
                    var version = (stored?.Version ?? new ChangeVersion(null, "erasure", StreamPosition.Start)).Erased();
                    WriteState(context, keyText, version, stored, deleted: true);
                }

                return counts;
            });
    }

    /// <summary>For each key whose state says it holds no row (deleted, or no state at all), writes
    /// the erasure marker: <see cref="ChangeVersion.Erased"/> of the stored version, or of the erasure
    /// stream. A key with a live row is left alone. Returns the markers written or converted (a key
    /// already holding an erasure marker counts 0).</summary>
    public long MarkErasedMany(string target, IReadOnlyList<Row> keys, DateTimeOffset now)
    {
        var context = new BatchContext(target, FormatTime(now));
        return InTransaction(
            _ =>
            {
                long written = 0;
                foreach (var keyText in keys.Select(k => k.ToJson()).Distinct(StringComparer.Ordinal))
                {
                    var stored = ReadStateExact(target, keyText);
                    var version = (stored?.Version ?? new ChangeVersion(null, "erasure", StreamPosition.Start)).Erased();
                    if (stored is { Deleted: false } || (stored is { } held && held.Version == version))
                    {
                        continue;
                    }

                    WriteState(context, keyText, version, stored, deleted: true);
                    written++;
                }

                return written;
            });
    }

    /// <summary>Snapshot reconciliation of a new source epoch (ISink.ReconcileEpochAsync): deletes the
    /// rows whose state was last written from <paramref name="stream"/> below order
    /// <paramref name="epochStart"/>, a page of keys at a time, and marks each deleted at
    /// <c>epochStart - 1</c>. Erasure markers and LSN-less states are not live rows and stay.</summary>
    public long ReconcileEpoch(string target, string stream, long epochStart, DateTimeOffset now)
    {
        const int Page = 1000;
        var time = FormatTime(now);
        return InTransaction(
            transaction =>
            {
                var table = LoadTable(target);
                long removed = 0;
                while (true)
                {
                    var keys = new List<string>(Page);
                    using (var select = _connection.CreateCommand())
                    {
                        select.Transaction = transaction;
                        select.CommandText = $"SELECT key_text FROM {StateTable} WHERE target = $target AND stream = $stream AND deleted = 0 AND lsn < $below AND key_text <> '{TruncateMarkerKey}' LIMIT {Page}";
                        select.Parameters.AddWithValue("$target", target);
                        select.Parameters.AddWithValue("$stream", stream);
                        select.Parameters.AddWithValue("$below", epochStart);
                        using var reader = select.ExecuteReader();
                        while (reader.Read())
                        {
                            keys.Add(reader.GetString(0));
                        }
                    }

                    foreach (var keyText in keys)
                    {
                        if (table is not null)
                        {
                            using var key = System.Text.Json.JsonDocument.Parse(keyText);
                            var delete = table.DeleteCommand(_connection);
                            delete.Transaction = transaction;
                            foreach (var column in key.RootElement.EnumerateObject())
                            {
                                delete.Parameters[table.KeyOrdinal(column.Name)].Value = column.Value.ValueKind switch
                                {
                                    System.Text.Json.JsonValueKind.Number when column.Value.TryGetInt64(out var n) => n,
                                    System.Text.Json.JsonValueKind.Number => column.Value.GetDouble(),
                                    System.Text.Json.JsonValueKind.String => column.Value.GetString(),
                                    System.Text.Json.JsonValueKind.True => 1L,
                                    System.Text.Json.JsonValueKind.False => 0L,
                                    _ => column.Value.GetRawText(),
                                };
                            }

                            removed += delete.ExecuteNonQuery();
                        }

                        using var mark = _connection.CreateCommand();
                        mark.Transaction = transaction;
                        mark.CommandText = $"UPDATE {StateTable} SET deleted = 1, lsn = $lsn, updated_at = $now WHERE target = $target AND key_text = $key";
                        mark.Parameters.AddWithValue("$lsn", epochStart - 1);
                        mark.Parameters.AddWithValue("$now", time);
                        mark.Parameters.AddWithValue("$target", target);
                        mark.Parameters.AddWithValue("$key", keyText);
                        mark.ExecuteNonQuery();
                    }

                    if (keys.Count < Page)
                    {
                        return removed;
                    }
                }
            });
    }

    /// <summary>Rows holding each value, counted once at the first value that matches them.</summary>
    public long[] CountMany(string target, SubjectMatches matches)
    {
        var counts = new long[matches.Values.Count];
        ForgetTablesChangedElsewhere();
        var table = LoadTable(target);
        if (table is null || !table.Columns.ContainsKey(matches.Column))
        {
            return counts;
        }

        foreach (var (_, first) in Matching(table, matches))
        {
            counts[first]++;
        }

        return counts;
    }

    /// <summary>SQLite's default limit of host parameters is 32,766; a chunk stays far below it.</summary>
    private const int MaxValuesPerStatement = 1000;

    /// <summary>The key text of every row holding one of the values, with the index of the first value
    /// that matches it. The values join the table as a <c>VALUES</c> list, so that each is compared as
    /// <c>column = value</c> is (the column's affinity applies) and an index on the column is used.</summary>
    private List<(string KeyText, int First)> Matching(TableState table, SubjectMatches matches)
    {
        var first = new Dictionary<string, int>(StringComparer.Ordinal);
        var indexed = matches.Values.Select((v, i) => (Value: v, Index: i)).Where(p => !p.Value.IsNull).DistinctBy(p => p.Value).ToList();
        foreach (var chunk in indexed.Chunk(MaxValuesPerStatement))
        {
            using var select = _connection.CreateCommand();
            select.Transaction = _transaction;
            var rows = string.Join(", ", chunk.Select((p, j) =>
            {
                var name = "$v" + j.ToString(CultureInfo.InvariantCulture);
                select.Parameters.AddWithValue(name, ToDbValue(p.Value));
                return $"({p.Index.ToString(CultureInfo.InvariantCulture)}, {name})";
            }));
            select.CommandText =
                $"WITH v(i, value) AS (VALUES {rows}) SELECT v.i, {string.Join(", ", table.KeyColumns.Select(k => "t." + Quote(k)))} " +
                $"FROM v JOIN {table.QuotedName} t ON t.{Quote(matches.Column)} = v.value";
            using var reader = select.ExecuteReader();
            while (reader.Read())
            {
                var values = new FieldValue[table.KeyColumns.Length];
                for (var k = 0; k < values.Length; k++)
                {
                    values[k] = FromDbValue(reader.GetValue(k + 1));
                }

                var keyText = new Row(table.KeyColumns, values).ToJson();
                var index = (int)reader.GetInt64(0);
                first[keyText] = first.TryGetValue(keyText, out var seen) ? Math.Min(seen, index) : index;
            }
        }

        return [.. first.Select(p => (p.Key, p.Value))];
    }

    private static IEnumerable<FieldValue> Distinct(IReadOnlyList<FieldValue> values) => values.Where(v => !v.IsNull).Distinct();

    private static string Placeholders(SqliteCommand command, FieldValue[] values) =>
        string.Join(", ", values.Select((v, j) =>
        {
            var name = "$v" + j.ToString(CultureInfo.InvariantCulture);
            command.Parameters.AddWithValue(name, ToDbValue(v));
            return name;
        }));

    /// <summary>The key values a subject value names in a key column of the declared type, as a decoder
    /// gives them: an INTEGER column holds integers (text of digits included), a TEXT column text; for a
    /// table not created yet both readings of an integer are marked, since the source's type is unknown.</summary>
    internal static IEnumerable<FieldValue> KeyValuesOf(FieldValue value, string? declared)
    {
        if (value.IsNull)
        {
            yield break;
        }

        var text = value.ToText()!;
        var asInteger = value.Kind == ValueKind.Int64
            ? value
            : value.Kind == ValueKind.String && long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var n)
                && n.ToString(CultureInfo.InvariantCulture) == text ? FieldValue.FromInt64(n) : (FieldValue?)null;
        switch (declared)
        {
            case "INTEGER":
                if (asInteger is { } integer)
                {
                    yield return integer;
                }

                break;
            case "TEXT":
                yield return FieldValue.FromString(text);
                break;
            case null:
                yield return value;
                if (value.Kind == ValueKind.Int64)
                {
                    yield return FieldValue.FromString(text);
                }

                break;
            default:
                yield return value;
                break;
        }
    }

    /// <summary>A stored key value as the decoder would have produced it for the common key types
    /// (integers, text, bytes, reals).</summary>
    private static FieldValue FromDbValue(object value) => value switch
    {
        long l => FieldValue.FromInt64(l),
        double d => FieldValue.FromDouble(d),
        string s => FieldValue.FromString(s),
        byte[] b => FieldValue.FromBytes(b),
        _ => FieldValue.Null,
    };

    private int DeleteByKeyText(TableState table, string keyText)
    {
        var command = table.DeleteCommand(_connection);
        command.Transaction = _transaction;
        using var document = JsonDocument.Parse(keyText);
        var bound = 0;
        foreach (var property in document.RootElement.EnumerateObject())
        {
            var ordinal = table.KeyOrdinal(property.Name);
            if (ordinal < 0)
            {
                return 0;
            }

            command.Parameters[ordinal].Value = FromKeyJson(property.Value, table.Columns[property.Name]);
            bound++;
        }

        return bound == table.KeyColumns.Length ? command.ExecuteNonQuery() : 0;
    }

    /// <summary>A key value from the key text, bound the way <see cref="ToDbValue"/> bound it when the row was written.</summary>
    private static object FromKeyJson(JsonElement value, string declaredType) => value.ValueKind switch
    {
        JsonValueKind.Null => DBNull.Value,
        JsonValueKind.True => 1L,
        JsonValueKind.False => 0L,
        JsonValueKind.Number when declaredType == "INTEGER" && value.TryGetInt64(out var l) => l,
        JsonValueKind.Number when declaredType == "REAL" => value.GetDouble(),
        JsonValueKind.String when declaredType == "BLOB" => Convert.FromBase64String(value.GetString()!),
        JsonValueKind.String => value.GetString()!,
        _ => value.GetRawText(),
    };

    private StateEntry? TruncateMarker(string target)
    {
        if (!_truncateMarkers.TryGetValue(target, out var marker))
        {
            marker = ReadStateExact(target, TruncateMarkerKey);
            _truncateMarkers[target] = marker;
        }

        return marker;
    }

    /// <summary>The state of a key; when the key has none, the target's truncate marker stands for it.</summary>
    private StateEntry? ReadState(string target, string keyText) => ReadStateExact(target, keyText) ?? TruncateMarker(target);

    private StateEntry? ReadStateExact(string target, string keyText)
    {
        _readState.Transaction = _transaction;
        _readState.Parameters[0].Value = target;
        _readState.Parameters[1].Value = keyText;
        using var reader = _readState.ExecuteReader();
        return reader.Read() ? ReadEntry(reader, 0) : null;
    }

    private static StateEntry ReadEntry(SqliteDataReader reader, int first)
    {
        long? lsn = reader.IsDBNull(first) ? null : reader.GetInt64(first);
        var version = new ChangeVersion(lsn, reader.GetString(first + 1), StreamPosition.Parse(reader.GetString(first + 2)));
        return new StateEntry(version, reader.GetInt64(first + 3) != 0);
    }

    /// <summary>Writes the key's new state. A change without an LSN (a Debezium Server tombstone)
    /// keeps the stored LSN, so that a late, older change with an LSN still compares as older.</summary>
    private void WriteState(BatchContext context, string keyText, ChangeVersion version, StateEntry? stored, bool deleted)
    {
        var lsn = version.Lsn ?? stored?.Version.Lsn;
        Bind(_writeState, context.Target, keyText, (object?)lsn ?? DBNull.Value, version.Stream, version.Position.ToString(), deleted ? 1L : 0L, context.Now);
        _writeState.ExecuteNonQuery();
    }

    private void Bind(SqliteCommand command, params object?[] values)
    {
        command.Transaction = _transaction;
        for (var i = 0; i < values.Length; i++)
        {
            command.Parameters[i].Value = values[i] ?? DBNull.Value;
        }
    }

    /// <summary>Problems of a row image that SQLite would refuse or misread: key columns missing or
    /// NULL, names with NUL characters. Null when the image can be written.</summary>
    private static string? CheckImage(string[] keyNames, Row image)
    {
        foreach (var key in keyNames)
        {
            var i = image.IndexOf(key);
            if (i < 0)
            {
                return $"key column \"{key}\" is missing from the row image";
            }

            if (image.Values[i].IsNull)
            {
                return $"key column \"{key}\" is NULL";
            }
        }

        foreach (var name in image.Names)
        {
            if (name.Length == 0 || name.Contains('\0', StringComparison.Ordinal))
            {
                return "a column name is empty or contains a NUL character";
            }
        }

        return null;
    }

    private TableState? LoadTable(string target)
    {
        if (_tables.TryGetValue(target, out var table))
        {
            return table;
        }

        _readTable.Transaction = _transaction;
        _readTable.Parameters[0].Value = target;
        var columns = new Dictionary<string, string>(IdentifierComparer.Instance);
        var keys = new SortedList<long, string>();
        using (var reader = _readTable.ExecuteReader())
        {
            while (reader.Read())
            {
                var name = reader.GetString(0);
                columns[name] = reader.GetString(1).ToUpperInvariant();
                var pk = reader.GetInt64(2);
                if (pk > 0)
                {
                    keys.Add(pk, name);
                }
            }
        }

        table = columns.Count == 0 ? null : new TableState(target, columns, [.. keys.Values]);
        _tables[target] = table;
        return table;
    }

    /// <summary>The table, created from the image when absent (primary key = key columns) and with
    /// the image's new columns added. Null, with the problem, when the table's key differs.</summary>
    private TableState? EnsureTable(string target, string[] keyNames, Row image, out string? problem)
    {
        problem = null;
        var table = LoadTable(target);
        if (table is null)
        {
            var columns = new Dictionary<string, string>(IdentifierComparer.Instance);
            var sql = new StringBuilder("CREATE TABLE ").Append(Quote(target)).Append(" (");
            for (var i = 0; i < image.Count; i++)
            {
                var name = image.Names[i];
                if (!columns.TryAdd(name, ColumnType(image, i)))
                {
                    problem = $"column \"{name}\" appears twice in the row image";
                    return null;
                }

                sql.Append(Quote(name)).Append(' ').Append(columns[name]);
                if (Array.Exists(keyNames, k => IdentifierComparer.Instance.Equals(k, name)))
                {
                    sql.Append(" NOT NULL");
                }

                sql.Append(", ");
            }

            sql.Append("PRIMARY KEY (").AppendJoin(", ", keyNames.Select(Quote)).Append("))");
            Execute(sql.ToString());
            table = new TableState(target, columns, [.. keyNames]);
            _tables[target] = table;
            return table;
        }

        if (!table.HasKey(keyNames))
        {
            problem = table.KeyColumns.Length == 0
                ? "the existing table has no primary key"
                : $"the table's primary key is ({Describe(table.KeyColumns)})";
            return null;
        }

        for (var i = 0; i < image.Count; i++)
        {
            var name = image.Names[i];
            if (!table.Columns.ContainsKey(name))
            {
                // A column that appears mid-stream; SQLite adds it as a nullable column with no default.
                var type = ColumnType(image, i);
                Execute($"ALTER TABLE {table.QuotedName} ADD COLUMN {Quote(name)} {type}");
                table.Columns[name] = type;
            }
        }

        return table;
    }

    /// <summary>The declared SQLite type of a column: from the schema when the row has one, else from the value.
    /// Exact decimals are TEXT on purpose: a NUMERIC or DECIMAL column has NUMERIC affinity, and SQLite
    /// converts such text to an 8-byte REAL when it looks like a number with a fraction or more digits
    /// than an INTEGER holds, silently rounding <c>12345678901234567890.123456789</c>. TEXT affinity keeps every digit.</summary>
    internal static string ColumnType(Row image, int index)
    {
        if (image.Schema?.Find(image.Names[index]) is { } column)
        {
            return column.Type switch
            {
                LogicalType.Boolean => "BOOLEAN",
                LogicalType.Int8 or LogicalType.Int16 or LogicalType.Int32 or LogicalType.Int64 => "INTEGER",
                LogicalType.Float32 or LogicalType.Float64 => "REAL",
                LogicalType.Bytes or LogicalType.Bits => "BLOB",
                _ => "TEXT",
            };
        }

        return image.Values[index].Kind switch
        {
            ValueKind.Boolean => "BOOLEAN",
            ValueKind.Int64 => "INTEGER",
            ValueKind.Double => "REAL",
            ValueKind.Bytes => "BLOB",
            _ => "TEXT",
        };
    }

    /// <summary>The value as bound: booleans 0/1, integers, doubles, bytes as BLOB, everything else
    /// as <see cref="FieldValue.ToText"/> (exact decimals, ISO-8601 temporals, UUID and JSON text).</summary>
    internal static object ToDbValue(FieldValue value) => value.Kind switch
    {
        ValueKind.Null => DBNull.Value,
        ValueKind.Boolean => value.AsBoolean ? 1L : 0L,
        ValueKind.Int64 => value.AsInt64,
        ValueKind.Double => value.AsDouble,
        ValueKind.Bytes => value.AsBytes,
        _ => value.ToText()!,
    };

    internal static string Quote(string identifier) => "\"" + identifier.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";

    private static string Describe(IEnumerable<string> names) => string.Join(", ", names.Select(Quote));

    private static string Reason(SqliteException e) =>
        string.Create(CultureInfo.InvariantCulture, $"SQLite error {e.SqliteErrorCode} ({e.SqliteExtendedErrorCode}): {ErrorText(e)}");

    /// <summary>SQLite's own error text (e.g. <c>NOT NULL constraint failed: t.name</c>): it names tables and columns, never values.</summary>
    private static string ErrorText(SqliteException e)
    {
        var message = e.Message;
        var start = message.IndexOf('\'', StringComparison.Ordinal);
        var end = message.LastIndexOf('\'');
        return start >= 0 && end > start ? message[(start + 1)..end] : message;
    }

    internal static string FormatTime(DateTimeOffset time) => time.UtcDateTime.ToString(TimestampFormat, CultureInfo.InvariantCulture);

    private void Execute(string sql)
    {
        using var command = _connection.CreateCommand();
        command.Transaction = _transaction;
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    private SqliteCommand Prepare(string sql, params string[] parameters)
    {
        var command = _connection.CreateCommand();
        command.CommandText = sql;
        foreach (var name in parameters)
        {
            command.Parameters.Add(new SqliteParameter(name, DBNull.Value));
        }

        command.Prepare();
        return command;
    }

    /// <summary>Forgets the tables' shapes (absence included) when the database's schema changed since
    /// this connection last looked: another writer of the file (a second <c>sync run</c>, a backfill)
    /// may have created a table or added a column meanwhile. SQLite bumps <c>PRAGMA schema_version</c>
    /// with every schema change (sqlite.org/pragma.html#pragma_schema_version), and the transaction is
    /// not deferred (Microsoft.Data.Sqlite's BeginTransaction() is BEGIN IMMEDIATE), so it holds the
    /// write lock and the schema read now stays true until it commits.</summary>
    private void ForgetTablesChangedElsewhere()
    {
        using var command = _connection.CreateCommand();
        command.Transaction = _transaction;
        command.CommandText = "PRAGMA schema_version";
        var version = (long)command.ExecuteScalar()!;
        if (version != _schemaVersion)
        {
            ForgetTables();
            _schemaVersion = version;
        }
    }

    private void ForgetTables()
    {
        foreach (var table in _tables.Values)
        {
            table?.Dispose();
        }

        _tables.Clear();
    }

    public void Dispose()
    {
        ForgetTables();
        _readState.Dispose();
        _writeState.Dispose();
        _readTargetStates.Dispose();
        _markTargetTruncated.Dispose();
        _writeCheckpoint.Dispose();
        _readCheckpoints.Dispose();
        _readTable.Dispose();
        _transaction?.Dispose();
    }

    private readonly record struct StateEntry(ChangeVersion Version, bool Deleted);

    private sealed class BatchContext(string target, string now)
    {
        public string Target { get; } = target;

        public string Now { get; } = now;

        public int Upserted { get; set; }

        public int Deleted { get; set; }

        public int Stale { get; set; }

        /// <summary>Upserts with unavailable columns that found no stored row (written as null there).</summary>
        public int Unavailable { get; set; }

        public List<RejectedChange> Rejected { get; } = [];

        public void Reject(ChangeEvent change, string reason) => Rejected.Add(new RejectedChange(change, reason));
    }

    /// <summary>What the writer knows of one target table, and its cached commands.</summary>
    private sealed class TableState(string name, Dictionary<string, string> columns, string[] keyColumns) : IDisposable
    {
        private readonly Dictionary<string[], SqliteCommand> _upserts = new(ColumnNamesComparer.Instance);
        private SqliteCommand? _delete;
        private SqliteCommand? _exists;
        private readonly Dictionary<string, SqliteCommand> _keepingUpserts = new(StringComparer.Ordinal);

        public string QuotedName { get; } = Quote(name);

        /// <summary>Column name -> declared type (upper case), compared as SQLite compares identifiers.</summary>
        public Dictionary<string, string> Columns { get; } = columns;

        /// <summary>Primary key columns in key order.</summary>
        public string[] KeyColumns { get; } = keyColumns;

        public bool HasKey(string[] keyNames) =>
            keyNames.Length == KeyColumns.Length && keyNames.Order(IdentifierComparer.Instance).SequenceEqual(KeyColumns.Order(IdentifierComparer.Instance), IdentifierComparer.Instance);

        public int KeyOrdinal(string name) => Array.FindIndex(KeyColumns, k => IdentifierComparer.Instance.Equals(k, name));

        /// <summary>The upsert for this column set, built and prepared on first use:
        /// <c>INSERT … ON CONFLICT (pk) DO UPDATE SET</c> every non-key column.</summary>
        /// <remarks>With <paramref name="kept"/>, the columns marked there are left out of <c>DO UPDATE</c>:
        /// a stored row keeps their values (the change's value is unavailable); a new row gets the bound null.</remarks>
        public SqliteCommand Upsert(string[] names, SqliteConnection connection, bool[]? kept = null)
        {
            string? signature = null;
            SqliteCommand? command;
            if (kept is null)
            {
                if (_upserts.TryGetValue(names, out command))
                {
                    return command;
                }
            }
            else
            {
                signature = string.Join('\u0001', names) + '\u0002' + new string(kept.Select(k => k ? '1' : '0').ToArray());
                if (_keepingUpserts.TryGetValue(signature, out command))
                {
                    return command;
                }
            }

            var sql = new StringBuilder("INSERT INTO ").Append(QuotedName).Append(" (")
                .AppendJoin(", ", names.Select(Quote)).Append(") VALUES (")
                .AppendJoin(", ", names.Select((_, i) => "$p" + i.ToString(CultureInfo.InvariantCulture)))
                .Append(") ON CONFLICT (").AppendJoin(", ", KeyColumns.Select(Quote)).Append(") DO ");
            var updates = names.Where((n, i) => KeyOrdinal(n) < 0 && kept?[i] != true).Select(n => $"{Quote(n)} = excluded.{Quote(n)}").ToList();
            sql.Append(updates.Count == 0 ? "NOTHING" : "UPDATE SET " + string.Join(", ", updates));
            command = connection.CreateCommand();
            command.CommandText = sql.ToString();
            for (var i = 0; i < names.Length; i++)
            {
                command.Parameters.Add(new SqliteParameter("$p" + i.ToString(CultureInfo.InvariantCulture), DBNull.Value));
            }

            if (signature is null)
            {
                _upserts[(string[])names.Clone()] = command;
            }
            else
            {
                _keepingUpserts[signature] = command;
            }

            return command;
        }

        /// <summary><c>SELECT 1 … WHERE</c> every key column equals its parameter (parameters in key order).</summary>
        public SqliteCommand ExistsCommand(SqliteConnection connection)
        {
            if (_exists is not null)
            {
                return _exists;
            }

            var sql = new StringBuilder("SELECT 1 FROM ").Append(QuotedName).Append(" WHERE ")
                .AppendJoin(" AND ", KeyColumns.Select((k, i) => $"{Quote(k)} = $k{i.ToString(CultureInfo.InvariantCulture)}"));
            _exists = connection.CreateCommand();
            _exists.CommandText = sql.ToString();
            for (var i = 0; i < KeyColumns.Length; i++)
            {
                _exists.Parameters.Add(new SqliteParameter("$k" + i.ToString(CultureInfo.InvariantCulture), DBNull.Value));
            }

            return _exists;
        }

        /// <summary><c>DELETE … WHERE</c> every key column equals its parameter (parameters in key order).</summary>
        public SqliteCommand DeleteCommand(SqliteConnection connection)
        {
            if (_delete is not null)
            {
                return _delete;
            }

            var sql = new StringBuilder("DELETE FROM ").Append(QuotedName).Append(" WHERE ")
                .AppendJoin(" AND ", KeyColumns.Select((k, i) => $"{Quote(k)} = $k{i.ToString(CultureInfo.InvariantCulture)}"));
            _delete = connection.CreateCommand();
            _delete.CommandText = sql.ToString();
            for (var i = 0; i < KeyColumns.Length; i++)
            {
                _delete.Parameters.Add(new SqliteParameter("$k" + i.ToString(CultureInfo.InvariantCulture), DBNull.Value));
            }

            return _delete;
        }

        public void Dispose()
        {
            foreach (var command in _upserts.Values)
            {
                command.Dispose();
            }

            _upserts.Clear();
            foreach (var command in _keepingUpserts.Values)
            {
                command.Dispose();
            }

            _keepingUpserts.Clear();
            _delete?.Dispose();
            _delete = null;
            _exists?.Dispose();
            _exists = null;
        }
    }
}

/// <summary>Compares identifiers as SQLite does: case-insensitive for ASCII letters only.</summary>
internal sealed class IdentifierComparer : IEqualityComparer<string>, IComparer<string>
{
    public static readonly IdentifierComparer Instance = new();

    public bool Equals(string? x, string? y) => Compare(x, y) == 0;

    public int GetHashCode(string obj)
    {
        var hash = new HashCode();
        foreach (var c in obj)
        {
            hash.Add(char.IsAsciiLetterUpper(c) ? (char)(c | 0x20) : c);
        }

        return hash.ToHashCode();
    }

    public int Compare(string? x, string? y)
    {
        if (ReferenceEquals(x, y))
        {
            return 0;
        }

        if (x is null)
        {
            return -1;
        }

        if (y is null)
        {
            return 1;
        }

        var n = Math.Min(x.Length, y.Length);
        for (var i = 0; i < n; i++)
        {
            var a = char.IsAsciiLetterUpper(x[i]) ? (char)(x[i] | 0x20) : x[i];
            var b = char.IsAsciiLetterUpper(y[i]) ? (char)(y[i] | 0x20) : y[i];
            if (a != b)
            {
                return a.CompareTo(b);
            }
        }

        return x.Length.CompareTo(y.Length);
    }
}
