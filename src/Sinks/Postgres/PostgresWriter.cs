using Npgsql;
using NpgsqlTypes;
using static Sync.Sinks.Postgres.PostgresIdentifiers;

namespace Sync.Sinks.Postgres;

/// <summary>
/// Writes batches over one open connection. Per batch, one transaction:
/// <list type="number">
/// <item>advisory locks on the batch's keys (or its whole target), so that concurrent writers of a key
/// take turns (<see cref="LockAsync"/>), sent with the batch's first statement (PostgresWriter.Start.cs);</item>
/// <item>the batch is folded to one change per key (ChangeVersion order) and split at truncates;</item>
/// <item>per column set whose rows all carry an LSN (the hot path), one round trip of one prepared
/// statement that reads the rows from array parameters (<see cref="ArraySource"/>) and does what the
/// general path does; otherwise the rows are binary-COPied into a temporary staging table, then one round trip
/// runs: mark stale rows (older than the row's version, the key's delete marker or the target's
/// truncate marker), <c>INSERT … SELECT … ON CONFLICT (pk) DO UPDATE … WHERE</c> the stored version is
/// not newer (or <c>DELETE … USING</c> plus delete markers), and the counts;</item>
/// <item>the checkpoint rows (a lone batch's right after its locks), then <see cref="SinkBatch.BeforeCommit"/> with the rejections, then COMMIT.</item>
/// </list>
/// A statement that fails for a row-level reason (class 21, 22, 23, 54) is rolled back to its savepoint
/// and the rows are halved until the poison rows are isolated and rejected; the rest applies.
/// Not thread-safe: <see cref="PostgresSink"/> serializes calls.
/// </summary>
internal sealed partial class PostgresWriter : IAsyncDisposable
{
    /// <summary>The key text of a target's truncate marker; every real key text is a JSON object.</summary>
    internal const string TruncateMarkerKey = "*";

    /// <summary>The most keys a batch locks one by one; a batch with more locks its whole target
    /// (<see cref="LockAsync"/>). Advisory locks live in PostgreSQL's shared lock table, which holds
    /// about <c>max_locks_per_transaction × (max_connections + max_prepared_transactions)</c> locks
    /// (6,400 with the defaults) for all sessions together, and a transaction that finds it full fails
    /// with "out of shared memory"; 1,000 is the runtime's default <c>batchSize</c>.</summary>
    internal const int KeyLockLimit = 1000;

    private readonly NpgsqlConnection _connection;
    private readonly string _markers;
    private readonly string _checkpoints;
    private readonly string _targets;

    /// <summary>Materializers whose target this connection has recorded in <c>_targets</c> (forgotten on rollback).</summary>
    private readonly HashSet<(string Materializer, string Target)> _recorded = [];
    private readonly Dictionary<string, TableInfo?> _tables = new(StringComparer.Ordinal);
    private NpgsqlTransaction? _transaction;

    /// <summary>The connection's staging tables by their column definitions: temporary,
    /// <c>ON COMMIT DELETE ROWS</c>, created once per connection rather than once per batch, so that a
    /// batch writes no catalog rows and its statements keep the same text.</summary>
    private readonly Dictionary<string, string> _stageTables = new(StringComparer.Ordinal);

    private int _stageNumber;

    /// <summary>Staging tables created by the open transaction (gone if it rolls back).</summary>
    private readonly List<string> _stagesCreated = [];

    /// <summary>Staging tables that already hold rows of the open transaction.</summary>
    private readonly HashSet<string> _stagesUsed = new(StringComparer.Ordinal);

    /// <summary>The fold's key index and result, and the groups' row lists, kept from one segment to the
    /// next (a writer applies one segment at a time): per batch they were a quarter of the bytes the
    /// process allocated per event (docs/benchmarks.md, "CPU per event").</summary>
    private readonly Dictionary<string, int> _foldIndex = new(StringComparer.Ordinal);
    private readonly List<Pending> _folded = [];
    private readonly Stack<List<Pending>> _spareRows = new();
    private readonly List<List<Pending>> _rowsInUse = [];

    private PostgresWriter(NpgsqlConnection connection, string stateSchema)
    {
        _connection = connection;
        _markers = Qualified(stateSchema, "delete_markers");
        _checkpoints = Qualified(stateSchema, "checkpoints");
        _targets = Qualified(stateSchema, "targets");
        DeadLetters = new PostgresDeadLetters(stateSchema);
    }

    /// <summary>The dead-letter table (<c>deadLetterTarget: table</c>).</summary>
    public PostgresDeadLetters DeadLetters { get; }

    /// <summary>The open connection, for the dead-letter table's own statements.</summary>
    public NpgsqlConnection Connection => _connection;

    /// <summary>The server process id of the connection (for diagnostics and tests).</summary>
    public int ProcessId => _connection.ProcessID;

    /// <summary>When the server this connection reached last started (<c>pg_postmaster_start_time()</c>):
    /// it changes with every restart, crash recovery, restore or failover to another server.</summary>
    public DateTime ServerStartedAt { get; private set; }

    public static async Task<PostgresWriter> OpenAsync(string connectionString, string stateSchema, CancellationToken cancellationToken)
    {
        var connection = new NpgsqlConnection(connectionString);
        try
        {
            await connection.OpenAsync(cancellationToken);
            var writer = new PostgresWriter(connection, stateSchema);
            await writer.CreateStateTablesAsync(stateSchema, cancellationToken);
            writer.ServerStartedAt = await writer.ReadServerStartAsync(cancellationToken);
            return writer;
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
    }

    /// <summary>"pg_postmaster_start_time() → timestamp with time zone: Returns the time when the
    /// server started" (https://www.postgresql.org/docs/current/functions-info.html), callable by any
    /// user. The control-data functions there (<c>pg_control_system()</c>'s system_identifier,
    /// <c>pg_control_checkpoint()</c>'s timeline_id) are not used: they do not change when a copy of the
    /// same cluster's data directory is put back, and a restore, a crash restart and a failover to
    /// another server all start a postmaster anew.</summary>
    public async Task<DateTime> ReadServerStartAsync(CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand("SELECT pg_postmaster_start_time()", _connection);
        return (DateTime)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    /// <summary>Removes delete and truncate markers written before <paramref name="cutoff"/>.</summary>
    public async Task<int> PruneMarkersAsync(DateTimeOffset cutoff, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand($"DELETE FROM {_markers} WHERE updated_at < $1", _connection);
        command.Parameters.Add(new NpgsqlParameter<DateTime> { TypedValue = cutoff.UtcDateTime });
        return await command.ExecuteNonQueryAsync(cancellationToken);
    }

    public async Task<Dictionary<string, StreamPosition>> LoadCheckpointAsync(string materializer, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand($"SELECT stream, position FROM {_checkpoints} WHERE materializer = $1", _connection);
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = materializer });
        var result = new Dictionary<string, StreamPosition>(StringComparer.Ordinal);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            result[reader.GetString(0)] = StreamPosition.Parse(reader.GetString(1));
        }

