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
        select.Parameters.AddWithValue("$after", after);
        select.Parameters.AddWithValue("$limit", limit);
        using var state = _connection.CreateCommand();
        state.CommandText = $"SELECT lsn, stream, position FROM {StateTable} WHERE target = $target AND key_text = $key";
        state.Parameters.AddWithValue("$target", target);
        var keyParameter = state.Parameters.Add("$key", SqliteType.Text);
        using var reader = select.ExecuteReader();
        long? last = null;
        var read = 0;
        while (reader.Read())
        {
            read++;
            last = reader.GetInt64(0);
            var values = new FieldValue[names.Length];
            for (var i = 0; i < names.Length; i++)
            {
                values[i] = StoredValue(reader.GetValue(1 + i));
            }

            var key = new Row(table.KeyColumns, [.. keyOrdinals.Select(o => values[o])]);
            keyParameter.Value = key.ToJson();
            ChangeVersion version;
            using (var stateReader = state.ExecuteReader())
            {
                version = stateReader.Read() ? VersionAt(stateReader, 0) : new ChangeVersion(null, string.Empty, StreamPosition.Start);
            }

            rows.Add(new StoredRow(key, new Row(names, values), version));
        }

        return (rows, read < limit ? null : last);
    }

    /// <summary>One page of the target's delete markers after key text <paramref name="after"/>, and the
    /// key text to continue after, null at the end.</summary>
    public (List<StoredRow> Rows, string? Next) ScanMarkersPage(string target, string after, int limit)
    {
        var rows = new List<StoredRow>(limit);
        using var select = _connection.CreateCommand();
        select.CommandText = $"SELECT key_text, lsn, stream, position FROM {StateTable} WHERE target = $target AND deleted = 1 AND key_text > $after ORDER BY key_text LIMIT $limit";
        select.Parameters.AddWithValue("$target", target);
        select.Parameters.AddWithValue("$after", after);
        select.Parameters.AddWithValue("$limit", limit);
        using var reader = select.ExecuteReader();
        string? last = null;
        var read = 0;
        while (reader.Read())
        {
            read++;
            last = reader.GetString(0);
            if (last != TruncateMarkerKey)
            {
                rows.Add(new StoredRow(StoredKeys.FromKeyText(last), null, VersionAt(reader, 1)));
            }
        }

        return (rows, read < limit ? null : last);
    }

    private static ChangeVersion VersionAt(SqliteDataReader reader, int first) =>
        new(reader.IsDBNull(first) ? null : reader.GetInt64(first), reader.GetString(first + 1), StreamPosition.Parse(reader.GetString(first + 2)));

    /// <summary>A stored value in SQLite's own storage classes; the comparison reads it by the log value's kind.</summary>
    private static FieldValue StoredValue(object value) => value switch
    {
        long l => FieldValue.FromInt64(l),
        double d => FieldValue.FromDouble(d),
        string s => FieldValue.FromString(s),
        byte[] b => FieldValue.FromBytes(b),
        _ => FieldValue.Null,
    };
}
