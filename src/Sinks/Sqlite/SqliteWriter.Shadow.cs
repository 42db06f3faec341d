using Microsoft.Data.Sqlite;

namespace Sync.Sinks.Sqlite;

/// <summary>Shadow backfill: the shadow is a table <c>&lt;table&gt;__shadow</c> with its own rows in
/// <c>_sync_state</c>; the swap renames it over the live table in one transaction.</summary>
internal sealed partial class SqliteWriter
{
    internal const string ShadowSuffix = "__shadow";
    internal const string OldSuffix = "__old";

    /// <summary>Drops what an earlier shadow left and creates an empty shadow with the live table's
    /// columns and primary key (when the live table was created by this sink). Returns the live checkpoint.</summary>
    public Dictionary<string, StreamPosition> BeginShadow(string live, string shadow, string materializer, string checkpointName)
    {
        try
        {
            return InTransaction(
                _ =>
                {
                    Execute($"DROP TABLE IF EXISTS {Quote(shadow)}");
                    Run($"DELETE FROM {StateTable} WHERE target = $p0", shadow);
                    Run($"DELETE FROM {CheckpointTable} WHERE materializer = $p0", checkpointName);
                    var ddl = Scalar("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = $p0", live);
                    var prefix = "CREATE TABLE " + Quote(live) + " (";
                    if (ddl is not null && ddl.StartsWith(prefix, StringComparison.Ordinal))
                    {
                        Execute("CREATE TABLE " + Quote(shadow) + " (" + ddl[prefix.Length..]);
                    }

                    return ReadCheckpoint(materializer);
                });
        }
        finally
        {
            ForgetTables();
        }
    }

