using static Sync.Sinks.Postgres.PostgresIdentifiers;

namespace Sync.Sinks.Postgres;

/// <summary>The SQL text of a batch: the never-regress comparison and the statements of a group.
/// Building them runs nothing; the writer's I/O is in PostgresWriter.cs.</summary>
internal sealed partial class PostgresWriter
{
    /// <summary>
    /// The SQL of never-regress. A version is (lsn, stream, position); change c is older than stored s
    /// exactly when <see cref="Sync.Engine.Changes.ChangeVersion.CompareTo"/> says Older: both have an LSN and c's is lower,
    /// or they come from the same stream and c's position (ledger, entry, batch index, compared as a
    /// bigint array, lexicographically) is lower. Otherwise (newer, same, or not comparable) c may replace s.
    /// </summary>
    internal static string Older(string cLsn, string cStream, string cPosition, string sLsn, string sStream, string sPosition) =>
        $"(CASE WHEN {cLsn} IS NOT NULL AND {sLsn} IS NOT NULL THEN {cLsn} < {sLsn} WHEN {cStream} = {sStream} THEN {cPosition} < {sPosition} ELSE false END)";

    /// <remarks>Every lookup from a staged row into the target table or the markers is written so that
    /// it can only be an index probe per staged row (a correlated scalar subquery, or <c>= ANY(ARRAY(…))</c>):
    /// the staging table has no statistics and the markers table churns, and a hash or merge join would
    /// read the whole target per batch, making a batch O(table) instead of O(batch).
    /// <para>With <paramref name="kept"/> (a group of rows with unavailable columns), the upsert leaves
    /// those columns out of <c>DO UPDATE SET</c>, so a stored row keeps their values and a new row gets
    /// the staged null; it also counts the rows it inserted (<c>xmax = 0</c> in <c>RETURNING</c>: the
    /// row version was not locked by an update), the changes that had no stored value to keep.</para></remarks>
    private GroupSql GroupStatements(PostgresTarget target, TableInfo? table, bool isDelete, string stage, StagedColumn[] columns, bool inheritLsn, bool[]? kept = null)
    {
        var olderThanRow = Older("s._lsn", "s._stream", "s._pos", $"t.{Quote(target.LsnColumn)}", $"t.{Quote(target.StreamColumn)}", $"t.{Quote(target.PositionColumn)}");
        var olderThanMarker = Older("s._lsn", "s._stream", "s._pos", "m.lsn", "m.stream", "m.position");

        // The hot paths read the target's truncate marker once, as the CTE trunc (alias tr).
        var olderThanTruncate = Older("s._lsn", "s._stream", "s._pos", "tr.lsn", "tr.stream", "tr.position");
        var truncateMarker = $"trunc AS MATERIALIZED (\n  SELECT lsn, stream, position FROM {_markers} WHERE target = $1 AND key_text = '{TruncateMarkerKey}')";
        string keyMatch = string.Empty;
        StagedColumn leading = default;
        if (table is not null)
        {
            keyMatch = string.Join(" AND ", table.KeyColumns.Select(k => $"t.{Quote(k)} = {Staged(columns.First(c => c.Name == k), "s")}"));
            leading = columns.First(c => c.Name == table.KeyColumns[0]);
        }

        var markStale = new StringBuilder($"UPDATE {stage} s SET _stale = true WHERE ");
        if (table is not null)
        {
            markStale.Append($"coalesce((SELECT {olderThanRow} FROM {target.Qualified} t WHERE {keyMatch}), false) OR ");
        }

        markStale.Append($"coalesce((SELECT {olderThanMarker} FROM {_markers} m WHERE m.target = $1 AND m.key_text = s._key), false) OR ")
            .Append($"coalesce((SELECT {olderThanMarker} FROM {_markers} m WHERE m.target = $1 AND m.key_text = '{TruncateMarkerKey}'), false)");

        string? inherit = null;
        if (inheritLsn)
        {
            var fromRow = table is null ? "NULL::bigint" : $"(SELECT t.{Quote(target.LsnColumn)} FROM {target.Qualified} t WHERE {keyMatch})";
            inherit =
                $"""
                UPDATE {stage} s SET _lsn = coalesce({fromRow},
                  (SELECT m.lsn FROM {_markers} m WHERE m.target = $1 AND m.key_text = s._key),
                  (SELECT m.lsn FROM {_markers} m WHERE m.target = $1 AND m.key_text = '{TruncateMarkerKey}'))
                WHERE s._lsn IS NULL AND NOT s._stale
                """;
        }

        string? write;
        string? markers;
        if (isDelete)
        {
            // Delete the row unless it is newer (checked again: a concurrent writer may have committed
            // since the stale check), and keep the key's version as its delete marker. The target is
            // reached through its primary key index by the leading key column.
            write = table is null
                ? null
                : $"""
                  DELETE FROM {target.Qualified} t USING {stage} s
                  WHERE t.{Quote(leading.Name)} = ANY(ARRAY(SELECT {Staged(leading, "s")} FROM {stage} s WHERE NOT s._stale))
                    AND NOT s._stale AND {keyMatch} AND NOT {olderThanRow}
                  """;
            markers =
                $"""
                INSERT INTO {_markers} (target, key_text, lsn, stream, position, updated_at)
                SELECT $1, s._key, s._lsn, s._stream, s._pos, now() FROM {stage} s WHERE NOT s._stale
                ON CONFLICT (target, key_text) DO UPDATE SET lsn = excluded.lsn, stream = excluded.stream,
                  position = excluded.position, updated_at = excluded.updated_at
                """;
            if (table is not null && !inheritLsn)
            {
                // The hot path for deletes, one statement: each staged key probes its row and its marker
                // once (materialized, as for upserts) and the truncate marker is read once; the delete
                // checks the row's version again, as the general path does.
                var combined =
                    $"""
                    WITH {truncateMarker},
                    live AS MATERIALIZED (
                      SELECT s.*,
                        coalesce((SELECT {olderThanRow} FROM {target.Qualified} t WHERE {keyMatch}), false)
                        OR coalesce((SELECT {olderThanMarker} FROM {_markers} m WHERE m.target = $1 AND m.key_text = s._key), false)
                        OR coalesce((SELECT {olderThanTruncate} FROM trunc tr), false) AS _old
                      FROM {stage} s),
                    deleted AS (
                      DELETE FROM {target.Qualified} t USING live s
                      WHERE t.{Quote(leading.Name)} = ANY(ARRAY(SELECT {Staged(leading, "s")} FROM live s WHERE NOT s._old))
                        AND NOT s._old AND {keyMatch} AND NOT {olderThanRow}
                      RETURNING 1),
                    marked AS (
                      INSERT INTO {_markers} (target, key_text, lsn, stream, position, updated_at)
                      SELECT $1, s._key, s._lsn, s._stream, s._pos, now() FROM live s WHERE NOT s._old
                      ON CONFLICT (target, key_text) DO UPDATE SET lsn = excluded.lsn, stream = excluded.stream,
                        position = excluded.position, updated_at = excluded.updated_at
                      RETURNING 1)
                    SELECT (SELECT count(*) FROM live WHERE _old), (SELECT count(*) FROM live WHERE NOT _old), NULL::bigint
                    """;
                return new GroupSql([], null, null, null, combined);
            }
        }
        else
        {
            var names = columns.Select(c => Quote(c.Name)).Concat([Quote(target.LsnColumn), Quote(target.StreamColumn), Quote(target.PositionColumn)]).ToList();
            var selected = columns.Select(c => Staged(c, "s")).Concat(["s._lsn", "s._stream", "s._pos"]);
            var keptNames = kept is null ? [] : columns.Where((_, i) => kept[i]).Select(c => Quote(c.Name)).ToHashSet(StringComparer.Ordinal);
            var updates = names.Where(n => !table!.KeyColumns.Select(Quote).Contains(n) && !keptNames.Contains(n)).Select(n => $"{n} = excluded.{n}");
            var returning = kept is null ? "1" : "(t.xmax = 0) AS _inserted";
            var inserted = kept is null ? string.Empty : ", (SELECT count(*) FROM written WHERE _inserted)";
            var guard = Older(
                $"excluded.{Quote(target.LsnColumn)}", $"excluded.{Quote(target.StreamColumn)}", $"excluded.{Quote(target.PositionColumn)}",
                $"t.{Quote(target.LsnColumn)}", $"t.{Quote(target.StreamColumn)}", $"t.{Quote(target.PositionColumn)}");
            write =
                $"""
                INSERT INTO {target.Qualified} AS t ({string.Join(", ", names)})
                SELECT {string.Join(", ", selected)} FROM {stage} s WHERE NOT s._stale
                ON CONFLICT ({string.Join(", ", table!.KeyColumns.Select(Quote))}) DO UPDATE SET {string.Join(", ", updates)}
                WHERE NOT {guard}
                """;
            if (kept is not null)
            {
                // Rows with unavailable columns: the write also says how many rows it inserted.
                write = $"WITH written AS ({write}\nRETURNING {returning}) SELECT count(*), count(*) FILTER (WHERE _inserted) FROM written";
            }

            // The row now holds a newer version than any delete marker of its key.
            markers = $"DELETE FROM {_markers} m WHERE m.target = $1 AND m.key_text = ANY(ARRAY(SELECT s._key FROM {stage} s WHERE NOT s._stale))";
            if (!inheritLsn)
            {
                // The hot path, one statement: every row carries an LSN, so the row-version check is the
                // ON CONFLICT guard itself; one marker probe per staged row (a scalar subquery, so that it
                // stays an index probe rather than a join over all the target's markers; null: no marker,
                // 1: a marker the change supersedes, 2: a marker newer than the change) decides the marker
                // check and which markers the upsert supersedes; the truncate marker is read once.
                // The probes are computed in a materialized CTE: left inline, PostgreSQL copies the
                // subquery into every expression that reads _marker and probes each key three times.
                var combined =
                    $"""
                    WITH {truncateMarker},
                    probed AS MATERIALIZED (
                      SELECT s.*, (SELECT CASE WHEN {olderThanMarker} THEN 2 ELSE 1 END
                                   FROM {_markers} m WHERE m.target = $1 AND m.key_text = s._key) AS _marker,
                        coalesce((SELECT {olderThanTruncate} FROM trunc tr), false) AS _truncated
                      FROM {stage} s),
                    live AS NOT MATERIALIZED (
                      SELECT s.*, s._marker IS NOT NULL AS _marked, coalesce(s._marker = 2, false) OR s._truncated AS _old
                      FROM probed s),
                    written AS (
                      INSERT INTO {target.Qualified} AS t ({string.Join(", ", names)})
                      SELECT {string.Join(", ", selected)} FROM live s WHERE NOT s._old
                      ON CONFLICT ({string.Join(", ", table!.KeyColumns.Select(Quote))}) DO UPDATE SET {string.Join(", ", updates)}
                      WHERE NOT {guard}
                      RETURNING {returning}),
                    unmarked AS (
                      DELETE FROM {_markers} m WHERE m.target = $1 AND m.key_text = ANY(ARRAY(SELECT s._key FROM live s WHERE s._marked AND NOT s._old))
                      RETURNING 1)
                    SELECT (SELECT count(*) FROM live WHERE _old), (SELECT count(*) FROM live WHERE NOT _old), (SELECT count(*) FROM written){inserted}
                    """;
                return new GroupSql([], null, null, null, combined) { CountsInserted = kept is not null };
            }
        }

        return new GroupSql([markStale.ToString()], inherit, write, markers) { CountsInserted = kept is not null };
    }

    /// <summary>A staged column as the target's type: columns staged as text are cast by the server.</summary>
    private static string Staged(StagedColumn column, string alias) =>
        column.Type.Stage == StageKind.Text ? $"CAST({alias}.{column.Stage} AS {column.Type.Name})" : $"{alias}.{column.Stage}";

    /// <summary>The statements of a group: the general path (mark stale, inherit LSNs, write, markers,
    /// counts) or, for upserts that all carry an LSN, one <see cref="Combined"/> statement.</summary>
    private sealed record GroupSql(IReadOnlyList<string> MarkStale, string? InheritLsn, string? Write, string? Markers, string? Combined = null)
    {
        /// <summary>The upsert also returns how many rows it inserted: the combined statement as a fourth
        /// column, the separate write as a result of its own (written, inserted) before the counts.</summary>
        public bool CountsInserted { get; init; }
    }
}
