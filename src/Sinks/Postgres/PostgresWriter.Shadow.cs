using Npgsql;
using static Sync.Sinks.Postgres.PostgresIdentifiers;

namespace Sync.Sinks.Postgres;

/// <summary>Shadow backfill: the shadow is a table <c>&lt;table&gt;__shadow</c> in the same schema with
/// its own delete markers; the swap renames it over the live table in one transaction.</summary>
internal sealed partial class PostgresWriter
{
    internal const string ShadowSuffix = "__shadow";
    internal const string OldSuffix = "__old";

    /// <summary>The erasure marker's LSN (<see cref="ChangeVersion.Erased"/>).</summary>
    private static readonly string ErasedLsn = long.MaxValue.ToString(CultureInfo.InvariantCulture);

    /// <summary>Drops what an earlier shadow left (its table, staging log, markers and checkpoint) and, when the live table exists, creates the shadow
    /// with its columns, version columns, defaults, constraints and indexes (<c>LIKE … INCLUDING ALL</c>),
    /// so that the swap keeps the indexes readers rely on. Returns the live checkpoint.</summary>
    public async Task<Dictionary<string, StreamPosition>> BeginShadowAsync(PostgresTarget live, PostgresTarget shadow, string shadowLog, string materializer, string checkpointName, CancellationToken cancellationToken)
    {
        try
        {
            return await InTransactionAsync(
                async _ =>
                {
                    await ExecuteAsync(
                        $"""
                        SELECT pg_advisory_xact_lock(hashtext({Literal(shadow.Id)}));
                        DROP TABLE IF EXISTS {shadow.Qualified};
                        DROP TABLE IF EXISTS {shadowLog};
                        DELETE FROM {_markers} WHERE target = {Literal(shadow.Id)};
                        DELETE FROM {_checkpoints} WHERE materializer = {Literal(checkpointName)};
                        """,
                        cancellationToken);
                    if (await ExistsAsync(live, cancellationToken))
                    {
                        await ExecuteAsync(
                            $"CREATE TABLE {shadow.Qualified} (LIKE {live.Qualified} INCLUDING ALL) WITH (fillfactor = {shadow.FillFactor.ToString(CultureInfo.InvariantCulture)})",
                            cancellationToken);
                    }

                    return await ReadCheckpointAsync(materializer, cancellationToken);
                },
                cancellationToken);
        }
        finally
        {
            _tables.Clear();
        }
    }

