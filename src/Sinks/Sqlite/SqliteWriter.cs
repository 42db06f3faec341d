using Microsoft.Data.Sqlite;

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
        _readState = Prepare(ReadStateSql, "$target", "$key");
        _writeState = Prepare(WriteStateSql, "$target", "$key", "$lsn", "$stream", "$position", "$deleted", "$now");
        _readTargetStates = Prepare(ReadTargetStatesSql, "$target");
        _markTargetTruncated = Prepare(MarkTargetTruncatedSql, "$target", "$lsn", "$stream", "$position", "$now");
        _writeCheckpoint = Prepare(WriteCheckpointSql, "$materializer", "$stream", "$position", "$now");
        _readCheckpoints = Prepare(ReadCheckpointsSql, "$materializer");
        _readTable = Prepare(ReadTableSql, "$table");
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

    /// <summary>INSERT OR IGNORE of each entry in one transaction (SQLite has one writer at a time), then
    /// the values held (ISink.AddCheckpointEntriesAsync).</summary>
    public Dictionary<string, StreamPosition> AddCheckpointEntries(string materializer, IReadOnlyList<KeyValuePair<string, StreamPosition>> entries, DateTimeOffset now)
    {
        using (var transaction = _connection.BeginTransaction())
        {
            foreach (var (stream, position) in entries)
            {
                using var insert = _connection.CreateCommand();
                insert.Transaction = transaction;
                insert.CommandText = $"INSERT OR IGNORE INTO {CheckpointTable} (materializer, stream, position, updated_at) VALUES ($materializer, $stream, $position, $now)";
                insert.Parameters.AddWithValue("$materializer", materializer);
                insert.Parameters.AddWithValue("$stream", stream);
                insert.Parameters.AddWithValue("$position", position.ToString());
                insert.Parameters.AddWithValue("$now", FormatTime(now));
                insert.ExecuteNonQuery();
            }

            transaction.Commit();
        }

        var held = LoadCheckpoint(materializer);
        return entries.Where(e => held.ContainsKey(e.Key)).ToDictionary(e => e.Key, e => held[e.Key], StringComparer.Ordinal);
    }

    /// <summary>With <see cref="SinkBatch.ExpectedCheckpoint"/>: reads the stored checkpoint in the
    /// batch's transaction (SQLite has one writer at a time, so nothing changes it before the commit)
    /// and throws <see cref="SinkCheckpointChangedException"/>, rolling the batch back, unless every
    /// expected stream is held at or past its expected position (one not held counts as the start):
    /// otherwise the file was replaced by an older copy since the materializer read it. Returns the
    /// held positions of the expected streams, which the batch's checkpoint does not lower
    /// (<see cref="IMonotonicCheckpointSink"/>); none without a condition.</summary>
    private Dictionary<string, StreamPosition> HeldAsExpected(SinkBatch batch, SqliteTransaction transaction)
    {
        var kept = new Dictionary<string, StreamPosition>(StringComparer.Ordinal);
        if (batch.Checkpoint.Count == 0 || batch.ExpectedCheckpoint is not { Count: > 0 } expected)
        {
            return kept;
        }

        _readCheckpoints.Transaction = transaction;
        _readCheckpoints.Parameters["$materializer"].Value = batch.Materializer;
        var held = new Dictionary<string, StreamPosition>(StringComparer.Ordinal);
        using (var reader = _readCheckpoints.ExecuteReader())
        {
            while (reader.Read())
            {
                held[reader.GetString(0)] = StreamPosition.Parse(reader.GetString(1));
            }
        }

        foreach (var (stream, position) in expected)
        {
            var stored = held.TryGetValue(stream, out var at) ? at : StreamPosition.Start;
            if (stored < position)
            {
                throw new SinkCheckpointChangedException(batch.Materializer);
            }

            if (held.ContainsKey(stream))
            {
                kept[stream] = stored;
            }
        }

        return kept;
    }

    /// <summary>Stores a batch's checkpoint in its transaction, under its condition
    /// (<see cref="HeldAsExpected"/>): an expected stream held at or past the batch's position keeps
    /// what it holds.</summary>
    private void WriteCheckpoint(SinkBatch batch, SqliteTransaction transaction, string now)
    {
        var held = HeldAsExpected(batch, transaction);
        foreach (var (stream, position) in batch.Checkpoint)
        {
            if (held.TryGetValue(stream, out var kept) && kept >= position)
            {
                continue;
            }

            Bind(_writeCheckpoint, batch.Materializer, stream, position.ToString(), now);
            _writeCheckpoint.ExecuteNonQuery();
        }
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
                ApplyChanges(context, batch.Changes);

                WriteCheckpoint(batch, transaction, context.Now);
                if (batch.Checkpoint.Count > 0)
                {
                    RecordTarget(batch.Materializer, target, context.Now);
                }

                if (batch.BeforeCommit is { } beforeCommit && await beforeCommit(context.Rejected, cancellationToken) is { Count: > 0 } letters)
                {
                    // In the batch's transaction: the letters commit with the checkpoint that passes them.
                    SqliteDeadLetters.Insert(_connection, transaction, letters);
                }

                return context.ToResult();
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

    /// <summary>Whether the change is to be applied, with the key's stored state: false, counted,
    /// when it has no key (rejected) or the stored version is newer (stale).</summary>
    private bool Supersedes(BatchContext context, ChangeEvent change, out StateEntry? stored)
    {
        stored = null;
        if (change.Key.Names.Length == 0)
        {
            context.Reject(change, $"table \"{context.Target}\": a {change.Op} has no key columns");
            return false;
        }

        stored = ReadState(context.Target, change.KeyText);
        if (stored is { } s && !change.Version.Supersedes(s.Version))
        {
            context.Stale++;
            return false;
        }

        return true;
    }

    private void ApplyUpsert(BatchContext context, ChangeEvent change)
    {
        if (!Supersedes(context, change, out var stored))
        {
            return;
        }

        var keyNames = change.Key.Names;

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

        WriteState(context, change.KeyText, change.Version, stored, deleted: false);
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
        if (!Supersedes(context, change, out var stored))
        {
            return;
        }

        var keyNames = change.Key.Names;

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

        WriteState(context, change.KeyText, change.Version, stored, deleted: true);
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
        if (RowImageChecks.MissingKey(keyNames, image, key => $"\"{key}\"") is { } missing)
        {
            return missing;
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

    private sealed class BatchContext(string target, string now) : BatchTally
    {
        public string Target { get; } = target;

        public string Now { get; } = now;
    }
}
