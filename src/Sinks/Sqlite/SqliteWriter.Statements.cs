namespace Sync.Sinks.Sqlite;

/// <summary>The SQL text the writer prepares: the state, checkpoint and table-shape statements, and
/// per target table its upsert and its statements by key. Building them runs nothing; the writer's
/// I/O is in SqliteWriter.cs.</summary>
internal sealed partial class SqliteWriter
{
    private static readonly string ReadStateSql =
        $"SELECT lsn, stream, position, deleted FROM {StateTable} WHERE target = $target AND key_text = $key";

    private static readonly string WriteStateSql =
        $"""
        INSERT INTO {StateTable} (target, key_text, lsn, stream, position, deleted, updated_at)
        VALUES ($target, $key, $lsn, $stream, $position, $deleted, $now)
        ON CONFLICT (target, key_text) DO UPDATE SET lsn = excluded.lsn, stream = excluded.stream,
          position = excluded.position, deleted = excluded.deleted, updated_at = excluded.updated_at
        """;

    private static readonly string ReadTargetStatesSql =
        $"SELECT key_text, lsn, stream, position, deleted FROM {StateTable} WHERE target = $target AND key_text <> '{TruncateMarkerKey}'";

    private static readonly string MarkTargetTruncatedSql =
        $"""
        UPDATE {StateTable} SET deleted = 1, lsn = coalesce($lsn, lsn), stream = $stream, position = $position, updated_at = $now
        WHERE target = $target AND key_text <> '{TruncateMarkerKey}'
        """;

    private static readonly string WriteCheckpointSql =
        $"""
        INSERT INTO {CheckpointTable} (materializer, stream, position, updated_at) VALUES ($materializer, $stream, $position, $now)
        ON CONFLICT (materializer, stream) DO UPDATE SET position = excluded.position, updated_at = excluded.updated_at
        """;

    private static readonly string ReadCheckpointsSql =
        $"SELECT stream, position FROM {CheckpointTable} WHERE materializer = $materializer";

    private const string ReadTableSql = "SELECT name, type, pk FROM pragma_table_info($table) ORDER BY cid";

    internal static string Quote(string identifier) => "\"" + identifier.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";

    private static string Describe(IEnumerable<string> names) => string.Join(", ", names.Select(Quote));

    /// <summary><c>INSERT … ON CONFLICT (pk) DO UPDATE SET</c> every non-key column not marked in
    /// <paramref name="kept"/> (<c>DO NOTHING</c> when none is left); parameters <c>$p0…</c> in the order of <paramref name="names"/>.</summary>
    private static string UpsertSql(string quotedTable, string[] keyColumns, string[] names, bool[]? kept)
    {
        var sql = new StringBuilder("INSERT INTO ").Append(quotedTable).Append(" (")
            .AppendJoin(", ", names.Select(Quote)).Append(") VALUES (")
            .AppendJoin(", ", names.Select((_, i) => "$p" + i.ToString(CultureInfo.InvariantCulture)))
            .Append(") ON CONFLICT (").AppendJoin(", ", keyColumns.Select(Quote)).Append(") DO ");
        var updates = names
            .Where((n, i) => !Array.Exists(keyColumns, k => IdentifierComparer.Instance.Equals(k, n)) && kept?[i] != true)
            .Select(n => $"{Quote(n)} = excluded.{Quote(n)}").ToList();
        sql.Append(updates.Count == 0 ? "NOTHING" : "UPDATE SET " + string.Join(", ", updates));
        return sql.ToString();
    }

    /// <summary>A statement (<c>SELECT 1 FROM</c>, <c>DELETE FROM</c>) on the rows whose key columns
    /// equal parameters <c>$k0…</c> in key order.</summary>
    private static string ByKeySql(string statement, string quotedTable, string[] keyColumns) =>
        new StringBuilder(statement).Append(quotedTable).Append(" WHERE ")
            .AppendJoin(" AND ", keyColumns.Select((k, i) => $"{Quote(k)} = $k{i.ToString(CultureInfo.InvariantCulture)}"))
            .ToString();
}