    /// <summary>In one transaction: locks the live table (waiting for the queries reading it), refuses
    /// when the live checkpoint moved since the shadow began, deletes from the shadow the keys the live
    /// table's erasure markers name and keeps those markers, replaces the live table (dropped, or
    /// renamed to <c>&lt;table&gt;__old</c>), renames the shadow to the live name, moves the shadow's
    /// markers and checkpoint to the live target and the materializer.</summary>
    public async Task<ShadowSwap> SwapShadowAsync(ShadowTarget target, PostgresTarget live, PostgresTarget shadow, bool keepOld, CancellationToken cancellationToken)
    {
        // Not `live with { … }`: the qualified name is computed once, at construction.
        var old = new PostgresTarget(live.Schema, live.Table + OldSuffix, live.Evolution, live.VersionColumn, live.FillFactor);
        try
        {
            return await InTransactionAsync(
                async _ =>
                {
                    var liveExists = await ExistsAsync(live, cancellationToken);
                    if (liveExists)
                    {
                        await ExecuteAsync($"LOCK TABLE {live.Qualified} IN ACCESS EXCLUSIVE MODE", cancellationToken);
                    }

                    await ExecuteAsync($"SELECT pg_advisory_xact_lock(hashtext({Literal(live.Id)}))", cancellationToken);
                    var now = await ReadCheckpointAsync(target.Materializer, cancellationToken);
                    if (target.LiveCheckpointMoved(now))
                    {
                        throw new ShadowSwapException(
                            $"table {live.Qualified}: the checkpoint of '{target.Materializer}' moved during the backfill ({DescribeCheckpoint(target.LiveCheckpoint)} -> {DescribeCheckpoint(now)}), so a `sync run` wrote to the live table; "
                            + $"{live.Qualified} is untouched and the shadow {shadow.Qualified} is left; stop `sync run` for '{target.Materializer}' and run the backfill again");
                    }

                    var erasedKeys = await CountAsync(
                        $"SELECT count(*) FROM {_markers} WHERE target = {Literal(live.Id)} AND lsn = {ErasedLsn} AND key_text <> '{TruncateMarkerKey}'",
                        cancellationToken);
                    var shadowTable = await LoadTableAsync(shadow, cancellationToken);
                    if (shadowTable is not null && erasedKeys > 0)
                    {
                        // The shadow was filled through the suppression ledger, but a subject erased while the
                        // backfill ran may have been applied to it before the ledger entry existed.
                        var keyObject = "jsonb_build_object(" + string.Join(", ", shadowTable.KeyColumns.Select(k => $"{Literal(k)}, t.{Quote(k)}")) + ")";
                        await ExecuteAsync(
                            $"""
                            DELETE FROM {shadow.Qualified} t USING {_markers} m
                            WHERE m.target = {Literal(live.Id)} AND m.lsn = {ErasedLsn} AND m.key_text <> '{TruncateMarkerKey}' AND m.key_text::jsonb = {keyObject}
                            """,
                            cancellationToken);
                    }

                    // Erasure markers stay (an erased subject stays erased); the live table's other markers
                    // describe versions of a table that is going away.
                    await ExecuteAsync(
                        $"""
                        DELETE FROM {_markers} WHERE target = {Literal(live.Id)} AND lsn IS DISTINCT FROM {ErasedLsn};
                        DELETE FROM {_markers} s WHERE s.target = {Literal(shadow.Id)} AND EXISTS (SELECT 1 FROM {_markers} l WHERE l.target = {Literal(live.Id)} AND l.key_text = s.key_text);
                        UPDATE {_markers} SET target = {Literal(live.Id)} WHERE target = {Literal(shadow.Id)};
                        DELETE FROM {_markers} WHERE target = {Literal(old.Id)};
                        """,
                        cancellationToken);

                    string oldFate;
                    if (!liveExists)
                    {
                        oldFate = "absent";
                    }
                    else if (keepOld)
                    {
                        await ExecuteAsync(
                            $"""
                            DROP TABLE IF EXISTS {old.Qualified};
                            ALTER TABLE {live.Qualified} RENAME TO {Quote(old.Table)};
                            """,
                            cancellationToken);
                        oldFate = $"kept as {old.Qualified}";
                    }
                    else
                    {
                        await ExecuteAsync($"DROP TABLE {live.Qualified}", cancellationToken);
                        oldFate = "dropped";
                    }

                    if (shadowTable is not null)
                    {
                        await ExecuteAsync($"ALTER TABLE {shadow.Qualified} RENAME TO {Quote(live.Table)}", cancellationToken);
                    }

                    await ExecuteAsync(
                        $"""
                        DELETE FROM {_checkpoints} WHERE materializer = {Literal(target.Materializer)};
                        UPDATE {_checkpoints} SET materializer = {Literal(target.Materializer)} WHERE materializer = {Literal(target.CheckpointName)};
                        """,
                        cancellationToken);
                    return new ShadowSwap(live.Qualified, oldFate, erasedKeys);
                },
                cancellationToken);
        }
        finally
        {
            _tables.Clear();
        }
    }

    private static string DescribeCheckpoint(IReadOnlyDictionary<string, StreamPosition> checkpoint) =>
        checkpoint.Count == 0 ? "none" : string.Join(", ", checkpoint.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => $"{p.Key} @ {p.Value}"));

    private async Task<bool> ExistsAsync(PostgresTarget target, CancellationToken cancellationToken)
    {
        await using var command = Command("SELECT to_regclass($1) IS NOT NULL", new NpgsqlParameter<string> { TypedValue = target.Qualified });
        return (bool)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    private async Task<long> CountAsync(string sql, CancellationToken cancellationToken)
    {
        await using var command = Command(sql);
        return (long)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    private async Task<Dictionary<string, StreamPosition>> ReadCheckpointAsync(string materializer, CancellationToken cancellationToken)
    {
        await using var command = Command($"SELECT stream, position FROM {_checkpoints} WHERE materializer = $1", new NpgsqlParameter<string> { TypedValue = materializer });
        var result = new Dictionary<string, StreamPosition>(StringComparer.Ordinal);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            result[reader.GetString(0)] = StreamPosition.Parse(reader.GetString(1));
        }

        return result;
    }
}
