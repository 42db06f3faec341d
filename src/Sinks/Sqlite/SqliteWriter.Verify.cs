using Microsoft.Data.Sqlite;
using Sync.Engine.Verify;

namespace Sync.Sinks.Sqlite;

/// <summary>The sweep of <c>sync verify</c> (<see cref="ISink.ScanStoredRows"/>): the target's rows,
/// each with the version its <c>_sync_state</c> entry holds, then the target's delete markers.</summary>
internal sealed partial class SqliteWriter
{
    /// <summary>One page of the target's rows after rowid <paramref name="after"/>, and the rowid to continue
    /// after, null at the end. A row without a state entry (written behind sync's back) gets a version of
    /// no stream, which orders against nothing, so its values decide.</summary>
    public (List<StoredRow> Rows, long? Next) ScanStoredRowsPage(string target, long after, int limit)
    {
        var rows = new List<StoredRow>(limit);
        ForgetTablesChangedElsewhere();
        var table = LoadTable(target);
        if (table is null)
        {
            return (rows, null);
        }

        var names = table.Columns.Keys.ToArray();
        var keyOrdinals = table.KeyColumns.Select(k => Array.FindIndex(names, n => IdentifierComparer.Instance.Equals(n, k))).ToArray();
        using var select = _connection.CreateCommand();
        select.CommandText = $"SELECT rowid, {string.Join(", ", names.Select(Quote))} FROM {table.QuotedName} WHERE rowid > $after ORDER BY rowid LIMIT $limit";
        using var state = _connection.CreateCommand();
        state.CommandText = $"SELECT lsn, stream, position FROM {StateTable} WHERE target = $target AND key_text = $key";
        state.Parameters.AddWithValue("$target", target);
        var keyParameter = state.Parameters.Add("$key", SqliteType.Text);
        var full = ReadPage(select, after, limit, reader => reader.GetInt64(0), reader =>
        {
            var values = new FieldValue[names.Length];
            for (var i = 0; i < names.Length; i++)
            {
                values[i] = FromDbValue(reader.GetValue(1 + i));
            }

            var key = new Row(table.KeyColumns, [.. keyOrdinals.Select(o => values[o])]);
            keyParameter.Value = key.ToJson();
            ChangeVersion version;
            using (var stateReader = state.ExecuteReader())
            {
                version = stateReader.Read() ? VersionAt(stateReader, 0) : new ChangeVersion(null, string.Empty, StreamPosition.Start);
            }

            rows.Add(new StoredRow(key, new Row(names, values), version));
        }, out var last);
        return (rows, full ? last : null);
    }

    /// <summary>One page of the target's delete markers after key text <paramref name="after"/>, and the
    /// key text to continue after, null at the end.</summary>
    public (List<StoredRow> Rows, string? Next) ScanMarkersPage(string target, string after, int limit)
    {
        var rows = new List<StoredRow>(limit);
        using var select = _connection.CreateCommand();
        select.CommandText = $"SELECT key_text, lsn, stream, position FROM {StateTable} WHERE target = $target AND deleted = 1 AND key_text > $after ORDER BY key_text LIMIT $limit";
        select.Parameters.AddWithValue("$target", target);
        var full = ReadPage(select, after, limit, reader => reader.GetString(0), reader =>
        {
            var keyText = reader.GetString(0);
            if (keyText != TruncateMarkerKey)
            {
                rows.Add(new StoredRow(StoredKeys.FromKeyText(keyText), null, VersionAt(reader, 1)));
            }
        }, out var last);
        return (rows, full ? last : null);
    }

    /// <summary>Runs one page of a keyset scan (a <paramref name="select"/> with <c>$after</c> and
    /// <c>$limit</c> whose first column is the key it is ordered by): each row goes to
    /// <paramref name="readRow"/>, and <paramref name="last"/> is the key of the last row. True when the
    /// page came back full, so that more may follow after <paramref name="last"/>.</summary>
    private static bool ReadPage<TKey>(SqliteCommand select, TKey after, int limit, Func<SqliteDataReader, TKey> keyOf, Action<SqliteDataReader> readRow, out TKey last)
    {
        select.Parameters.AddWithValue("$after", after);
        select.Parameters.AddWithValue("$limit", limit);
        using var reader = select.ExecuteReader();
        last = after;
        var read = 0;
        while (reader.Read())
        {
            read++;
            last = keyOf(reader);
            readRow(reader);
        }

        return read > 0 && read == limit;
    }

    private static ChangeVersion VersionAt(SqliteDataReader reader, int first) =>
        new(reader.IsDBNull(first) ? null : reader.GetInt64(first), reader.GetString(first + 1), StreamPosition.Parse(reader.GetString(first + 2)));
}