    /// <summary>In one transaction (a reader sees every old table or every new one): refuses when a live
    /// checkpoint moved since its shadow began; for each shadow carries the live table's erasure markers
    /// over (deleting their keys from the shadow), replaces the live table (dropped, or renamed to
    /// <c>&lt;table&gt;__old</c>), renames the shadow to the live name, recreates the live table's own
    /// indexes, moves the state rows and the checkpoint; then moves the <paramref name="checkpoints"/>.</summary>
    public IReadOnlyList<ShadowSwap> SwapShadows(IReadOnlyList<ShadowTarget> shadows, IReadOnlyList<ShadowCheckpoint> checkpoints, bool keepOld)
    {
        try
        {
            return InTransaction<IReadOnlyList<ShadowSwap>>(
                _ =>
                {
                    foreach (var target in shadows)
                    {
                        var now = ReadCheckpoint(target.Materializer);
                        if (target.LiveCheckpointMoved(now))
                        {
                            throw new ShadowSwapException(
                                $"table \"{target.Live.Table}\": the checkpoint of '{target.Materializer}' moved during the backfill ({DescribeCheckpoint(target.LiveCheckpoint)} -> {DescribeCheckpoint(now)}), so a `sync run` wrote to the live table; "
                                + $"\"{target.Live.Table}\" is untouched and the shadow \"{target.Shadow.Table}\" is left; stop `sync run` for '{target.Materializer}' and run the backfill again");
                        }
                    }

                    foreach (var checkpoint in checkpoints)
                    {
                        var now = ReadCheckpoint(checkpoint.Materializer);
                        if (checkpoint.LiveCheckpointMoved(now))
                        {
                            throw new ShadowSwapException(
                                $"the checkpoint of '{checkpoint.Materializer}' moved during the backfill ({DescribeCheckpoint(checkpoint.LiveCheckpoint)} -> {DescribeCheckpoint(now)}), so a `sync run` wrote to the live tables; "
                                + $"{string.Join(", ", shadows.Select(s => $"\"{s.Live.Table}\""))} are untouched and the shadows are left; stop `sync run` and run the backfill again");
                        }
                    }

                    var swaps = shadows.Select(target => SwapCheckedShadow(target, keepOld)).ToList();
                    foreach (var checkpoint in checkpoints)
                    {
                        MoveCheckpoint(checkpoint.Materializer, checkpoint.CheckpointName);
                    }

                    return swaps;
                });
        }
        finally
        {
            ForgetTables();
        }
    }

    /// <summary>Drops what an earlier backfill left under <paramref name="shadowCheckpoint"/>; returns the live checkpoint.</summary>
    public Dictionary<string, StreamPosition> BeginShadowCheckpoint(string materializer, string shadowCheckpoint) =>
        InTransaction(
            _ =>
            {
                Run($"DELETE FROM {CheckpointTable} WHERE materializer = $p0", shadowCheckpoint);
                return ReadCheckpoint(materializer);
            });

    private ShadowSwap SwapCheckedShadow(ShadowTarget target, bool keepOld)
    {
        var live = target.Live.Table;
        var shadow = target.Shadow.Table;
        var old = live + OldSuffix;
        var liveExists = Scalar("SELECT name FROM sqlite_master WHERE type = 'table' AND name = $p0", live) is not null;
        var shadowExists = Scalar("SELECT name FROM sqlite_master WHERE type = 'table' AND name = $p0", shadow) is not null;
        var indexes = liveExists ? OwnIndexes(live) : [];
        var erased = ErasureMarkerKeys(live);
        if (shadowExists)
        {
            foreach (var key in erased)
            {
                DeleteKey(shadow, key);
            }
        }

        // Erasure markers stay (an erased subject stays erased); the live table's other state rows
        // describe rows that are gone with it.
        Run($"DELETE FROM {StateTable} WHERE target = $p0 AND NOT (deleted = 1 AND lsn = {long.MaxValue})", live);
        Run($"DELETE FROM {StateTable} WHERE target = $p0 AND key_text IN (SELECT key_text FROM {StateTable} WHERE target = $p1)", shadow, live);
        Run($"UPDATE {StateTable} SET target = $p0 WHERE target = $p1", live, shadow);

        string oldFate;
        if (!liveExists)
        {
            oldFate = "absent";
        }
        else if (keepOld)
        {
            Execute($"DROP TABLE IF EXISTS {Quote(old)}");
            Execute($"ALTER TABLE {Quote(live)} RENAME TO {Quote(old)}");
            foreach (var (name, _) in indexes)
            {
                // Index names are per database: the live table's indexes are recreated on the new table.
                Execute($"DROP INDEX {Quote(name)}");
            }

            Run($"DELETE FROM {StateTable} WHERE target = $p0", old);
            oldFate = $"kept as \"{old}\" (without its indexes)";
        }
        else
        {
            Execute($"DROP TABLE {Quote(live)}");
            oldFate = "dropped";
        }

        if (shadowExists)
        {
            Execute($"ALTER TABLE {Quote(shadow)} RENAME TO {Quote(live)}");
            foreach (var (_, sql) in indexes)
            {
                Execute(sql);
            }
        }

        MoveCheckpoint(target.Materializer, target.CheckpointName);
        return new ShadowSwap($"\"{live}\"", oldFate, erased.Count);
    }

    private void MoveCheckpoint(string materializer, string shadowCheckpoint)
    {
        Run($"DELETE FROM {CheckpointTable} WHERE materializer = $p0", materializer);
        Run($"UPDATE {CheckpointTable} SET materializer = $p0 WHERE materializer = $p1", materializer, shadowCheckpoint);
    }

    private static string DescribeCheckpoint(IReadOnlyDictionary<string, StreamPosition> checkpoint) =>
        checkpoint.Count == 0 ? "none" : string.Join(", ", checkpoint.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => $"{p.Key} @ {p.Value}"));

    /// <summary>The indexes created on the table by its owner (not the primary key's), with their SQL.</summary>
    private List<(string Name, string Sql)> OwnIndexes(string table)
    {
        using var command = Command("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = $p0 AND sql IS NOT NULL", table);
        using var reader = command.ExecuteReader();
        var indexes = new List<(string, string)>();
        while (reader.Read())
        {
            indexes.Add((reader.GetString(0), reader.GetString(1)));
        }

        return indexes;
    }

    private List<string> ErasureMarkerKeys(string table)
    {
        using var command = Command($"SELECT key_text FROM {StateTable} WHERE target = $p0 AND deleted = 1 AND lsn = {long.MaxValue} AND key_text <> '{TruncateMarkerKey}'", table);
        using var reader = command.ExecuteReader();
        var keys = new List<string>();
        while (reader.Read())
        {
            keys.Add(reader.GetString(0));
        }

        return keys;
    }

    /// <summary>Deletes the row of a key given as its state key text (a JSON object of the key columns).</summary>
    private void DeleteKey(string table, string keyText)
    {
        using var document = JsonDocument.Parse(keyText);
        var columns = document.RootElement.EnumerateObject().ToList();
        using var command = _connection.CreateCommand();
        command.Transaction = _transaction;
        command.CommandText = $"DELETE FROM {Quote(table)} WHERE " + string.Join(" AND ", columns.Select((c, i) => $"{Quote(c.Name)} IS $k{i}"));
        for (var i = 0; i < columns.Count; i++)
        {
            var value = columns[i].Value;
            object parameter = value.ValueKind switch
            {
                JsonValueKind.Number when value.TryGetInt64(out var n) => n,
                JsonValueKind.Number => value.GetDouble(),
                JsonValueKind.String => value.GetString()!,
                JsonValueKind.True => 1L,
                JsonValueKind.False => 0L,
                JsonValueKind.Null => DBNull.Value,
                _ => value.GetRawText(),
            };
            command.Parameters.AddWithValue($"$k{i}", parameter);
        }

        command.ExecuteNonQuery();
    }

    private Dictionary<string, StreamPosition> ReadCheckpoint(string materializer)
    {
        using var command = Command($"SELECT stream, position FROM {CheckpointTable} WHERE materializer = $p0", materializer);
        using var reader = command.ExecuteReader();
        var result = new Dictionary<string, StreamPosition>(StringComparer.Ordinal);
        while (reader.Read())
        {
            result[reader.GetString(0)] = StreamPosition.Parse(reader.GetString(1));
        }

        return result;
    }

    private string? Scalar(string sql, params object[] parameters)
    {
        using var command = Command(sql, parameters);
        return command.ExecuteScalar() as string;
    }

    private void Run(string sql, params object[] parameters)
    {
        using var command = Command(sql, parameters);
        command.ExecuteNonQuery();
    }

    private SqliteCommand Command(string sql, params object[] parameters)
    {
        var command = _connection.CreateCommand();
        command.Transaction = _transaction;
        command.CommandText = sql;
        for (var i = 0; i < parameters.Length; i++)
        {
            command.Parameters.AddWithValue($"$p{i}", parameters[i]);
        }

        return command;
    }
}
