using Npgsql;
using Sync.Engine.Verify;
using static Sync.Sinks.Postgres.PostgresIdentifiers;

namespace Sync.Sinks.Postgres;

/// <summary>The sweep of <c>sync verify</c> (<see cref="ISink.ScanStoredRows"/>): the target's rows with
/// their version columns, then its delete markers, a page at a time.</summary>
internal sealed partial class PostgresWriter
{
    /// <summary>The target's rows in the heap blocks <c>[first, first + count)</c> (a TID range scan:
    /// each page reads its own blocks only, so a sweep reads the table once; an <c>ORDER BY ctid</c>
    /// with a <c>LIMIT</c> made the planner sort the rest of the table for every page), each column read
    /// back as the decoder would have produced it, and the table's size in blocks, to know where the
    /// sweep ends. A null list: the table is gone or has no version columns.
    /// (TID range scans: https://www.postgresql.org/docs/15/release-14.html, "Allow efficient retrieval
    /// of heap rows via tid ranges".)</summary>
    public async Task<(List<StoredRow>? Rows, long Blocks)> ScanStoredRowsPageAsync(PostgresTarget target, long first, long count, CancellationToken cancellationToken)
    {
        var table = await LoadTableAsync(target, cancellationToken);
        if (table is null || !table.HasVersionColumns(target))
        {
            return (null, 0);
        }

        var columns = table.Columns.Where(c => !target.IsReserved(c.Key)).ToArray();
        var names = columns.Select(c => c.Key).ToArray();
        var keyOrdinals = table.KeyColumns.Select(k => Array.IndexOf(names, k)).ToArray();
        var sql = new StringBuilder("SELECT t.").Append(Quote(target.LsnColumn)).Append(", t.").Append(Quote(target.StreamColumn)).Append(", t.").Append(Quote(target.PositionColumn));
        foreach (var (name, type) in columns)
        {
            sql.Append(", ").Append(type.SelectExpression("t." + Quote(name)));
        }

        sql.Append(" FROM ").Append(target.Qualified).Append(" t WHERE t.ctid >= $1::text::tid AND t.ctid < $2::text::tid");
        var blocks = await RelationBlocksAsync(target, cancellationToken);
        var rows = new List<StoredRow>();
        await using var select = Command(
            sql.ToString(),
            new NpgsqlParameter { Value = Tid(first) },
            new NpgsqlParameter { Value = Tid(first + count) });
        await using var reader = await select.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            var values = new FieldValue[names.Length];
            for (var i = 0; i < names.Length; i++)
            {
                values[i] = columns[i].Value.Read(reader, 3 + i);
            }

            var key = new FieldValue[keyOrdinals.Length];
            for (var i = 0; i < key.Length; i++)
            {
                key[i] = values[keyOrdinals[i]];
            }

            rows.Add(new StoredRow(new Row(table.KeyColumns, key), new Row(names, values), VersionAt(reader, 0)));
        }

        return (rows, blocks);
    }

    /// <summary>The target's size in heap blocks, to know where a sweep by block ranges ends.</summary>
    private async Task<long> RelationBlocksAsync(PostgresTarget target, CancellationToken cancellationToken)
    {
        await using var size = Command("SELECT pg_relation_size(to_regclass($1)) / current_setting('block_size')::bigint", new NpgsqlParameter { Value = target.Qualified });
        return (long)(await size.ExecuteScalarAsync(cancellationToken) ?? 0L);
    }

    private static string Tid(long block) => "(" + block.ToString(CultureInfo.InvariantCulture) + ",0)";

    /// <summary>One page of the target's delete markers (the truncate marker left out) after key text
    /// <paramref name="after"/>, in key-text order along the markers' primary key, and the key text to
    /// continue after, null at the end.</summary>
    public async Task<(List<StoredRow> Rows, string? Next)> ScanMarkersPageAsync(PostgresTarget target, string? after, int limit, CancellationToken cancellationToken)
    {
        var rows = new List<StoredRow>(limit);
        await using var select = Command(
            $"SELECT key_text, lsn, stream, position FROM {_markers} WHERE target = $1 AND key_text > $2 ORDER BY key_text LIMIT {limit.ToString(CultureInfo.InvariantCulture)}",
            new NpgsqlParameter { Value = target.Id },
            new NpgsqlParameter { Value = after ?? string.Empty });
        await using var reader = await select.ExecuteReaderAsync(cancellationToken);
        string? last = null;
        var read = 0;
        while (await reader.ReadAsync(cancellationToken))
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

    /// <summary>The version stored in three columns from <paramref name="ordinal"/> on: lsn, stream, position.
    /// A row without one (written behind sync's back) gets a version of no stream, which orders against
    /// nothing, so its values decide.</summary>
    private static ChangeVersion VersionAt(NpgsqlDataReader reader, int ordinal)
    {
        if (reader.IsDBNull(ordinal + 1) || reader.IsDBNull(ordinal + 2))
        {
            return new ChangeVersion(reader.IsDBNull(ordinal) ? null : reader.GetInt64(ordinal), string.Empty, StreamPosition.Start);
        }

        var position = reader.GetFieldValue<long[]>(ordinal + 2);
        return new ChangeVersion(
            reader.IsDBNull(ordinal) ? null : reader.GetInt64(ordinal),
            reader.GetString(ordinal + 1),
            new StreamPosition(position[0], position[1], (int)position[2]));
    }
}