        return result;
    }

    /// <summary>Inserts each entry unless one of its name is stored (ON CONFLICT DO NOTHING), one statement
    /// per entry in the given order and all in one transaction, then reads them back: a racing caller
    /// waits on the first row's insert and then stores nothing (ISink.AddCheckpointEntriesAsync).</summary>
    public async Task<IReadOnlyDictionary<string, StreamPosition>?> AddCheckpointEntriesAsync(
        string materializer, IReadOnlyList<KeyValuePair<string, StreamPosition>> entries, CancellationToken cancellationToken) =>
        await InTransactionAsync<IReadOnlyDictionary<string, StreamPosition>?>(
            async _ =>
            {
                foreach (var (stream, position) in entries)
                {
                    await using var insert = Command(
                        $"INSERT INTO {_checkpoints} (materializer, stream, position, updated_at) VALUES ($1, $2, $3, now()) ON CONFLICT (materializer, stream) DO NOTHING",
                        new NpgsqlParameter<string> { TypedValue = materializer },
                        new NpgsqlParameter<string> { TypedValue = stream },
                        new NpgsqlParameter<string> { TypedValue = position.ToString() });
                    await insert.ExecuteNonQueryAsync(cancellationToken);
                }

                await using var read = Command(
                    $"SELECT stream, position FROM {_checkpoints} WHERE materializer = $1 AND stream = ANY($2)",
                    new NpgsqlParameter<string> { TypedValue = materializer },
                    new NpgsqlParameter<string[]> { TypedValue = [.. entries.Select(e => e.Key)] });
                var stored = new Dictionary<string, StreamPosition>(StringComparer.Ordinal);
                await using var reader = await read.ExecuteReaderAsync(cancellationToken);
                while (await reader.ReadAsync(cancellationToken))
                {
                    stored[reader.GetString(0)] = StreamPosition.Parse(reader.GetString(1));
                }

                return stored;
            },
            cancellationToken);

    /// <summary>Records the table as the materializer's target once it exists (in the batch's
    /// transaction, once per connection), so that a later run can tell a moved or dropped target from
    /// one that no row has created yet.</summary>
    private async Task RecordTargetAsync(string materializer, PostgresTarget target, CancellationToken cancellationToken)
    {
        var name = Display(target);
        if (_recorded.Contains((materializer, name)))
        {
            return;
        }

        await using var command = Command(
            $"""
            INSERT INTO {_targets} (materializer, target, updated_at) SELECT $1, $2, now() WHERE to_regclass($3) IS NOT NULL
            ON CONFLICT (materializer) DO UPDATE SET target = excluded.target, updated_at = excluded.updated_at
            """,
            new NpgsqlParameter<string> { TypedValue = materializer },
            new NpgsqlParameter<string> { TypedValue = name },
            new NpgsqlParameter<string> { TypedValue = target.Qualified });
        if (await command.ExecuteNonQueryAsync(cancellationToken) > 0)
        {
            _recorded.Add((materializer, name));
        }
    }

    private static string Display(PostgresTarget target) => $"{target.Schema}.{target.Table}";

    /// <summary>See <see cref="ISink.FindMissingTargetAsync"/>: an existing target is recorded (a
    /// checkpoint stored before targets were recorded counts from now on); a missing one is reported
    /// when a target was recorded for the materializer.</summary>
    public async Task<MissingTarget?> FindMissingTargetAsync(string materializer, PostgresTarget target, CancellationToken cancellationToken)
    {
        var name = Display(target);
        await using var command = new NpgsqlCommand(
            $"""
            WITH present AS (SELECT to_regclass($3) IS NOT NULL AS e),
            recorded AS (
              INSERT INTO {_targets} (materializer, target, updated_at) SELECT $1, $2, now() FROM present WHERE e
              ON CONFLICT (materializer) DO UPDATE SET target = excluded.target, updated_at = excluded.updated_at
              RETURNING 1)
            SELECT (SELECT e FROM present), (SELECT target FROM {_targets} WHERE materializer = $1), (SELECT count(*) FROM recorded)
            """, _connection);
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = materializer });
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = name });
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = target.Qualified });
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        return reader.GetBoolean(0) || reader.IsDBNull(1) ? null : new MissingTarget(name, reader.GetString(1));
    }

    /// <summary>Applies the batch in one transaction. Poison rows are rejected and the rest applied;
    /// any other exception rolls the whole batch back (the caller discards or retries).</summary>
    public async Task<ApplyResult> ApplyAsync(SinkBatch batch, PostgresTarget target, CancellationToken cancellationToken) =>
        await ApplyAsync(batch, target, null, cancellationToken);

    /// <summary><see cref="ApplyAsync(SinkBatch, PostgresTarget, CancellationToken)"/>, appending the
    /// changes to the staging log of a shadow being loaded when they fit it (PostgresWriter.ShadowLoad.cs).</summary>
    private async Task<ApplyResult> ApplyAsync(SinkBatch batch, PostgresTarget target, ShadowLoad? load, CancellationToken cancellationToken)
    {
        var context = new BatchContext(target);
        _stagesCreated.Clear();
        _stagesUsed.Clear();
        try
        {
            return await InTransactionAsync(
                async transaction =>
                {
                    await LockAsync([(batch, target)], cancellationToken);
                    var logged = load is not null && await AppendToShadowLogAsync(context, load, batch.Changes, cancellationToken);
                    if (!logged)
                    {
                        await ApplyChangesAsync(context, batch.Changes, cancellationToken);
                    }

                    await WriteCheckpointsAsync([(batch, target)], cancellationToken);

                    if (batch.BeforeCommit is { } beforeCommit && await beforeCommit(context.Rejected, cancellationToken) is { Count: > 0 } letters)
                    {
                        // In the batch's transaction: the letters commit with the checkpoint that passes them.
                        await DeadLetters.InsertAsync(_connection, transaction, letters, cancellationToken);
                    }

                    return context.ToResult();
                },
                cancellationToken);
        }
        finally
        {
            _stagesCreated.Clear();
        }
    }

    /// <summary>Stores the checkpoints of the batches that carry one, in their transaction, all in one
    /// round trip, and records each batch's target (<see cref="RecordTargetAsync"/>).</summary>
    private async Task WriteCheckpointsAsync(IReadOnlyList<(SinkBatch Batch, PostgresTarget Target)> batches, CancellationToken cancellationToken)
    {
        await using var writes = new NpgsqlBatch(_connection, _transaction);
        foreach (var (batch, _) in batches)
        {
            if (batch.Checkpoint.Count > 0)
            {
                writes.BatchCommands.Add(CheckpointUpsert(batch));
            }
        }

        if (writes.BatchCommands.Count == 0)
        {
            return;
        }

        await writes.PrepareAsync(cancellationToken);
        await writes.ExecuteNonQueryAsync(cancellationToken);
        foreach (var (batch, target) in batches)
        {
            if (batch.Checkpoint.Count > 0)
            {
                await RecordTargetAsync(batch.Materializer, target, cancellationToken);
            }
        }
    }

    /// <summary>Stores a batch's checkpoint in its transaction. The streams named in the expected
    /// checkpoint keep the greater position (IMonotonicCheckpointSink); compared in the upsert too,
    /// not only against the rows <see cref="CheckpointLock"/> locked, for a row another
    /// transaction inserts meanwhile (the insert then waits for it and takes the DO UPDATE path).
    /// Positions compare as StreamPosition does: ledger, entry, batch index, as integers.</summary>
    private NpgsqlBatchCommand CheckpointUpsert(SinkBatch batch)
    {
        var command = new NpgsqlBatchCommand(
            $"""
            INSERT INTO {_checkpoints} AS held (materializer, stream, position, updated_at)
            SELECT $1, s, p, now() FROM unnest($2::text[], $3::text[]) AS c(s, p)
            ON CONFLICT (materializer, stream) DO UPDATE SET position = excluded.position, updated_at = excluded.updated_at
            WHERE NOT (held.stream = ANY($4))
              OR (split_part(held.position, ':', 1)::bigint, split_part(held.position, ':', 2)::bigint, split_part(held.position, ':', 3)::bigint)
               < (split_part(excluded.position, ':', 1)::bigint, split_part(excluded.position, ':', 2)::bigint, split_part(excluded.position, ':', 3)::bigint)
            """);
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = batch.Materializer });
        command.Parameters.Add(new NpgsqlParameter<string[]> { TypedValue = [.. batch.Checkpoint.Keys] });
        command.Parameters.Add(new NpgsqlParameter<string[]> { TypedValue = [.. batch.Checkpoint.Values.Select(p => p.ToString())] });
        command.Parameters.Add(new NpgsqlParameter<string[]> { TypedValue = batch.ExpectedCheckpoint is { } kept ? [.. kept.Keys] : [] });
        return command;
    }

    /// <summary>With <see cref="SinkBatch.ExpectedCheckpoint"/>: in the batch's transaction, locks the
    /// stored positions (FOR UPDATE, so that no restore replaces them and no other process writes them
    /// before the commit); <see cref="EnsureCheckpointUnchanged"/> then checks what it read.</summary>
    private NpgsqlBatchCommand CheckpointLock(SinkBatch batch)
    {
        var command = new NpgsqlBatchCommand($"SELECT stream, position FROM {_checkpoints} WHERE materializer = $1 AND stream = ANY($2) FOR UPDATE");
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = batch.Materializer });
        command.Parameters.Add(new NpgsqlParameter<string[]> { TypedValue = [.. batch.ExpectedCheckpoint!.Keys] });
        return command;
    }

    /// <summary>Whether a batch's checkpoint write is conditional: it has a checkpoint and an expected one.</summary>
    private static bool IsConditional(SinkBatch batch) => batch.Checkpoint.Count > 0 && batch.ExpectedCheckpoint is { Count: > 0 };

    /// <summary>Throws <see cref="SinkCheckpointChangedException"/>, rolling the batch back, unless each
    /// stored position that <see cref="CheckpointLock"/> read is at or past the expected one: otherwise
    /// the database was restored or failed over since the materializer read them.</summary>
    private static async Task EnsureCheckpointUnchanged(SinkBatch batch, NpgsqlDataReader reader, CancellationToken cancellationToken)
    {
        var held = new Dictionary<string, StreamPosition>(StringComparer.Ordinal);
        while (await reader.ReadAsync(cancellationToken))
        {
            held[reader.GetString(0)] = StreamPosition.Parse(reader.GetString(1));
        }

        // A stream not held counts as the start (IMonotonicCheckpointSink): named so by a materializer
        // that has not written it yet; one it had written and the sink lost is expected past the start.
        if (batch.ExpectedCheckpoint!.Any(e => (held.TryGetValue(e.Key, out var position) ? position : StreamPosition.Start) < e.Value))
        {
            throw new SinkCheckpointChangedException(batch.Materializer);
        }
    }

    /// <summary>Runs <paramref name="work"/> in a transaction that the writer's commands join
    /// (<c>_transaction</c>, also given to it) and commits it; on any failure rolls it back (forgetting the DDL it made)
    /// and rethrows.</summary>
    private async Task<T> InTransactionAsync<T>(Func<NpgsqlTransaction, Task<T>> work, CancellationToken cancellationToken)
    {
        // Explicitly READ COMMITTED, whatever the server's default_transaction_isolation: the key locks
        // protect only because each later statement takes a new snapshot after they are granted.
        _transaction = await _connection.BeginTransactionAsync(System.Data.IsolationLevel.ReadCommitted, cancellationToken);
        try
        {
            var result = await work(_transaction);
            await _transaction.CommitAsync(cancellationToken);
            return result;
        }
        catch
        {
            await RollBackAsync();
            throw;
        }
        finally
        {
            await _transaction.DisposeAsync();
            _transaction = null;
        }
    }

    private async Task RollBackAsync()
    {
        // DDL of this batch (CREATE TABLE, ADD COLUMN, staging tables) is rolled back too: forget what we knew.
        _tables.Clear();
        _recorded.Clear();
        DeadLetters.Forget();
        foreach (var signature in _stagesCreated)
        {
            _stageTables.Remove(signature);
        }

        _stagesCreated.Clear();
        try
        {
            if (_connection.State == System.Data.ConnectionState.Open && _transaction is not null)
            {
                await _transaction.RollbackAsync(CancellationToken.None);
            }
        }
        catch (Exception e) when (e is NpgsqlException or InvalidOperationException)
        {
            // The connection is broken or the transaction already ended; the caller discards the connection.
        }
    }

    /// <summary>
    /// Serializes this transaction with every other writer of the same keys of the target, before any
    /// statement reads a version. The version checks alone do not hold under concurrency: under READ
    /// COMMITTED each statement sees the rows committed when it started, so a probe of the delete markers
    /// cannot see a concurrent delete that commits later, and <c>INSERT … ON CONFLICT</c>, after waiting
    /// for that delete's row lock, finds no conflicting row and inserts the older version (the same holds
    /// for a delete's marker, a truncate's marker and an erasure). The locks are transaction-scoped
    /// advisory locks in PostgreSQL's two-int key space, which does not overlap the bigint key space of
    /// the DDL locks (<c>hashtext('sync.schema')</c>, <c>hashtext(target)</c>, <c>hashtext('sync.dead_letters')</c>):
    /// <c>(target hash, 0)</c> for the target, <c>(target hash, key hash | 1)</c> for a key, so no key
    /// lock is the target lock. A batch of up to <see cref="KeyLockLimit"/> keys and no truncate takes
    /// the target lock shared and its keys' locks exclusive; a truncate, a larger batch and an erasure
    /// take the target lock exclusive. Every lock of a batch is taken by one statement, the target first
    /// and then the keys in ascending order, before the batch takes any other lock on the target (DDL
    /// locks and row locks come later), so two batches never wait for each other in a cycle. A hash
    /// collision only makes two unrelated keys (or targets) wait for each other.
    /// <para>The locks of every batch given (a consistency group's, targets in the order given) are
    /// taken by one statement, and the stored checkpoints of the conditional checkpoint writes are locked
    /// and read in the same round trip (<see cref="CheckpointLock"/>), after the key locks.</para>
    /// </summary>
    private async Task LockAsync(IReadOnlyList<(SinkBatch Batch, PostgresTarget Target)> batches, CancellationToken cancellationToken)
    {
        var locks = new KeyLocks();
        foreach (var (batch, target) in batches)
        {
            locks.Add(target, batch.Changes);
        }

        await using var statements = new NpgsqlBatch(_connection, _transaction);
        var lockAll = new NpgsqlBatchCommand(
            "SELECT count(CASE WHEN u.x THEN pg_advisory_xact_lock(u.t, u.k) ELSE pg_advisory_xact_lock_shared(u.t, u.k) END) FROM unnest($1::int4[], $2::int4[], $3::bool[]) AS u(t, k, x)");
        lockAll.Parameters.Add(new NpgsqlParameter<int[]> { TypedValue = [.. locks.Targets] });
        lockAll.Parameters.Add(new NpgsqlParameter<int[]> { TypedValue = [.. locks.Keys] });
        lockAll.Parameters.Add(new NpgsqlParameter<bool[]> { TypedValue = [.. locks.Exclusive] });
        statements.BatchCommands.Add(lockAll);
        foreach (var (batch, _) in batches)
        {
            if (IsConditional(batch))
            {
                statements.BatchCommands.Add(CheckpointLock(batch));
            }
        }

        await statements.PrepareAsync(cancellationToken);
        await using var reader = await statements.ExecuteReaderAsync(cancellationToken);
        foreach (var (batch, _) in batches)
        {
            if (IsConditional(batch))
            {
                await reader.NextResultAsync(cancellationToken);
                await EnsureCheckpointUnchanged(batch, reader, cancellationToken);
            }
        }
    }

    /// <summary>The advisory locks of batches (see <see cref="LockAsync"/>) in the order they are taken:
    /// per target, the target's lock, then its keys' locks in ascending order.</summary>
    private sealed class KeyLocks
    {
        public List<int> Targets { get; } = [];

        public List<int> Keys { get; } = [];

        public List<bool> Exclusive { get; } = [];

        public void Add(PostgresTarget target, IReadOnlyList<ChangeEvent> changes)
        {
            var targetHash = LockHash(target.Id);
            var keys = new int[changes.Count];
            var count = 0;
            foreach (var change in changes)
            {
                if (change.Op == ChangeOp.Truncate)
                {
                    Lock(targetHash, 0, exclusive: true);
                    return;
                }

                if (change.Key.Count > 0)
                {
                    keys[count++] = LockHash(change.KeyText) | 1;
                }
            }

            Array.Sort(keys, 0, count);
            var distinct = count == 0 ? 0 : 1;
            for (var i = 1; i < count; i++)
            {
                if (keys[i] != keys[distinct - 1])
                {
                    keys[distinct++] = keys[i];
                }
            }

            if (distinct > KeyLockLimit)
            {
                Lock(targetHash, 0, exclusive: true);
                return;
            }

            // The target lock (key 0) comes first, then the keys in order: unnest yields the arrays in
            // order and the aggregate calls the lock functions row by row.
            Lock(targetHash, 0, exclusive: false);
            for (var i = 0; i < distinct; i++)
            {
                Lock(targetHash, keys[i], exclusive: true);
            }
        }

        private void Lock(int target, int key, bool exclusive)
        {
            Targets.Add(target);
            Keys.Add(key);
            Exclusive.Add(exclusive);
        }
    }

    /// <summary>Takes the target's lock exclusive: no key of the target is written by anyone else until
    /// this transaction ends (see <see cref="LockAsync"/>).</summary>
    private async Task LockTargetAsync(PostgresTarget target, CancellationToken cancellationToken)
    {
        await using var command = Command("SELECT pg_advisory_xact_lock($1, 0)", new NpgsqlParameter<int> { TypedValue = LockHash(target.Id) });
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>FNV-1a over the UTF-16 code units: the same in every process, which is all a lock key
    /// needs. Hashed here rather than by the server so that the batch sorts and deduplicates its lock
    /// keys itself, and their order does not rest on how the server evaluates a query.</summary>
    internal static int LockHash(string text)
    {
        var hash = 2166136261u;
        foreach (var c in text)
        {
            hash = (hash ^ (byte)c) * 16777619u;
            hash = (hash ^ (byte)(c >> 8)) * 16777619u;
        }

        return unchecked((int)hash);
    }

    /// <summary>One change per key: the newest by <see cref="ChangeVersion"/> (a later arrival wins
    /// when the two cannot be ordered); an older one is stale. A change without an LSN inherits the
    /// LSN of the change it replaces, as it would inherit the stored one.</summary>
    private List<Pending> Fold(BatchContext context, List<ChangeEvent> changes)
    {
        var byKey = _foldIndex;
        var pending = _folded;
        byKey.Clear();
        pending.Clear();
        byKey.EnsureCapacity(changes.Count);
        pending.EnsureCapacity(changes.Count);
        foreach (var change in changes)
        {
            if (change.Key.Count == 0)
            {
                context.Reject(change, $"table {context.Target.Qualified}: a {change.Op} has no key columns");
                continue;
            }

            var version = change.Version;
            if (byKey.TryGetValue(change.KeyText, out var at))
            {
                var current = pending[at];
                if (!version.Supersedes(current.Version))
                {
                    context.Stale++;
                    continue;
                }

                pending[at] = new Pending(change, version with { Lsn = version.Lsn ?? current.Version.Lsn });
            }
            else
            {
                byKey[change.KeyText] = pending.Count;
                pending.Add(new Pending(change, version));
            }
        }

        return pending;
    }

    private async Task ApplySegmentAsync(BatchContext context, List<ChangeEvent> changes, CancellationToken cancellationToken)
    {
        if (changes.Count == 0)
        {
            return;
        }

        try
        {
            await ApplyFoldedAsync(context, Fold(context, changes), cancellationToken);
        }
        finally
        {
            // The lists hold changes of this batch: emptied, so that they do not keep them alive.
            _folded.Clear();
            _foldIndex.Clear();
            foreach (var rows in _rowsInUse)
            {
                rows.Clear();
                _spareRows.Push(rows);
            }

            _rowsInUse.Clear();
        }
    }

    /// <summary>A list for a group's rows: one of an earlier segment's, returned when this segment ends.</summary>
    private List<Pending> RentRows()
    {
        var rows = _spareRows.TryPop(out var spare) ? spare : [];
        _rowsInUse.Add(rows);
        return rows;
    }

    private async Task ApplyFoldedAsync(BatchContext context, List<Pending> folded, CancellationToken cancellationToken)
    {
        var target = context.Target;
        var groups = new Dictionary<string[], Group>(ColumnNamesComparer.Instance);
        var deletes = new Dictionary<string[], Group>(ColumnNamesComparer.Instance);

        // Rows with unavailable columns (unchanged TOASTed values) are grouped by their column set and
        // the set of columns they keep, so each group's upsert updates exactly the columns its rows
        // carry; the common group of full rows keeps its one statement shape.
        var partial = new Dictionary<string, Group>(StringComparer.Ordinal);
        foreach (var item in folded)
        {
            var change = item.Change;
            var keyNames = change.Key.Names;
            if (change.IsDelete)
            {
                if (CheckNames(target, keyNames) is { } badKey)
                {
                    context.Reject(change, $"table {target.Qualified} (key {Describe(keyNames)}): {badKey}");
                    continue;
                }

                if (!deletes.TryGetValue(keyNames, out var group))
                {
                    deletes[keyNames] = group = new Group(keyNames, IsDelete: true) { Rows = RentRows() };
                }

                group.Rows.Add(item);
                continue;
            }

            if (change.After is not { } image)
            {
                context.Reject(change, $"table {target.Qualified} (key {Describe(keyNames)}): a {change.Op} has no row image (after)");
                continue;
            }

            if (CheckImage(target, keyNames, image) is { } problem)
            {
                context.Reject(change, $"table {target.Qualified} (key {Describe(keyNames)}): {problem}");
                continue;
            }

            if (image.UnavailableColumns() is { } kept)
            {
                var signature = string.Join('\u0001', image.Names) + '\u0002' + new string(kept.Select(k => k ? '1' : '0').ToArray());
                if (!partial.TryGetValue(signature, out var keeping))
                {
                    partial[signature] = keeping = new Group(image.Names, IsDelete: false) { Kept = kept, Rows = RentRows() };
                }

                keeping.Rows.Add(item);
                continue;
            }

            if (!groups.TryGetValue(image.Names, out var upserts))
            {
                groups[image.Names] = upserts = new Group(image.Names, IsDelete: false) { Rows = RentRows() };
            }

            upserts.Rows.Add(item);
        }

        // The groups on the hot path (array parameters) go together in one round trip, after the rest.
        var arrayGroups = new List<ArrayGroup>();
        foreach (var group in groups.Values.Concat(partial.Values))
        {
            var table = await EnsureTableAsync(context, group, cancellationToken);
            if (table is not null)
            {
                await RunGroupAsync(context, table, group, arrayGroups, cancellationToken);
            }
        }

        foreach (var group in deletes.Values)
        {
            var table = await LoadTableAsync(target, cancellationToken);
            if (table is not null && !table.HasKey(group.Names))
            {
                foreach (var row in group.Rows)
                {
                    context.Reject(row.Change, $"table {target.Qualified} (key {Describe(group.Names)}): the table's primary key is ({Describe(table.KeyColumns)})");
                }

                continue;
            }

            await RunGroupAsync(context, table, group, arrayGroups, cancellationToken);
        }

        await RunArrayGroupsAsync(context, arrayGroups, cancellationToken);
    }

    /// <summary>Problems of a row image: key columns missing or NULL, names PostgreSQL cannot hold,
    /// names reserved for the version columns, a name twice. Null when it can be written.</summary>
    private static string? CheckImage(PostgresTarget target, string[] keyNames, Row image) =>
        RowImageChecks.MissingKey(keyNames, image, Quote) ?? CheckNames(target, image.Names);

    private static string? CheckNames(PostgresTarget target, string[] names)
    {
        // Decoders share one names array among the rows of one column shape, so the array that
        // passed last time on this thread passes again without a set of its names per row.
        if (t_namesPassed is { } passed && ReferenceEquals(passed.Names, names) && ReferenceEquals(passed.Target, target))
        {
            return null;
        }

        if (CheckNamesOnce(target, names) is { } problem)
        {
            return problem;
        }

        t_namesPassed = (target, names);
        return null;
    }

    [ThreadStatic]
    private static (PostgresTarget Target, string[] Names)? t_namesPassed;

    private static string? CheckNamesOnce(PostgresTarget target, string[] names)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < names.Length; i++)
        {
            var name = names[i];
            if (Problem(name) is { } problem)
            {
                return $"column #{i + 1} cannot be a PostgreSQL column: its name {problem}";
            }

            if (target.IsReserved(name))
            {
                return $"column {Quote(name)} is reserved: names starting with {Quote(target.VersionColumn)} hold the sink's versions";
            }

            if (!seen.Add(name))
            {
                return $"column {Quote(name)} appears twice";
            }
        }

        return null;
    }

    /// <summary>Stages and applies a group; on a row-level error, rolls back to the savepoint and
    /// halves the rows until each poison row is rejected alone. A group on the hot path (every row with
    /// an LSN, the table known) is added to <paramref name="arrayGroups"/> instead, for <see cref="RunArrayGroupsAsync"/>.</summary>
    private async Task RunGroupAsync(BatchContext context, TableInfo? table, Group group, List<ArrayGroup> arrayGroups, CancellationToken cancellationToken)
    {
        var target = context.Target;
        var columns = new StagedColumn[group.Names.Length];
        for (var i = 0; i < columns.Length; i++)
        {
            var type = table?.Columns[group.Names[i]] ?? PostgresColumnType.Text;
            columns[i] = new StagedColumn(group.Names[i], type, "c" + i.ToString(CultureInfo.InvariantCulture));
        }

        // The group's own list when every row fits its columns (the common case); a copy without the
        // rejected rows otherwise.
        var rows = group.Rows;
        for (var r = 0; r < group.Rows.Count; r++)
        {
            var row = group.Rows[r];
            var values = group.IsDelete ? row.Change.Key.Values : row.Change.After!.Values;
            string? problem = null;
            for (var i = 0; i < columns.Length && problem is null; i++)
            {
                if (table is not null && columns[i].Type.Check(values[i]) is { } reason)
                {
                    problem = $"column {Quote(columns[i].Name)} ({columns[i].Type}): {reason}";
                }
            }

            if (problem is not null)
            {
                if (ReferenceEquals(rows, group.Rows))
                {
                    rows = group.Rows.GetRange(0, r);
                }

                context.Reject(row.Change, $"table {target.Qualified} (key {Describe(row.Change.Key.Names)}): {problem}");
            }
            else if (!ReferenceEquals(rows, group.Rows))
            {
                rows.Add(row);
            }
        }

        if (rows.Count == 0)
        {
            return;
        }

        var inheritLsn = rows.Exists(r => r.Version.Lsn is null);
        if (table is not null && !inheritLsn)
        {
            // The hot path: one statement that reads the rows from array parameters, in one round trip
            // with its savepoint (no staging table to fill, empty and truncate at commit).
            var arrays = GroupStatements(target, table, group.IsDelete, ArraySource(columns), columns, inheritLsn: false, group.Kept);
            arrayGroups.Add(new ArrayGroup(columns, group.IsDelete, arrays, rows));
            return;
        }

        var stage = await StageAsync(columns, cancellationToken);
        var statements = GroupStatements(target, table, group.IsDelete, stage, columns, inheritLsn, group.Kept);
        await RunRowsAsync(context, stage, columns, group.IsDelete, statements, rows, isolating: false, cancellationToken);
    }

    /// <summary>Applies the hot-path groups of a segment (upserts and deletes: their keys are distinct)
    /// in one round trip with one savepoint; on a row-level error, rolls back to it and applies them one
    /// by one, where <see cref="RunRowsAsync"/> isolates the poison rows.</summary>
    private async Task RunArrayGroupsAsync(BatchContext context, List<ArrayGroup> arrayGroups, CancellationToken cancellationToken)
    {
        if (arrayGroups.Count <= 1)
        {
            foreach (var one in arrayGroups)
            {
                await RunRowsAsync(context, null, one.Columns, one.IsDelete, one.Statements, one.Rows, isolating: false, cancellationToken);
            }

            return;
        }

        await using var batch = new NpgsqlBatch(_connection, _transaction);
        batch.BatchCommands.Add(new NpgsqlBatchCommand("SAVEPOINT sync_group"));
        foreach (var group in arrayGroups)
        {
            batch.BatchCommands.Add(ArrayCommand(group.Statements.Combined!, context.Target.Id, group.Columns, group.IsDelete, group.Rows));
        }

        batch.BatchCommands.Add(new NpgsqlBatchCommand("RELEASE SAVEPOINT sync_group"));
        await batch.PrepareAsync(cancellationToken);
        var counts = new List<(long Stale, long Fresh, long Written, long Inserted)>(arrayGroups.Count);
        try
        {
            await using var reader = await batch.ExecuteReaderAsync(cancellationToken);
            foreach (var group in arrayGroups)
            {
                if (counts.Count > 0)
                {
                    await reader.NextResultAsync(cancellationToken);
                }

                await reader.ReadAsync(cancellationToken);
                counts.Add((reader.GetInt64(0), reader.GetInt64(1), reader.IsDBNull(2) ? 0 : reader.GetInt64(2), group.Statements.CountsInserted ? reader.GetInt64(3) : 0));
            }
        }
        catch (PostgresException e) when (PostgresErrorClassifier.Classify(e) == ErrorVerdict.Poison)
        {
            await ExecuteAsync("ROLLBACK TO SAVEPOINT sync_group; RELEASE SAVEPOINT sync_group", cancellationToken);
            foreach (var one in arrayGroups)
            {
                await RunRowsAsync(context, null, one.Columns, one.IsDelete, one.Statements, one.Rows, isolating: false, cancellationToken);
            }

            return;
        }

        for (var i = 0; i < arrayGroups.Count; i++)
        {
            Count(context, arrayGroups[i].IsDelete, counts[i].Stale, counts[i].Fresh, counts[i].Written, counts[i].Inserted);
        }
    }

    /// <summary>Adds what one group's statements did to the batch's tally.</summary>
    private static void Count(BatchContext context, bool isDelete, long stale, long fresh, long written, long inserted)
    {
        context.Unavailable += (int)inserted;
        if (isDelete)
        {
            context.Deleted += (int)fresh;
            context.Stale += (int)stale;
        }
        else
        {
            // Rows the ON CONFLICT guard skipped (the stored row is newer) are stale too.
            context.Upserted += (int)written;
            context.Stale += (int)(stale + fresh - written);
        }
    }

    /// <summary>The rows of a group as a subquery over array parameters (<c>$2</c> on, one per staged
    /// column; <c>$1</c> is the target's id), with the staging table's column names and types.</summary>
    private static string ArraySource(StagedColumn[] columns)
    {
        var arrays = new StringBuilder("$2::text[], $3::bigint[], $4::text[], $5::bigint[], $6::bigint[], $7::bigint[]");
        var names = new StringBuilder("_key, _lsn, _stream, _ledger, _entry, _index");
        var selected = new StringBuilder("u._key, u._lsn, u._stream, ARRAY[u._ledger, u._entry, u._index] AS _pos");
        for (var i = 0; i < columns.Length; i++)
        {
            arrays.Append(", $").Append((8 + i).ToString(CultureInfo.InvariantCulture)).Append("::").Append(columns[i].Type.StageType).Append("[]");
            names.Append(", ").Append(columns[i].Stage);
            selected.Append(", u.").Append(columns[i].Stage);
        }

        return $"(SELECT {selected} FROM unnest({arrays}) AS u({names}))";
    }

    /// <summary>The parameters of <see cref="ArraySource"/>: the target's id, then each staged column over the rows.</summary>
    private static NpgsqlBatchCommand ArrayCommand(string sql, string target, StagedColumn[] columns, bool isDelete, List<Pending> rows)
    {
        var command = new NpgsqlBatchCommand(sql);
        var keys = new string[rows.Count];
        var lsns = new long[rows.Count];
        var streams = new string[rows.Count];
        var ledgers = new long[rows.Count];
        var entries = new long[rows.Count];
        var indexes = new long[rows.Count];
        for (var r = 0; r < rows.Count; r++)
        {
            var (change, version) = rows[r];
            keys[r] = change.KeyText;
            lsns[r] = version.Lsn!.Value;
            streams[r] = version.Stream;
            ledgers[r] = version.Position.Ledger;
            entries[r] = version.Position.Entry;
            indexes[r] = version.Position.BatchIndex;
        }

        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = target });
        command.Parameters.Add(new NpgsqlParameter<string[]> { TypedValue = keys });
        command.Parameters.Add(new NpgsqlParameter<long[]> { TypedValue = lsns });
        command.Parameters.Add(new NpgsqlParameter<string[]> { TypedValue = streams });
        command.Parameters.Add(new NpgsqlParameter<long[]> { TypedValue = ledgers });
        command.Parameters.Add(new NpgsqlParameter<long[]> { TypedValue = entries });
        command.Parameters.Add(new NpgsqlParameter<long[]> { TypedValue = indexes });
        for (var c = 0; c < columns.Length; c++)
        {
            command.Parameters.Add(columns[c].Type.ArrayParameter(new ColumnOfRows(rows, c, isDelete)));
        }

        return command;
    }

    /// <summary>An empty staging table for the columns: the connection's table for their types, created
    /// the first time; emptied first when an earlier group of the same transaction used it.</summary>
    private async Task<string> StageAsync(StagedColumn[] columns, CancellationToken cancellationToken)
    {
        var definition = new StringBuilder("_key text NOT NULL, _lsn bigint, _stream text NOT NULL, _pos bigint[] NOT NULL, _stale boolean NOT NULL DEFAULT false");
        foreach (var column in columns)
        {
            definition.Append(", ").Append(column.Stage).Append(' ').Append(column.Type.StageType);
        }

        var signature = definition.ToString();
        if (!_stageTables.TryGetValue(signature, out var stage))
        {
            // The name is new to this connection (a count that only grows), so no table of another shape has it.
            stage = Quote("_sync_stage_" + (++_stageNumber).ToString(CultureInfo.InvariantCulture));
            await ExecuteAsync($"CREATE TEMP TABLE {stage} ({signature}) ON COMMIT DELETE ROWS", cancellationToken);
            _stageTables[signature] = stage;
            _stagesCreated.Add(signature);
        }
        else if (_stagesUsed.Contains(stage))
        {
            await ExecuteAsync("DELETE FROM " + stage, cancellationToken);
        }

        _stagesUsed.Add(stage);
        return stage;
    }

    /// <param name="stage">The staging table, or null when the rows travel as the array parameters of
    /// <see cref="ArraySource"/> (the combined statement only).</param>
    private async Task RunRowsAsync(
        BatchContext context, string? stage, StagedColumn[] columns, bool isDelete, GroupSql statements, List<Pending> rows, bool isolating, CancellationToken cancellationToken)
    {
        await using var batch = new NpgsqlBatch(_connection, _transaction);
        if (stage is null)
        {
            batch.BatchCommands.Add(new NpgsqlBatchCommand("SAVEPOINT sync_group"));
        }
        else
        {
            // A failed attempt rolls back to the savepoint, which also empties the staging table.
            await ExecuteAsync("SAVEPOINT sync_group", cancellationToken);
        }

        try
        {
            NpgsqlBatchCommand? write = null;
            if (stage is null)
            {
                batch.BatchCommands.Add(ArrayCommand(statements.Combined!, context.Target.Id, columns, isDelete, rows));
            }
            else if (statements.Combined is not null)
            {
                await CopyAsync(stage, columns, isDelete, rows, cancellationToken);
                batch.BatchCommands.Add(BatchCommand(statements.Combined, context.Target.Id));
            }
            else
            {
                await CopyAsync(stage, columns, isDelete, rows, cancellationToken);
                foreach (var sql in statements.MarkStale)
                {
                    batch.BatchCommands.Add(BatchCommand(sql, context.Target.Id));
                }

                if (statements.InheritLsn is not null)
                {
                    batch.BatchCommands.Add(BatchCommand(statements.InheritLsn, context.Target.Id));
                }

                if (statements.Write is not null)
                {
                    batch.BatchCommands.Add(write = BatchCommand(statements.Write, context.Target.Id));
                }

                batch.BatchCommands.Add(BatchCommand(statements.Markers!, context.Target.Id));
                batch.BatchCommands.Add(new NpgsqlBatchCommand($"SELECT count(*) FILTER (WHERE _stale), count(*) FILTER (WHERE NOT _stale), NULL::bigint FROM {stage}"));
            }

            if (isolating && stage is not null)
            {
                // The rows of a part stay staged after it succeeds; the next part needs an empty stage.
                batch.BatchCommands.Add(new NpgsqlBatchCommand("TRUNCATE " + stage));
            }

            batch.BatchCommands.Add(new NpgsqlBatchCommand("RELEASE SAVEPOINT sync_group"));
            if (stage is null)
            {
                // Prepared once per connection and statement text (Npgsql keeps it): the server then
                // skips parsing and planning the statement for every batch.
                await batch.PrepareAsync(cancellationToken);
            }

            long stale, fresh;
            long? written;
            long inserted = 0;
            await using (var reader = await batch.ExecuteReaderAsync(cancellationToken))
            {
                long? separate = null;
                if (statements.CountsInserted && statements.Combined is null && !isDelete)
                {
                    await reader.ReadAsync(cancellationToken);
                    separate = reader.GetInt64(0);
                    inserted = reader.GetInt64(1);
                    await reader.NextResultAsync(cancellationToken);
                }

                await reader.ReadAsync(cancellationToken);
                stale = reader.GetInt64(0);
                fresh = reader.GetInt64(1);
                written = reader.IsDBNull(2) ? separate : reader.GetInt64(2);
                if (statements.CountsInserted && statements.Combined is not null)
                {
                    inserted = reader.GetInt64(3);
                }
            }

            Count(context, isDelete, stale, fresh, isDelete ? 0 : written ?? write!.RecordsAffected, inserted);
        }
        catch (PostgresException e) when (PostgresErrorClassifier.Classify(e) == ErrorVerdict.Poison)
        {
            await ExecuteAsync("ROLLBACK TO SAVEPOINT sync_group; RELEASE SAVEPOINT sync_group", cancellationToken);
            if (rows.Count == 1)
            {
                var change = rows[0].Change;
                var verb = isDelete ? "deleted" : "written";
                context.Reject(change, $"table {context.Target.Qualified} (key {Describe(change.Key.Names)}): the row cannot be {verb}: {PostgresErrorClassifier.Describe(e)}");
                return;
            }

            var half = rows.Count / 2;
            await RunRowsAsync(context, stage, columns, isDelete, statements, rows[..half], isolating: true, cancellationToken);
            await RunRowsAsync(context, stage, columns, isDelete, statements, rows[half..], isolating: true, cancellationToken);
        }
    }

    private async Task CopyAsync(string stage, StagedColumn[] columns, bool isDelete, List<Pending> rows, CancellationToken cancellationToken)
    {
        var sql = new StringBuilder("COPY ").Append(stage).Append(" (_key, _lsn, _stream, _pos");
        foreach (var column in columns)
        {
            sql.Append(", ").Append(column.Stage);
        }

        sql.Append(") FROM STDIN (FORMAT BINARY)");
        await using var importer = await _connection.BeginBinaryImportAsync(sql.ToString(), cancellationToken);
        var position = new long[3];
        foreach (var row in rows)
        {
            var change = row.Change;
            var values = isDelete ? change.Key.Values : change.After!.Values;
            await importer.StartRowAsync(cancellationToken);
            await importer.WriteAsync(change.KeyText, NpgsqlDbType.Text, cancellationToken);
            await WriteVersionAsync(importer, row.Version, position, cancellationToken);
            for (var i = 0; i < columns.Length; i++)
            {
                await columns[i].Type.WriteAsync(importer, values[i], cancellationToken);
            }
        }

        await importer.CompleteAsync(cancellationToken);
    }

    /// <summary>A version in the next three columns of a binary COPY row: the LSN as bigint (null when
    /// the change carried none), the stream as text, the position as bigint[] {ledger, entry, batch
    /// index}. <paramref name="position"/> is the COPY's one array for every row, so a row allocates nothing.</summary>
    private static async Task WriteVersionAsync(NpgsqlBinaryImporter importer, ChangeVersion version, long[] position, CancellationToken cancellationToken)
    {
        if (version.Lsn is { } lsn)
        {
            await importer.WriteAsync(lsn, NpgsqlDbType.Bigint, cancellationToken);
        }
        else
        {
            await importer.WriteNullAsync(cancellationToken);
        }

        await importer.WriteAsync(version.Stream, NpgsqlDbType.Text, cancellationToken);
        position[0] = version.Position.Ledger;
        position[1] = version.Position.Entry;
        position[2] = version.Position.BatchIndex;
        await importer.WriteAsync(position, NpgsqlDbType.Array | NpgsqlDbType.Bigint, cancellationToken);
    }

    /// <summary>A truncate removes every row whose version it supersedes (rows written after it, with
    /// newer versions, survive a replayed truncate) and leaves a target-level marker, so a late, older
    /// change of any key is stale.</summary>
    private async Task ApplyTruncateAsync(BatchContext context, ChangeEvent change, CancellationToken cancellationToken)
    {
        var target = context.Target;
        var version = change.Version;
        long? markerLsn = null;
        await using (var read = Command(
            $"SELECT lsn, stream, position FROM {_markers} WHERE target = $1 AND key_text = '{TruncateMarkerKey}'",
            new NpgsqlParameter<string> { TypedValue = target.Id }))
        await using (var reader = await read.ExecuteReaderAsync(cancellationToken))
        {
            if (await reader.ReadAsync(cancellationToken))
            {
                markerLsn = reader.IsDBNull(0) ? null : reader.GetInt64(0);
                var position = reader.GetFieldValue<long[]>(2);
                var stored = new ChangeVersion(markerLsn, reader.GetString(1), new StreamPosition(position[0], position[1], (int)position[2]));
                if (!version.Supersedes(stored))
                {
                    context.Stale++;
                    return;
                }
            }
        }

        NpgsqlParameter[] Version() =>
        [
            new NpgsqlParameter<string> { TypedValue = target.Id },
            new NpgsqlParameter { Value = (object?)(version.Lsn ?? markerLsn) ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Bigint },
            new NpgsqlParameter<string> { TypedValue = version.Stream },
            new NpgsqlParameter<long[]> { TypedValue = [version.Position.Ledger, version.Position.Entry, version.Position.BatchIndex] },
        ];

        if (await LoadTableAsync(target, cancellationToken) is not null)
        {
            var older = Older("$1", "$2", "$3", $"t.{Quote(target.LsnColumn)}", $"t.{Quote(target.StreamColumn)}", $"t.{Quote(target.PositionColumn)}");
            await using var delete = Command($"DELETE FROM {target.Qualified} t WHERE NOT {older}", Version()[1..]);
            context.Deleted += await delete.ExecuteNonQueryAsync(cancellationToken);
        }

        var olderMarker = Older("$2", "$3", "$4", "m.lsn", "m.stream", "m.position");
        await using (var prune = Command(
            $"DELETE FROM {_markers} m WHERE m.target = $1 AND m.key_text <> '{TruncateMarkerKey}' AND NOT {olderMarker}", Version()))
        {
            await prune.ExecuteNonQueryAsync(cancellationToken);
        }

        await using var markers = Command(
            $"""
            INSERT INTO {_markers} (target, key_text, lsn, stream, position, updated_at) VALUES ($1, '{TruncateMarkerKey}', $2, $3, $4, now())
            ON CONFLICT (target, key_text) DO UPDATE SET lsn = excluded.lsn, stream = excluded.stream, position = excluded.position, updated_at = excluded.updated_at
            """,
            Version());
        await markers.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>How many rows hold the value in the column.</summary>
    public async Task<long> CountAsync(PostgresTarget target, SubjectMatch match, CancellationToken cancellationToken)
    {
        var table = await LoadTableAsync(target, cancellationToken);
        if (table is null || !table.Columns.TryGetValue(match.Column, out var type) || target.IsReserved(match.Column))
        {
            return 0;
        }

        if (Condition(match, type) is not var (condition, parameter))
        {
            return 0;
        }

        await using var count = Command($"SELECT count(*) FROM {target.Qualified} WHERE {condition}", parameter);
        return (long)(await count.ExecuteScalarAsync(cancellationToken))!;
    }

    private NpgsqlCommand Command(string sql, params NpgsqlParameter[] parameters)
    {
        var command = new NpgsqlCommand(sql, _connection, _transaction);
        command.Parameters.AddRange(parameters);
        return command;
    }

    /// <summary>A statement of a group; <c>$1</c>, where it appears, is the target's id.</summary>
    private static NpgsqlBatchCommand BatchCommand(string sql, string target)
    {
        var command = new NpgsqlBatchCommand(sql);
        if (sql.Contains("$1", StringComparison.Ordinal))
        {
            command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = target });
        }

        return command;
    }

    private async Task ExecuteAsync(string sql, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(sql, _connection, _transaction);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    private static string Literal(string text) => "'" + text.Replace("'", "''", StringComparison.Ordinal) + "'";

    internal static string Describe(IEnumerable<string> names) => string.Join(", ", names.Select(Quote));

    public async ValueTask DisposeAsync()
    {
        _tables.Clear();
        await _connection.DisposeAsync();
    }

    private readonly record struct Pending(ChangeEvent Change, ChangeVersion Version);

    private readonly record struct StagedColumn(string Name, PostgresColumnType Type, string Stage);

    /// <summary>One column of a group's rows, read in place: the array parameter copies it into the
    /// typed array Npgsql sends, so a <see cref="FieldValue"/> array per column and batch is not needed.</summary>
    private sealed class ColumnOfRows(List<Pending> rows, int column, bool isDelete) : IReadOnlyList<FieldValue>
    {
        public int Count => rows.Count;

        public FieldValue this[int index] => (isDelete ? rows[index].Change.Key.Values : rows[index].Change.After!.Values)[column];

        public IEnumerator<FieldValue> GetEnumerator()
        {
            for (var i = 0; i < rows.Count; i++)
            {
                yield return this[i];
            }
        }

        System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
    }

    /// <summary>A group on the hot path, ready to run: its columns, statements and checked rows.</summary>
    private sealed record ArrayGroup(StagedColumn[] Columns, bool IsDelete, GroupSql Statements, List<Pending> Rows);

    /// <summary>Changes of one segment with the same column names (upserts) or key names (deletes).</summary>
    private sealed record Group(string[] Names, bool IsDelete)
    {
        /// <summary>For rows with unavailable columns: true at each column whose stored value is kept.</summary>
        public bool[]? Kept { get; init; }

        /// <summary>The rows; on the steady path a list rented from the writer for the segment (<see cref="RentRows"/>).</summary>
        public List<Pending> Rows { get; init; } = [];
    }

    private sealed class BatchContext(PostgresTarget target) : BatchTally
    {
        public PostgresTarget Target { get; } = target;
    }
}
