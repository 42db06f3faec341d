using Npgsql;
using static Sync.Sinks.Postgres.PostgresIdentifiers;

namespace Sync.Sinks.Postgres;

/// <summary>Snapshot reconciliation of a new source epoch (ISink.ReconcileEpochAsync).</summary>
internal sealed partial class PostgresWriter
{
    private const int ReconcilePage = 1000;

    /// <summary>Deletes, in one transaction and pages of <see cref="ReconcilePage"/> rows, every row
    /// whose version columns say it was last written from <paramref name="stream"/> below order
    /// <paramref name="epochStart"/>, and leaves a delete marker for each at <c>epochStart</c>:
    /// newer than what it replaces, older than every change of the new epoch. Rows without an LSN
    /// and the markers table's erasure markers are not touched.</summary>
    public async Task<long> ReconcileEpochAsync(PostgresTarget target, string stream, long epochStart, CancellationToken cancellationToken)
    {
        var table = await LoadTableAsync(target, cancellationToken);
        if (table is null)
        {
            return 0;
        }

        return await InTransactionAsync(
            async _ =>
            {
                await LockTargetAsync(target, cancellationToken);
                var keyTypes = table.KeyColumns.Select(k => table.Columns[k]).ToArray();
                var returned = table.KeyColumns.Select((k, i) => keyTypes[i].SelectExpression("t." + Quote(k)))
                    .Concat([$"t.{Quote(target.PositionColumn)}"]);
                var lsn = Quote(target.LsnColumn);
                var streamColumn = Quote(target.StreamColumn);
                long removed = 0;
                while (true)
                {
                    var markers = new Markers();
                    await using (var delete = Command(
                        $"""
                        DELETE FROM {target.Qualified} t WHERE t.ctid IN (
                          SELECT ctid FROM {target.Qualified} WHERE {streamColumn} = $1 AND {lsn} < $2 LIMIT {ReconcilePage})
                        RETURNING {string.Join(", ", returned)}
                        """,
                        new NpgsqlParameter<string> { TypedValue = stream },
                        new NpgsqlParameter<long> { TypedValue = epochStart }))
                    {
                        await using var reader = await delete.ExecuteReaderAsync(cancellationToken);
                        var n = table.KeyColumns.Length;
                        while (await reader.ReadAsync(cancellationToken))
                        {
                            var values = new FieldValue[n];
                            for (var k = 0; k < n; k++)
                            {
                                values[k] = keyTypes[k].Read(reader, k);
                            }

                            var position = reader.IsDBNull(n) ? [-1L, -1L, -1L] : reader.GetFieldValue<long[]>(n);
                            markers.Add(new Row(table.KeyColumns, values).ToJson(), new ChangeVersion(epochStart, stream, new StreamPosition(position[0], position[1], (int)position[2])));
                        }
                    }

                    if (markers.Keys.Count > 0)
                    {
                        // A key that holds a marker already keeps the higher one (an erasure marker above all).
                        await using var write = Command(
                            $"""
                            INSERT INTO {_markers} AS m (target, key_text, lsn, stream, position, updated_at)
                            SELECT $1, k, l, s, ARRAY[a, b, c], now() FROM unnest($2::text[], $3::bigint[], $4::text[], $5::bigint[], $6::bigint[], $7::bigint[]) AS u(k, l, s, a, b, c)
                            ON CONFLICT (target, key_text) DO UPDATE SET lsn = excluded.lsn, stream = excluded.stream,
                              position = excluded.position, updated_at = excluded.updated_at
                            WHERE m.lsn IS NULL OR m.lsn < excluded.lsn
                            """,
                            [new NpgsqlParameter<string> { TypedValue = target.Id }, .. markers.Parameters()]);
                        await write.ExecuteNonQueryAsync(cancellationToken);
                    }

                    removed += markers.Keys.Count;
                    if (markers.Keys.Count < ReconcilePage)
                    {
                        return removed;
                    }
                }
            },
            cancellationToken);
    }
}
