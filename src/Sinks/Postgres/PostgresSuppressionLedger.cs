using System.Net.Sockets;
using System.Runtime.CompilerServices;
using Npgsql;
using Sync.Engine.Ledger;

namespace Sync.Sinks.Postgres;

/// <summary>
/// The suppression ledger in the database of a postgres sink (<c>erasure.ledger: { postgres: SINK, schema }</c>):
/// one ledger for a fleet of processes on several machines.
/// <list type="bullet">
/// <item>The table <c>&lt;schema&gt;.erasure_requests</c> has the columns and rules of the SQLite
/// ledger: one active request per (subject, key hash), kept by a unique index over the requests not
/// revoked, so that concurrent erasers of one key end with one request.</item>
/// <item>Every write notifies the channel <see cref="Channel"/> in its own transaction: the views
/// of running processes hear of it when it commits (<see cref="PostgresSuppressionView"/>).</item>
/// <item>The schema is created by whichever process comes first, under a transaction-level advisory
/// lock; nothing connects before the first call that needs it.</item>
/// <item>A server out of reach is a <see cref="LedgerUnavailableException"/>.</item>
/// </list>
/// One connection per call (no pool: a connection in an unknown state is discarded, never reused).
/// </summary>
public sealed class PostgresSuppressionLedger : ISuppressionLedger
{
    private const string Columns = "request_id, subject, key_hash, requested_at, requested_by, status, completed_at, revoked_at, revoked_by, revoke_reason";

    private readonly string _connectionString;
    private readonly SemaphoreSlim _schemaGate = new(1, 1);
    private volatile bool _schemaReady;

