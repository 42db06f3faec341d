using System.Buffers.Binary;
using Npgsql;
using NpgsqlTypes;
using static Sync.Sinks.Postgres.PostgresIdentifiers;

namespace Sync.Sinks.Postgres;

/// <summary>The bulk load of a shadow table (see <see cref="ShadowLoad"/>): batches collapsed in memory
/// to the newest change per key and appended to the staging log in bounds, then one set-wise build that leaves exactly the rows and delete markers the guarded
/// path would have left.</summary>
/// <remarks>Why the build equals the guarded path: a change is appended only when it carries an LSN,
/// and between two changes that both carry one the LSN alone decides (<see cref="ChangeVersion.CompareTo"/>);
/// an equal LSN re-applies, so the later arrival wins. The guarded path therefore leaves, per key, the
/// change with the highest LSN and, among those, the last to arrive: the first row of
/// <c>DISTINCT ON (key) … ORDER BY key, lsn DESC, seq DESC</c> (the sequence number leads <c>_order</c>).
/// Holding keeps that order: a key's held change replaces the held one unless its LSN is lower (the
/// later of equal LSNs wins), and what is held reaches the log after everything already in it, with
/// higher sequence numbers; a change dropped as older than the held one is one the guarded path would
/// have skipped as stale, and one older than a change already in the log loses to it in the build. That change's row, with its version,
/// when it is an upsert; its delete marker (its version) when it is a delete. Nothing else of the
/// target is read by the guarded path while the shadow fills: no truncate is appended, no delete
/// marker exists (the shadow began empty) and every other operation on the shadow builds it first.
/// Only batches whose every change the guarded path would write are appended (the columns and the key
/// of the first batch, values that fit the table's types, a table whose only constraint is its primary
/// key); any other batch builds the shadow and takes the guarded path, rejections and all.</remarks>
internal sealed partial class PostgresWriter
{
    /// <summary>The staging log is unlogged: it is written once and read once, and a backfill that
    /// is interrupted starts again from an empty shadow anyway. A server crash empties it; the build
    /// counts its rows and refuses to build from a log that lost changes (see docs/benchmarks.md).</summary>
    private const string LogPersistence = "UNLOGGED";

    /// <summary>Memory for the build's sort and index builds, for its transaction only.</summary>
    private const string BuildMemory = "SET LOCAL work_mem = '256MB'; SET LOCAL maintenance_work_mem = '512MB'";

    /// <summary>The length of a log row's <c>_order</c>: its sequence number, the three parts of its
    /// stream position (big-endian <c>bigint</c>s) and a delete flag (1 for a delete) in one value.</summary>
    /// <remarks>One field instead of five: COPY's server-side cost grows with the fields of a row (a
    /// receive function call each), and the log's rows had eight besides the table's columns. The
    /// sequence number comes first and is never negative, so <c>_order</c> sorts as the sequence
    /// number does (bytes compare unsigned); only the newest change per key is taken apart.</remarks>
    private const int OrderLength = 33;

    /// <summary>The stream position of a log row <c>n</c>, as the version columns hold it.</summary>
    private const string LoggedPosition =
        "ARRAY[('x' || encode(substring(n._order FROM 9 FOR 8), 'hex'))::bit(64)::bigint, ('x' || encode(substring(n._order FROM 17 FOR 8), 'hex'))::bit(64)::bigint, ('x' || encode(substring(n._order FROM 25 FOR 8), 'hex'))::bit(64)::bigint]";

    /// <summary>True for a log row <c>n</c> of a delete.</summary>
    private const string LoggedDelete = "get_byte(n._order, 32) = 1";

