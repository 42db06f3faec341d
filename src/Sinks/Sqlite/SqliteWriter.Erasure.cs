using Microsoft.Data.Sqlite;

namespace Sync.Sinks.Sqlite;

/// <summary>Erasure (delete and count the rows holding a subject, erasure markers) and snapshot
/// reconciliation of a new source epoch.</summary>
internal sealed partial class SqliteWriter
{
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
    public long[] EraseMany(string target, SubjectMatches matches, DateTimeOffset now) =>
        EraseTogether([(target, matches)], now)[0];

    /// <summary><see cref="EraseMany"/> for several tables in ONE transaction (a consistency group's
    /// tables): a reader sees the subject in all of them or in none (SQLite's transactions are
    /// serializable, https://www.sqlite.org/isolation.html). Returns the rows removed per value, per
    /// table in order.</summary>
    public IReadOnlyList<long[]> EraseTogether(IReadOnlyList<(string Target, SubjectMatches Matches)> erasures, DateTimeOffset now)
    {
        ForgetTablesChangedElsewhere();
        var prepared = new List<SubjectErasure>(erasures.Count);
        foreach (var (target, matches) in erasures)
        {
            var table = LoadTable(target);
            var searchable = table is not null && table.Columns.ContainsKey(matches.Column);
            // A table keyed by the column alone: every value names a key, held or not.
            var soleKey = table is null
                ? matches.IsKey
                : table.KeyColumns.Length == 1 && IdentifierComparer.Instance.Equals(table.KeyColumns[0], matches.Column);
            prepared.Add(new(target, matches, table, searchable, soleKey));
        }

        if (!prepared.Any(e => e.Applies))
        {
            return [.. prepared.Select(e => new long[e.Matches.Values.Count])];
        }

        var time = FormatTime(now);
        return InTransaction<IReadOnlyList<long[]>>(
            _ => [.. prepared.Select(e => e.Applies ? EraseInTransaction(e, new BatchContext(e.Target, time)) : new long[e.Matches.Values.Count])]);
    }

    /// <summary>One table's part of an erase, the table read before the transaction.</summary>
    private sealed record SubjectErasure(string Target, SubjectMatches Matches, TableState? Table, bool Searchable, bool SoleKey)
    {
        public bool Applies => Searchable || SoleKey;
    }

    /// <summary>Deletes the table's rows and writes their erasure markers, in the open transaction.</summary>
    private long[] EraseInTransaction(SubjectErasure erasure, BatchContext context)
    {
        var (target, matches, table, searchable, soleKey) = erasure;
        var counts = new long[matches.Values.Count];
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
    /// <c>epochStart</c>. Erasure markers and LSN-less states are not live rows and stay.</summary>
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
                        mark.Parameters.AddWithValue("$lsn", epochStart);
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

    /// <summary>A stored value in SQLite's own storage classes (integers, reals, text, bytes), as the
    /// decoder would have produced it for the common key types; a comparison with a log value reads it
    /// by the log value's kind.</summary>
    private static FieldValue FromDbValue(object value) => value switch
    {
        long l => FieldValue.FromInt64(l),
        double d => FieldValue.FromDouble(d),
        string s => FieldValue.FromString(s),
        byte[] b => FieldValue.FromBytes(b),
        _ => FieldValue.Null,
    };

    /// <summary>One page of a sweep over the target (see <see cref="ISink.ScanColumn"/>): the column's text
    /// in the rows after rowid <paramref name="after"/>, and the rowid to continue after, null at the end.</summary>
    public (List<string> Values, long? Next) ScanColumnPage(string target, string column, long after, int limit)
    {
        var values = new List<string>(limit);
        ForgetTablesChangedElsewhere();
        var table = LoadTable(target);
        if (table is null || !table.Columns.ContainsKey(column))
        {
            return (values, null);
        }

        using var select = _connection.CreateCommand();
        select.CommandText = $"SELECT rowid, CAST({Quote(column)} AS TEXT) FROM {table.QuotedName} WHERE rowid > $after ORDER BY rowid LIMIT $limit";
        var full = ReadPage(select, after, limit, reader => reader.GetInt64(0), reader =>
        {
            if (!reader.IsDBNull(1))
            {
                values.Add(reader.GetString(1));
            }
        }, out var last);
        return (values, full ? last : null);
    }
}