    public PostgresSuppressionLedger(string sinkName, PostgresSinkOptions options, string schema)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(sinkName);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentException.ThrowIfNullOrWhiteSpace(schema);
        SinkName = sinkName;
        Schema = schema;
        _connectionString = options.BuildConnectionString($"sync:{sinkName}:ledger");
        Table = PostgresIdentifiers.Qualified(schema, "erasure_requests");
        Channel = PostgresIdentifiers.Quote("sync_ledger_" + schema);
    }

    public string SinkName { get; }

    public string Schema { get; }

    /// <summary>The quoted name of the channel every write notifies.</summary>
    public string Channel { get; }

    public string Location => $"postgres sink {SinkName}, schema {Schema}";

    internal string Table { get; }

    public async Task<IReadOnlyList<ErasureRequest>> RecordAsync(IReadOnlyList<ErasureRequest> requests, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(requests);
        return await WriteAsync(
            async (connection, transaction, ct) =>
            {
                var recorded = new List<ErasureRequest>(requests.Count);
                foreach (var request in requests)
                {
                    // A concurrent eraser of the same key holds its insert until it commits; this one
                    // then does nothing and finds that request, as the unique index decides.
                    await using var insert = new NpgsqlCommand(
                        $"""
                        INSERT INTO {Table} (request_id, subject, key_hash, requested_at, requested_by, status) VALUES ($1, $2, $3, $4, $5, $6)
                        ON CONFLICT (subject, key_hash) WHERE revoked_at IS NULL DO NOTHING
                        """,
                        connection,
                        transaction);
                    insert.Parameters.Add(Text(request.RequestId));
                    insert.Parameters.Add(Text(request.Subject));
                    insert.Parameters.Add(Text(request.KeyHash));
                    insert.Parameters.Add(Time(request.RequestedAt));
                    insert.Parameters.Add(Text(request.RequestedBy));
                    insert.Parameters.Add(Text(RequestStatusText.Of(request.Status)));
                    if (await insert.ExecuteNonQueryAsync(ct) == 1)
                    {
                        recorded.Add(request with { RequestedAt = Rounded(request.RequestedAt), CompletedAt = null, Revocation = null });
                    }
                    else
                    {
                        recorded.Add(await SingleAsync(connection, transaction, "subject = $1 AND key_hash = $2 AND revoked_at IS NULL", [request.Subject, request.KeyHash], ct)
                            ?? throw new InvalidOperationException($"the ledger in {Location} kept no active request for a key it refused to record again"));
                    }
                }

                return (IReadOnlyList<ErasureRequest>)recorded;
            },
            cancellationToken);
    }

    public async Task SetStatusAsync(IReadOnlyList<(string RequestId, RequestStatus Status)> statuses, DateTimeOffset now, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(statuses);
        await WriteAsync(
            async (connection, transaction, ct) =>
            {
                foreach (var (requestId, status) in statuses)
                {
                    await using var update = new NpgsqlCommand($"UPDATE {Table} SET status = $1, completed_at = $2 WHERE request_id = $3", connection, transaction);
                    update.Parameters.Add(Text(RequestStatusText.Of(status)));
                    update.Parameters.Add(status == RequestStatus.InProgress ? new NpgsqlParameter<DateTimeOffset?> { TypedValue = null, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.TimestampTz } : Time(now));
                    update.Parameters.Add(Text(requestId));
                    await update.ExecuteNonQueryAsync(ct);
                }

                return true;
            },
            cancellationToken);
    }

    public Task<ErasureRequest?> FindAsync(string subject, string keyHash, CancellationToken cancellationToken) =>
        ReadAsync((connection, ct) => SingleAsync(connection, null, "subject = $1 AND key_hash = $2 AND revoked_at IS NULL", [subject, keyHash], ct), cancellationToken);

    public Task<ErasureRequest?> GetAsync(string requestId, CancellationToken cancellationToken) =>
        ReadAsync((connection, ct) => SingleAsync(connection, null, "request_id = $1", [requestId], ct), cancellationToken);

    public async Task<ErasureRequest?> RevokeAsync(string requestId, Revocation revocation, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(revocation);
        return await WriteAsync(
            async (connection, transaction, ct) =>
            {
                await using var update = new NpgsqlCommand(
                    $"UPDATE {Table} SET revoked_at = $1, revoked_by = $2, revoke_reason = $3 WHERE request_id = $4 AND revoked_at IS NULL", connection, transaction);
                update.Parameters.Add(Time(revocation.At));
                update.Parameters.Add(Text(revocation.By));
                update.Parameters.Add(Text(revocation.Reason));
                update.Parameters.Add(Text(requestId));
                await update.ExecuteNonQueryAsync(ct);
                return await SingleAsync(connection, transaction, "request_id = $1", [requestId], ct);
            },
            cancellationToken);
    }

    public async IAsyncEnumerable<ErasureRequest> ListAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await using var connection = await ConnectAsync(cancellationToken);
        await using var command = new NpgsqlCommand($"SELECT {Columns} FROM {Table} ORDER BY requested_at, request_id", connection);
        NpgsqlDataReader reader;
        try
        {
            reader = await command.ExecuteReaderAsync(cancellationToken);
        }
        catch (Exception e) when (Unreachable(e))
        {
            throw Unavailable(e);
        }

        await using (reader)
        {
            while (await ReadRowAsync(reader, cancellationToken))
            {
                yield return Read(reader);
            }
        }
    }

    public ISuppressionView OpenView(TimeSpan refreshInterval, TimeProvider time) => new PostgresSuppressionView(this, refreshInterval, time);

    public ValueTask DisposeAsync()
    {
        _schemaGate.Dispose();
        return ValueTask.CompletedTask;
    }

    /// <summary>An open connection to the ledger's database, its schema created when this ledger had not made sure of it yet.</summary>
    internal async Task<NpgsqlConnection> ConnectAsync(CancellationToken cancellationToken)
    {
        var connection = new NpgsqlConnection(_connectionString);
        try
        {
            await connection.OpenAsync(cancellationToken);
            if (!_schemaReady)
            {
                await EnsureSchemaAsync(connection, cancellationToken);
            }

            return connection;
        }
        catch (Exception e) when (Unreachable(e))
        {
            await connection.DisposeAsync();
            throw Unavailable(e);
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
    }

    /// <summary>The keys of every active request.</summary>
    internal async Task<HashSet<(string Subject, string KeyHash)>> ReadSuppressedAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand($"SELECT subject, key_hash FROM {Table} WHERE revoked_at IS NULL", connection);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var result = new HashSet<(string, string)>();
        while (await reader.ReadAsync(cancellationToken))
        {
            result.Add((reader.GetString(0), reader.GetString(1)));
        }

        return result;
    }

    /// <summary>True for a failure that means the server is out of reach, not that a statement is wrong.</summary>
    internal static bool Unreachable(Exception error) =>
        error is NpgsqlException or IOException or SocketException or TimeoutException
        && PostgresErrorClassifier.Classify(error) == ErrorVerdict.Transient;

    internal LedgerUnavailableException Unavailable(Exception error) =>
        new($"the ledger in {Location} cannot be read: {PostgresErrorClassifier.Describe(error)}", error);

    /// <summary>Creates the schema, the table and its index when missing. Every process may run it
    /// at the same time: an advisory lock held to the end of the transaction lets one at a time in,
    /// and the later ones find everything there. A unique violation on a catalog name (a sink of the
    /// same database creating the same schema without our lock) is retried.</summary>
    private async Task EnsureSchemaAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        await _schemaGate.WaitAsync(cancellationToken);
        try
        {
            for (var attempt = 1; !_schemaReady; attempt++)
            {
                try
                {
                    await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
                    await using (var lockCommand = new NpgsqlCommand("SELECT pg_advisory_xact_lock(hashtext($1))", connection, transaction))
                    {
                        lockCommand.Parameters.Add(Text("sync ledger " + Schema));
                        await lockCommand.ExecuteNonQueryAsync(cancellationToken);
                    }

                    await using var ddl = new NpgsqlCommand(
                        $"""
                        CREATE SCHEMA IF NOT EXISTS {PostgresIdentifiers.Quote(Schema)};
                        CREATE TABLE IF NOT EXISTS {Table} (
                            request_id text PRIMARY KEY,
                            subject text NOT NULL,
                            key_hash text NOT NULL,
                            requested_at timestamptz NOT NULL,
                            requested_by text NOT NULL,
                            status text NOT NULL,
                            completed_at timestamptz,
                            revoked_at timestamptz,
                            revoked_by text,
                            revoke_reason text);
                        CREATE UNIQUE INDEX IF NOT EXISTS erasure_requests_active ON {Table} (subject, key_hash) WHERE revoked_at IS NULL;
                        """,
                        connection,
                        transaction);
                    await ddl.ExecuteNonQueryAsync(cancellationToken);
                    await transaction.CommitAsync(cancellationToken);
                    _schemaReady = true;
                }
                catch (PostgresException e) when (attempt < 3 && e.SqlState == PostgresErrorCodes.UniqueViolation && PostgresErrorClassifier.Classify(e) == ErrorVerdict.Transient)
                {
                    // Found by the next transaction: see PostgresErrorClassifier.
                }
            }
        }
        finally
        {
            _schemaGate.Release();
        }
    }

    /// <summary>Runs <paramref name="write"/> in one transaction that also notifies the ledger's channel.</summary>
    private async Task<T> WriteAsync<T>(Func<NpgsqlConnection, NpgsqlTransaction, CancellationToken, Task<T>> write, CancellationToken cancellationToken)
    {
        await using var connection = await ConnectAsync(cancellationToken);
        try
        {
            await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
            var result = await write(connection, transaction, cancellationToken);
            // Delivered to the listeners when, and only if, the transaction commits.
            await using (var notify = new NpgsqlCommand($"NOTIFY {Channel}", connection, transaction))
            {
                await notify.ExecuteNonQueryAsync(cancellationToken);
            }

            await transaction.CommitAsync(cancellationToken);
            return result;
        }
        catch (Exception e) when (Unreachable(e))
        {
            throw Unavailable(e);
        }
    }

    private async Task<T> ReadAsync<T>(Func<NpgsqlConnection, CancellationToken, Task<T>> read, CancellationToken cancellationToken)
    {
        await using var connection = await ConnectAsync(cancellationToken);
        try
        {
            return await read(connection, cancellationToken);
        }
        catch (Exception e) when (Unreachable(e))
        {
            throw Unavailable(e);
        }
    }

    private async Task<bool> ReadRowAsync(NpgsqlDataReader reader, CancellationToken cancellationToken)
    {
        try
        {
            return await reader.ReadAsync(cancellationToken);
        }
        catch (Exception e) when (Unreachable(e))
        {
            throw Unavailable(e);
        }
    }

    private async Task<ErasureRequest?> SingleAsync(NpgsqlConnection connection, NpgsqlTransaction? transaction, string where, string[] values, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand($"SELECT {Columns} FROM {Table} WHERE {where}", connection, transaction);
        foreach (var value in values)
        {
            command.Parameters.Add(Text(value));
        }

        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken) ? Read(reader) : null;
    }

    private static NpgsqlParameter<string> Text(string value) => new() { TypedValue = value };

    /// <summary>Times are kept to the millisecond, as the file ledger keeps them.</summary>
    private static NpgsqlParameter<DateTimeOffset> Time(DateTimeOffset value) => new() { TypedValue = Rounded(value) };

    private static DateTimeOffset Rounded(DateTimeOffset value) => LedgerTime.Parse(LedgerTime.Format(value)).ToUniversalTime();

    private static ErasureRequest Read(NpgsqlDataReader r) => new(
        r.GetString(0),
        r.GetString(1),
        r.GetString(2),
        r.GetFieldValue<DateTimeOffset>(3),
        r.GetString(4),
        RequestStatusText.Parse(r.GetString(5)),
        r.IsDBNull(6) ? null : r.GetFieldValue<DateTimeOffset>(6))
    {
        Revocation = r.IsDBNull(7) ? null : new Revocation(r.GetFieldValue<DateTimeOffset>(7), r.GetString(8), r.GetString(9)),
    };
}