    /// <summary>The staging log's name: a table of the state schema named after the shadow.</summary>
    internal static string ShadowLogName(string stateSchema, string shadowId) =>
        Qualified(stateSchema, "shadow_log_" + Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes(shadowId)))[..16]);

    /// <summary><see cref="ApplyAsync(SinkBatch, PostgresTarget, CancellationToken)"/> into a shadow being loaded: a batch that fits
    /// the log is appended to it in a transaction of its own; one that does not builds the shadow
    /// (committed) and takes the guarded path. What the load did in a transaction that rolled back is forgotten.</summary>
    /// <remarks>The append takes the shadow's target lock, exclusive, instead of a lock per key: no other
    /// writer can touch any key of the shadow meanwhile (a guarded writer takes the target lock shared
    /// first), and the batch's keys are neither rendered for the locks, hashed nor sorted.</remarks>
    public async Task<ApplyResult> ApplyToShadowAsync(SinkBatch batch, PostgresTarget shadow, ShadowLoad load, CancellationToken cancellationToken) =>
        await RestoringLoadAsync(load, () => InTransactionAsync(_ => AppendBatchInTransactionAsync(batch, shadow, load, cancellationToken), cancellationToken))
        ?? await ApplyAsync(batch, shadow, cancellationToken);

    /// <summary>Builds the shadow from its log, in a transaction of its own.</summary>
    public async Task<long> BuildShadowAsync(PostgresTarget shadow, ShadowLoad load, CancellationToken cancellationToken) =>
        await RestoringLoadAsync(load, () => InTransactionAsync(_ => BuildShadowInTransactionAsync(shadow, load, cancellationToken), cancellationToken));

    /// <summary>Runs <paramref name="work"/>; when it throws, the load is set back to where it was (its transaction rolled back).</summary>
    private static async Task<T> RestoringLoadAsync<T>(ShadowLoad load, Func<Task<T>> work)
    {
        var saved = load.Save();
        try
        {
            var result = await work();
            load.Commit();
            return result;
        }
        catch
        {
            load.Restore(saved);
            throw;
        }
    }

    /// <summary>In the open transaction: the batch appended to the log with its checkpoint, or null
    /// when it does not fit (the shadow is built then, and the caller applies the batch guarded).</summary>
    private async Task<ApplyResult?> AppendBatchInTransactionAsync(SinkBatch batch, PostgresTarget shadow, ShadowLoad load, CancellationToken cancellationToken)
    {
        var context = new BatchContext(shadow);
        await LockShadowAsync(batch, shadow, cancellationToken);
        if (!await AppendToShadowLogAsync(context, load, batch.Changes, cancellationToken))
        {
            return null;
        }

        await WriteCheckpointsAsync([(batch, shadow)], cancellationToken);
        if (batch.BeforeCommit is { } beforeCommit && await beforeCommit(context.Rejected, cancellationToken) is { Count: > 0 } letters)
        {
            await DeadLetters.InsertAsync(_connection, _transaction!, letters, cancellationToken);
        }

        return context.ToResult();
    }

    /// <summary>The shadow's target lock, exclusive, and with a conditional checkpoint its stored
    /// positions locked and checked (as <see cref="LockAsync"/> does), in one round trip.</summary>
    private async Task LockShadowAsync(SinkBatch batch, PostgresTarget shadow, CancellationToken cancellationToken)
    {
        await using var statements = new NpgsqlBatch(_connection, _transaction);
        var lockTarget = new NpgsqlBatchCommand("SELECT pg_advisory_xact_lock($1, 0)");
        lockTarget.Parameters.Add(new NpgsqlParameter<int> { TypedValue = LockHash(shadow.Id) });
        statements.BatchCommands.Add(lockTarget);
        if (IsConditional(batch))
        {
            statements.BatchCommands.Add(CheckpointLock(batch));
        }

        await statements.PrepareAsync(cancellationToken);
        await using var reader = await statements.ExecuteReaderAsync(cancellationToken);
        if (IsConditional(batch))
        {
            await reader.NextResultAsync(cancellationToken);
            await EnsureCheckpointUnchanged(batch, reader, cancellationToken);
        }
    }

    /// <summary>Holds the batch's changes as the newest per key, writes what is held to the log when
    /// <see cref="ShadowLoad.MaxHeldKeys"/> keys are held, and counts the batch; false, after building
    /// the shadow, when the batch does not fit the log (the caller then applies it on the guarded path).</summary>
    private async Task<bool> AppendToShadowLogAsync(BatchContext context, ShadowLoad load, IReadOnlyList<ChangeEvent> changes, CancellationToken cancellationToken)
    {
        if (load.Built)
        {
            return false;
        }

        var target = context.Target;
        var shape = load.State.Shape;
        if (!FitsShape(target, shape, changes, out var names, out var keyNames))
        {
            await BuildShadowInTransactionAsync(target, load, cancellationToken);
            return false;
        }

        if (changes.Count == 0)
        {
            return true;
        }

        if (shape is null)
        {
            shape = await FixShapeAsync(target, load, names!, keyNames!, changes, cancellationToken);
            if (shape is null)
            {
                await BuildShadowInTransactionAsync(target, load, cancellationToken);
                return false;
            }
        }
        else if (!FitsTypes(shape, changes))
        {
            await BuildShadowInTransactionAsync(target, load, cancellationToken);
            return false;
        }

        var deleted = 0;
        foreach (var change in changes)
        {
            load.Hold(change);
            deleted += change.IsDelete ? 1 : 0;
        }

        if (load.Held.Count >= load.MaxHeldKeys)
        {
            await WriteHeldAsync(load, shape, cancellationToken);
        }

        context.Deleted += deleted;
        context.Upserted += changes.Count - deleted;
        return true;
    }

    /// <summary>True when every change has a key, an LSN and, for an upsert, a full image of the
    /// shape's columns (the first upsert's, when there is no shape yet) that the guarded path would not reject for its names.</summary>
    private static bool FitsShape(PostgresTarget target, ShadowLoadShape? shape, IReadOnlyList<ChangeEvent> changes, out string[]? names, out string[]? keyNames)
    {
        names = shape?.Names;
        keyNames = shape?.KeyNames;
        if (names is null)
        {
            var first = changes.FirstOrDefault(c => !c.IsDelete && c.Op != ChangeOp.Truncate);
            if (first?.After is null)
            {
                return changes.Count == 0 && shape is null;
            }

            names = first.After.Names;
            keyNames = first.Key.Names;
        }

        // Every image has the shape's names, so their check is made once.
        if (CheckNames(target, names) is not null)
        {
            return false;
        }

        foreach (var change in changes)
        {
            if (change.Op == ChangeOp.Truncate || change.Key.Count == 0 || change.Source?.Lsn is null || !change.Key.Names.AsSpan().SequenceEqual(keyNames))
            {
                return false;
            }

            if (!change.IsDelete
                && (change.After is not { } image || !image.Names.AsSpan().SequenceEqual(names) || image.UnavailableColumns() is not null || RowImageChecks.MissingKey(keyNames!, image, Quote) is not null))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>True when each value fits its column's type (for a delete, each key value) and the
    /// first upsert's schema asks for no type the table does not hold.</summary>
    private static bool FitsTypes(ShadowLoadShape shape, IReadOnlyList<ChangeEvent> changes)
    {
        var schemaChecked = false;
        foreach (var change in changes)
        {
            if (change.IsDelete)
            {
                for (var k = 0; k < shape.KeyNames.Length; k++)
                {
                    if (shape.Types[Array.IndexOf(shape.Names, shape.KeyNames[k])].Check(change.Key.Values[k]) is not null)
                    {
                        return false;
                    }
                }

                continue;
            }

            var values = change.After!.Values;
            for (var i = 0; i < shape.Types.Length; i++)
            {
                if (shape.Types[i].Check(values[i]) is not null)
                {
                    return false;
                }
            }

            if (!schemaChecked)
            {
                // The guarded path checks the first row's schema of each group against the table.
                schemaChecked = true;
                for (var i = 0; i < shape.Names.Length; i++)
                {
                    if (change.After.Schema?.Find(shape.Names[i]) is { } column && !shape.Types[i].Holds(PostgresColumnType.FromSchema(column)))
                    {
                        return false;
                    }
                }
            }
        }

        return true;
    }

    /// <summary>With the first batch: creates or widens the shadow table as the guarded path would,
    /// and when the batch fits it and the table has no constraint but its primary key, drops the
    /// primary key and indexes (to be created again by the build) and creates the log. Null when the
    /// batch or the table does not allow the load.</summary>
    private async Task<ShadowLoadShape?> FixShapeAsync(PostgresTarget target, ShadowLoad load, string[] names, string[] keyNames, IReadOnlyList<ChangeEvent> changes, CancellationToken cancellationToken)
    {
        var group = new Group(names, IsDelete: false);
        group.Rows.AddRange(changes.Where(c => !c.IsDelete).Select(c => new Pending(c, c.Version)));

        // Rejections of this trial are made again, and counted, by the guarded path.
        var table = await EnsureTableAsync(new BatchContext(target), group, cancellationToken);
        if (table is null)
        {
            return null;
        }

        var shape = new ShadowLoadShape(names, keyNames, [.. names.Select(n => table.Columns[n])], []);
        if (!FitsTypes(shape, changes) || await CountConstraintsBesidesKeyAsync(target, cancellationToken) > 0)
        {
            return null;
        }

        shape = shape with { Indexes = await DropIndexesAsync(target, cancellationToken) };
        var definition = new StringBuilder("_key text NOT NULL, _lsn bigint NOT NULL, _order bytea NOT NULL, _stream text NOT NULL");
        for (var i = 0; i < names.Length; i++)
        {
            definition.Append(", c").Append(i.ToString(CultureInfo.InvariantCulture)).Append(' ').Append(shape.Types[i].StageType);
        }

        await ExecuteAsync($"DROP TABLE IF EXISTS {load.Log}; CREATE {LogPersistence} TABLE {load.Log} ({definition})", cancellationToken);
        load.State = load.State with { Shape = shape };
        return shape;
    }

    /// <summary>Constraints a bulk build could violate where the guarded path rejects one row: checks,
    /// foreign keys, unique indexes besides the primary key, NOT NULL on columns outside it, and triggers.</summary>
    private async Task<long> CountConstraintsBesidesKeyAsync(PostgresTarget target, CancellationToken cancellationToken)
    {
        await using var command = Command(
            """
            SELECT (SELECT count(*) FROM pg_constraint WHERE conrelid = r AND contype NOT IN ('p', 'n'))
              + (SELECT count(*) FROM pg_index WHERE indrelid = r AND indisunique AND NOT indisprimary)
              + (SELECT count(*) FROM pg_attribute a WHERE a.attrelid = r AND a.attnum > 0 AND NOT a.attisdropped AND a.attnotnull
                 AND NOT EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = r AND i.indisprimary AND a.attnum = ANY (i.indkey)))
              + (SELECT count(*) FROM pg_trigger WHERE tgrelid = r AND NOT tgisinternal)
            FROM (SELECT to_regclass($1) AS r) x
            """,
            new NpgsqlParameter<string> { TypedValue = target.Qualified });
        return (long)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    /// <summary>Drops the table's primary key and indexes; returns the DDL that creates them again, the primary key first.</summary>
    private async Task<IReadOnlyList<string>> DropIndexesAsync(PostgresTarget target, CancellationToken cancellationToken)
    {
        var create = new List<(bool Primary, string Sql)>();
        var drop = new List<string>();
        await using (var command = Command(
            """
            SELECT ic.relname, pg_get_indexdef(i.indexrelid), c.conname, pg_get_constraintdef(c.oid), i.indisprimary
            FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
            LEFT JOIN pg_constraint c ON c.conindid = i.indexrelid AND c.conrelid = i.indrelid AND c.contype IN ('p', 'u', 'x')
            WHERE i.indrelid = to_regclass($1)
            """,
            new NpgsqlParameter<string> { TypedValue = target.Qualified }))
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                if (reader.IsDBNull(2))
                {
                    create.Add((reader.GetBoolean(4), reader.GetString(1)));
                    drop.Add($"DROP INDEX {Quote(target.Schema)}.{Quote(reader.GetString(0))}");
                }
                else
                {
                    var constraint = Quote(reader.GetString(2));
                    create.Add((reader.GetBoolean(4), $"ALTER TABLE {target.Qualified} ADD CONSTRAINT {constraint} {reader.GetString(3)}"));
                    drop.Add($"ALTER TABLE {target.Qualified} DROP CONSTRAINT {constraint}");
                }
            }
        }

        foreach (var sql in drop)
        {
            await ExecuteAsync(sql, cancellationToken);
        }

        _tables.Remove(target.Id);
        return [.. create.OrderByDescending(c => c.Primary).Select(c => c.Sql)];
    }

    /// <summary>In the open transaction: the held changes appended to the log, let go once it commits.</summary>
    private async Task WriteHeldAsync(ShadowLoad load, ShadowLoadShape shape, CancellationToken cancellationToken)
    {
        if (load.Held.Count == 0)
        {
            return;
        }

        await CopyToLogAsync(load, shape, load.Held.Values.Select(h => h.Change), cancellationToken);
        load.State = load.State with { Appended = load.State.Appended + load.Held.Count, WriteOuts = load.State.WriteOuts + 1 };
        load.HeldWritten = true;
    }

    private async Task CopyToLogAsync(ShadowLoad load, ShadowLoadShape shape, IEnumerable<ChangeEvent> changes, CancellationToken cancellationToken)
    {
        var sql = new StringBuilder("COPY ").Append(load.Log).Append(" (_key, _lsn, _order, _stream");
        for (var i = 0; i < shape.Names.Length; i++)
        {
            sql.Append(", c").Append(i.ToString(CultureInfo.InvariantCulture));
        }

        sql.Append(") FROM STDIN (FORMAT BINARY)");
        await using var importer = await _connection.BeginBinaryImportAsync(sql.ToString(), cancellationToken);
        var sequence = load.State.Appended;
        var order = new byte[OrderLength];
        foreach (var change in changes)
        {
            var origin = change.Origin.Position;
            await importer.StartRowAsync(cancellationToken);
            BinaryPrimitives.WriteInt64BigEndian(order, sequence++);
            BinaryPrimitives.WriteInt64BigEndian(order.AsSpan(8), origin.Ledger);
            BinaryPrimitives.WriteInt64BigEndian(order.AsSpan(16), origin.Entry);
            BinaryPrimitives.WriteInt64BigEndian(order.AsSpan(24), origin.BatchIndex);
            order[32] = change.IsDelete ? (byte)1 : (byte)0;
            await importer.WriteAsync(change.KeyText, NpgsqlDbType.Text, cancellationToken);
            await importer.WriteAsync(change.Source!.Lsn!.Value, NpgsqlDbType.Bigint, cancellationToken);
            await importer.WriteAsync(order, NpgsqlDbType.Bytea, cancellationToken);
            await importer.WriteAsync(change.Origin.Topic, NpgsqlDbType.Text, cancellationToken);
            if (change.IsDelete)
            {
                // A delete needs only its key text: it leaves a delete marker, never a row.
                for (var i = 0; i < shape.Types.Length; i++)
                {
                    await importer.WriteNullAsync(cancellationToken);
                }

                continue;
            }

            var values = change.After!.Values;
            for (var i = 0; i < shape.Types.Length; i++)
            {
                await shape.Types[i].WriteAsync(importer, values[i], cancellationToken);
            }
        }

        await importer.CompleteAsync(cancellationToken);
    }

    /// <summary>In the open transaction: the newest change per key becomes the key's row (an upsert)
    /// or its delete marker (a delete), the primary key and indexes are created, the log is dropped.
    /// Returns the rows written.</summary>
    private async Task<long> BuildShadowInTransactionAsync(PostgresTarget shadow, ShadowLoad load, CancellationToken cancellationToken)
    {
        if (load.State.Shape is not { } shape)
        {
            load.State = load.State with { Built = true };
            return 0;
        }

        await ExecuteAsync(BuildMemory, cancellationToken);
        var written = await CopyHeldToShadowAsync(shadow, load, shape, cancellationToken) ?? await BuildFromLogAsync(shadow, load, shape, cancellationToken);
        foreach (var sql in shape.Indexes)
        {
            await using var index = Command(sql);
            index.CommandTimeout = 0;
            await index.ExecuteNonQueryAsync(cancellationToken);
        }

        await ExecuteAsync($"DROP TABLE {load.Log}", cancellationToken);
        _tables.Remove(shadow.Id);
        load.State = load.State with { Built = true };
        return written;
    }

    /// <summary>In the open transaction, when nothing reached the log (the whole history was held, so
    /// each key once) and every held value has a binary form of its column's type (<see cref="ShadowLoadColumns"/>):
    /// the held upserts COPYed straight into the shadow with their versions, the held deletes into the
    /// delete markers, as the build from the log would have left them. Returns the rows written, or null
    /// (nothing written) when the held changes have to go through the log.</summary>
    /// <remarks>Skips writing every row twice (the log, then the shadow) and reading the log back.</remarks>
    private async Task<long?> CopyHeldToShadowAsync(PostgresTarget shadow, ShadowLoad load, ShadowLoadShape shape, CancellationToken cancellationToken)
    {
        if (load.State.WriteOuts > 0 || ShadowLoadColumns.For(shape) is not { } columns || !columns.Fit(load.Held.Values))
        {
            return null;
        }

        var names = string.Join(", ", shape.Names.Select(Quote).Concat([Quote(shadow.LsnColumn), Quote(shadow.StreamColumn), Quote(shadow.PositionColumn)]));
        var position = new long[3];
        var written = 0L;
        await using (var importer = await _connection.BeginBinaryImportAsync($"COPY {shadow.Qualified} ({names}) FROM STDIN (FORMAT BINARY)", cancellationToken))
        {
            foreach (var held in load.Held.Values)
            {
                if (held.Change.IsDelete)
                {
                    continue;
                }

                await importer.StartRowAsync(cancellationToken);
                await columns.WriteAsync(importer, held.Change.After!.Values, cancellationToken);
                await WriteVersionAsync(importer, held.Version, position, cancellationToken);
                written++;
            }

            await importer.CompleteAsync(cancellationToken);
        }

        if (written < load.Held.Count)
        {
            // updated_at takes its default, now(), as the build's INSERT sets it.
            await using var importer = await _connection.BeginBinaryImportAsync($"COPY {_markers} (target, key_text, lsn, stream, position) FROM STDIN (FORMAT BINARY)", cancellationToken);
            foreach (var held in load.Held.Values)
            {
                if (held.Change.IsDelete)
                {
                    await importer.StartRowAsync(cancellationToken);
                    await importer.WriteAsync(shadow.Id, NpgsqlDbType.Text, cancellationToken);
                    await importer.WriteAsync(held.Change.KeyText, NpgsqlDbType.Text, cancellationToken);
                    await WriteVersionAsync(importer, held.Version, position, cancellationToken);
                }
            }

            await importer.CompleteAsync(cancellationToken);
        }

        load.HeldWritten = true;
        load.State = load.State with { WrittenDirect = true };
        return written;
    }

    /// <summary>In the open transaction: the held changes written to the log, and the newest change per
    /// key in the log written to the shadow (an upsert's row) or the delete markers (a delete). Returns the rows written.</summary>
    private async Task<long> BuildFromLogAsync(PostgresTarget shadow, ShadowLoad load, ShadowLoadShape shape, CancellationToken cancellationToken)
    {
        await WriteHeldAsync(load, shape, cancellationToken);
        await using (var count = Command($"SELECT count(*) FROM {load.Log}"))
        {
            count.CommandTimeout = 0;
            var held = (long)(await count.ExecuteScalarAsync(cancellationToken))!;
            if (held != load.State.Appended)
            {
                throw new InvalidOperationException(
                    $"the staging log {load.Log} of the shadow {shadow.Qualified} holds {held} of the {load.State.Appended} changes appended: the server restarted during the backfill and emptied the unlogged log; run the backfill again");
            }
        }

        var columns = shape.Names.Select((n, i) => new StagedColumn(n, shape.Types[i], "c" + i.ToString(CultureInfo.InvariantCulture))).ToArray();
        var names = string.Join(", ", shape.Names.Select(Quote).Concat([Quote(shadow.LsnColumn), Quote(shadow.StreamColumn), Quote(shadow.PositionColumn)]));
        var selected = string.Join(", ", columns.Select(c => Staged(c, "n")).Concat(["n._lsn", "n._stream", LoggedPosition]));

        // One write-out holds each key once (the held changes are a map by key text): nothing to choose, nothing to sort.
        var newest = load.State.WriteOuts > 1
            ? $"MATERIALIZED (SELECT DISTINCT ON (_key COLLATE \"C\") * FROM {load.Log} ORDER BY _key COLLATE \"C\", _lsn DESC, _order DESC)"
            : $"NOT MATERIALIZED (SELECT * FROM {load.Log})";
        long written;
        await using (var build = Command(
            $"""
            WITH newest AS {newest},
            written AS (
              INSERT INTO {shadow.Qualified} ({names}) SELECT {selected} FROM newest n WHERE NOT {LoggedDelete} RETURNING 1),
            marked AS (
              INSERT INTO {_markers} (target, key_text, lsn, stream, position, updated_at)
              SELECT $1, n._key, n._lsn, n._stream, {LoggedPosition}, now() FROM newest n WHERE {LoggedDelete})
            SELECT count(*) FROM written
            """,
            new NpgsqlParameter<string> { TypedValue = shadow.Id }))
        {
            build.CommandTimeout = 0;
            written = (long)(await build.ExecuteScalarAsync(cancellationToken))!;
        }

        return written;
    }
}
