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

    /// <summary>In one transaction: locks the live tables (waiting for the queries reading them), refuses
    /// when a live checkpoint moved since its shadow began, and for each shadow deletes the keys the live
    /// table's erasure markers name and keeps those markers, replaces the live table (dropped, or renamed
    /// to <c>&lt;table&gt;__old</c>), renames the shadow to the live name, moves the shadow's markers and
    /// checkpoint to the live target and the materializer; then moves the <paramref name="checkpoints"/>.
    /// Several tables are locked with a lock timeout: a reader holding one of them while it waits for
    /// another would otherwise wait for the swap in a cycle, which PostgreSQL resolves by cancelling one
    /// of the two (https://www.postgresql.org/docs/current/explicit-locking.html#LOCKING-DEADLOCKS);
    /// the swap gives way instead, rolls back and tries again.</summary>
    public async Task<IReadOnlyList<ShadowSwap>> SwapShadowsAsync(IReadOnlyList<(ShadowTarget Target, PostgresTarget Live, PostgresTarget Shadow)> shadows, IReadOnlyList<ShadowCheckpoint> checkpoints, bool keepOld, CancellationToken cancellationToken)
    {
        try
        {
            for (var attempt = 1; ; attempt++)
            {
                try
                {
                    return await InTransactionAsync<IReadOnlyList<ShadowSwap>>(
                        async _ =>
                        {
                            if (shadows.Count > 1)
                            {
                                await ExecuteAsync($"SET LOCAL lock_timeout = '{SwapLockTimeout.TotalMilliseconds.ToString(CultureInfo.InvariantCulture)}ms'", cancellationToken);
                            }

                            var exists = new List<bool>();
                            foreach (var (_, live, _) in shadows)
                            {
                                var liveExists = await ExistsAsync(live, cancellationToken);
                                if (liveExists)
                                {
                                    await ExecuteAsync($"LOCK TABLE {live.Qualified} IN ACCESS EXCLUSIVE MODE", cancellationToken);
                                }

                                exists.Add(liveExists);
                            }

                            foreach (var (target, live, shadow) in shadows)
                            {
                                await ExecuteAsync($"SELECT pg_advisory_xact_lock(hashtext({Literal(live.Id)}))", cancellationToken);
                                var now = await ReadCheckpointAsync(target.Materializer, cancellationToken);
                                if (target.LiveCheckpointMoved(now))
                                {
                                    throw new ShadowSwapException(
                                        $"table {live.Qualified}: the checkpoint of '{target.Materializer}' moved during the backfill ({DescribeCheckpoint(target.LiveCheckpoint)} -> {DescribeCheckpoint(now)}), so a `sync run` wrote to the live table; "
                                        + $"{live.Qualified} is untouched and the shadow {shadow.Qualified} is left; stop `sync run` for '{target.Materializer}' and run the backfill again");
                                }
                            }

                            foreach (var checkpoint in checkpoints)
                            {
                                var now = await ReadCheckpointAsync(checkpoint.Materializer, cancellationToken);
                                if (checkpoint.LiveCheckpointMoved(now))
                                {
                                    throw new ShadowSwapException(
                                        $"the checkpoint of '{checkpoint.Materializer}' moved during the backfill ({DescribeCheckpoint(checkpoint.LiveCheckpoint)} -> {DescribeCheckpoint(now)}), so a `sync run` wrote to the live tables; "
                                        + $"{string.Join(", ", shadows.Select(s => s.Live.Qualified))} are untouched and the shadows are left; stop `sync run` and run the backfill again");
                                }
                            }

                            var swaps = new List<ShadowSwap>(shadows.Count);
                            for (var i = 0; i < shadows.Count; i++)
                            {
                                swaps.Add(await SwapLockedShadowAsync(shadows[i].Target, shadows[i].Live, shadows[i].Shadow, exists[i], keepOld, cancellationToken));
                            }

                            foreach (var checkpoint in checkpoints)
                            {
                                await MoveCheckpointAsync(checkpoint.Materializer, checkpoint.CheckpointName, cancellationToken);
                            }

                            return swaps;
                        },
                        cancellationToken);
                }
                catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.LockNotAvailable && attempt < SwapLockAttempts)
                {
                    // Readers held a table the swap waited for; they go on, and the swap queues again.
                    await Task.Delay(SwapLockTimeout, cancellationToken);
                }
            }
        }
        finally
        {
            _tables.Clear();
        }
    }

    /// <summary>How long a swap of several tables waits for one table's lock before it gives way: below
    /// PostgreSQL's default deadlock_timeout (1 s), so that the swap gives way before a reader is cancelled.</summary>
    private static readonly TimeSpan SwapLockTimeout = TimeSpan.FromMilliseconds(200);

    private const int SwapLockAttempts = 300;

    private async Task<ShadowSwap> SwapLockedShadowAsync(ShadowTarget target, PostgresTarget live, PostgresTarget shadow, bool liveExists, bool keepOld, CancellationToken cancellationToken)
    {
        // Not `live with { … }`: the qualified name is computed once, at construction.
        var old = new PostgresTarget(live.Schema, live.Table + OldSuffix, live.Evolution, live.VersionColumn, live.FillFactor);
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

        await MoveCheckpointAsync(target.Materializer, target.CheckpointName, cancellationToken);
        return new ShadowSwap(live.Qualified, oldFate, erasedKeys);
    }

    private async Task MoveCheckpointAsync(string materializer, string shadowCheckpoint, CancellationToken cancellationToken) =>
        await ExecuteAsync(
            $"""
            DELETE FROM {_checkpoints} WHERE materializer = {Literal(materializer)};
            UPDATE {_checkpoints} SET materializer = {Literal(materializer)} WHERE materializer = {Literal(shadowCheckpoint)};
            """,
            cancellationToken);

    /// <summary>Drops what an earlier backfill left under <paramref name="shadowCheckpoint"/>; returns the live checkpoint.</summary>
    public async Task<Dictionary<string, StreamPosition>> BeginShadowCheckpointAsync(string materializer, string shadowCheckpoint, CancellationToken cancellationToken) =>
        await InTransactionAsync(
            async _ =>
            {
                await ExecuteAsync($"DELETE FROM {_checkpoints} WHERE materializer = {Literal(shadowCheckpoint)}", cancellationToken);
                return await ReadCheckpointAsync(materializer, cancellationToken);
            },
            cancellationToken);

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
