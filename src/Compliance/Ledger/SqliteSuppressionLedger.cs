using System.Runtime.CompilerServices;
using Microsoft.Data.Sqlite;

namespace Sync.Compliance.Ledger;

/// <summary>The suppression ledger in a SQLite file (<c>erasure.ledger: PATH</c>, the default): one
/// machine's ledger, or one file that every run on the machine shares.</summary>
public sealed class SqliteSuppressionLedger : ISuppressionLedger
{
    private const string Columns = "request_id, subject, key_hash, requested_at, requested_by, status, completed_at, revoked_at, revoked_by, revoke_reason";

    private readonly SqliteConnection _connection;

    private SqliteSuppressionLedger(string path, SqliteConnection connection)
    {
        Path = path;
        _connection = connection;
    }

    public string Path { get; }

    public string Location => Path;

    /// <summary>Opens the ledger, creating the file and its table when missing, and bringing a
    /// ledger written before revocations existed up to date.</summary>
    public static SqliteSuppressionLedger Open(string path)
    {
        var connection = Connect(path, readOnly: false);
        try
        {
            EnsureSchema(connection);
        }
        catch
        {
            connection.Dispose();
            throw;
        }

        return new SqliteSuppressionLedger(path, connection);
    }

    /// <summary>The active requests' keys in the file, or none when the file or its table does not
    /// exist yet (another process may be creating it this moment). Brings an old file up to date first.</summary>
    public static HashSet<(string Subject, string KeyHash)> ReadSuppressed(string path)
    {
        using var connection = OpenForReading(path);
        return connection is null ? [] : ReadSuppressed(connection);
    }

    /// <summary>A connection to read the ledger with, brought up to date; null when the file or its
    /// table does not exist yet.</summary>
    internal static SqliteConnection? OpenForReading(string path)
    {
        if (!File.Exists(path))
        {
            return null;
        }

        var connection = Connect(path, readOnly: false);
        try
        {
            if (!TableExists(connection, "erasure_requests"))
            {
                connection.Dispose();
                return null;
            }

            EnsureSchema(connection);
            return connection;
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }

    internal static HashSet<(string Subject, string KeyHash)> ReadSuppressed(SqliteConnection connection)
    {
        var result = new HashSet<(string, string)>();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT subject, key_hash FROM erasure_requests WHERE revoked_at IS NULL";
        using var reader = command.ExecuteReader();
        while (reader.Read())
        {
            result.Add((reader.GetString(0), reader.GetString(1)));
        }

        return result;
    }

    /// <summary>SQLite's count of commits by other connections, as seen by <paramref name="connection"/>:
    /// it changes with every commit another process makes, which file sizes and times may not show.</summary>
    internal static long DataVersion(SqliteConnection connection)
    {
        using var command = connection.CreateCommand();
        command.CommandText = "PRAGMA data_version";
        return (long)command.ExecuteScalar()!;
    }

    public Task<IReadOnlyList<ErasureRequest>> RecordAsync(IReadOnlyList<ErasureRequest> requests, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(requests);
        using var transaction = _connection.BeginTransaction();
        var recorded = new List<ErasureRequest>(requests.Count);
        foreach (var request in requests)
        {
            if (FindActive(request.Subject, request.KeyHash) is { } existing)
            {
                recorded.Add(existing);
                continue;
            }

            using var command = _connection.CreateCommand();
            command.CommandText = "INSERT INTO erasure_requests (request_id, subject, key_hash, requested_at, requested_by, status) VALUES ($id, $s, $h, $at, $by, $status)";
            command.Parameters.AddWithValue("$id", request.RequestId);
            command.Parameters.AddWithValue("$s", request.Subject);
            command.Parameters.AddWithValue("$h", request.KeyHash);
            command.Parameters.AddWithValue("$at", LedgerTime.Format(request.RequestedAt));
            command.Parameters.AddWithValue("$by", request.RequestedBy);
            command.Parameters.AddWithValue("$status", RequestStatusText.Of(request.Status));
            command.ExecuteNonQuery();
            recorded.Add(request with { CompletedAt = null, Revocation = null });
        }

        transaction.Commit();
        return Task.FromResult<IReadOnlyList<ErasureRequest>>(recorded);
    }

    public Task SetStatusAsync(IReadOnlyList<(string RequestId, RequestStatus Status)> statuses, DateTimeOffset now, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(statuses);
        using var transaction = _connection.BeginTransaction();
        foreach (var (requestId, status) in statuses)
        {
            using var command = _connection.CreateCommand();
            command.CommandText = "UPDATE erasure_requests SET status = $status, completed_at = $at WHERE request_id = $id";
            command.Parameters.AddWithValue("$status", RequestStatusText.Of(status));
            command.Parameters.AddWithValue("$at", status == RequestStatus.InProgress ? DBNull.Value : LedgerTime.Format(now));
            command.Parameters.AddWithValue("$id", requestId);
            command.ExecuteNonQuery();
        }

        transaction.Commit();
        return Task.CompletedTask;
    }

    public Task<ErasureRequest?> FindAsync(string subject, string keyHash, CancellationToken cancellationToken) =>
        Task.FromResult(FindActive(subject, keyHash));

    public Task<ErasureRequest?> GetAsync(string requestId, CancellationToken cancellationToken) =>
        Task.FromResult(Single("request_id = $id", ("$id", requestId)));

    public Task<ErasureRequest?> RevokeAsync(string requestId, Revocation revocation, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(revocation);
        using var command = _connection.CreateCommand();
        command.CommandText = "UPDATE erasure_requests SET revoked_at = $at, revoked_by = $by, revoke_reason = $reason WHERE request_id = $id AND revoked_at IS NULL";
        command.Parameters.AddWithValue("$at", LedgerTime.Format(revocation.At));
        command.Parameters.AddWithValue("$by", revocation.By);
        command.Parameters.AddWithValue("$reason", revocation.Reason);
        command.Parameters.AddWithValue("$id", requestId);
        command.ExecuteNonQuery();
        return GetAsync(requestId, cancellationToken);
    }

    public async IAsyncEnumerable<ErasureRequest> ListAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        using var command = _connection.CreateCommand();
        command.CommandText = $"SELECT {Columns} FROM erasure_requests ORDER BY requested_at, request_id";
        using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            yield return Read(reader);
        }
    }

    public ISuppressionView OpenView(TimeSpan refreshInterval, TimeProvider time) => new SqliteSuppressionView(Path, refreshInterval, time);

    public ValueTask DisposeAsync()
    {
        _connection.Dispose();
        return ValueTask.CompletedTask;
    }

    private ErasureRequest? FindActive(string subject, string keyHash) =>
        Single("subject = $s AND key_hash = $h AND revoked_at IS NULL", ("$s", subject), ("$h", keyHash));

    private ErasureRequest? Single(string where, params (string Name, string Value)[] parameters)
    {
        using var command = _connection.CreateCommand();
        command.CommandText = $"SELECT {Columns} FROM erasure_requests WHERE {where}";
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value);
        }

        using var reader = command.ExecuteReader();
        return reader.Read() ? Read(reader) : null;
    }

    private static SqliteConnection Connect(string path, bool readOnly)
    {
        var builder = new SqliteConnectionStringBuilder
        {
            DataSource = path,
            Mode = readOnly ? SqliteOpenMode.ReadOnly : SqliteOpenMode.ReadWriteCreate,
            Pooling = false,
            DefaultTimeout = 30,
        };
        var connection = new SqliteConnection(builder.ToString());
        connection.Open();
        return connection;
    }

    /// <summary>Creates the table, or brings one written before revocations existed up to date: its
    /// key was unique over all requests, and is now unique over the active ones only, so that a key
    /// whose request was revoked can be erased again. Every statement is idempotent, and the
    /// rebuild runs in one immediate transaction, so concurrent processes may all run it.</summary>
    private static void EnsureSchema(SqliteConnection connection)
    {
        using (var pragma = connection.CreateCommand())
        {
            pragma.CommandText = "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;";
            pragma.ExecuteNonQuery();
        }

        if (TableExists(connection, "erasure_requests") && HasColumn(connection, "erasure_requests", "revoked_at"))
        {
            return;
        }

        using var transaction = connection.BeginTransaction(deferred: false);
        var exists = TableExists(connection, "erasure_requests");
        if (exists && HasColumn(connection, "erasure_requests", "revoked_at"))
        {
            return;
        }

        var rebuild = exists;
        using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = (rebuild ? "ALTER TABLE erasure_requests RENAME TO erasure_requests_before_revocations;" : string.Empty) + """
            CREATE TABLE IF NOT EXISTS erasure_requests (
                request_id TEXT PRIMARY KEY,
                subject TEXT NOT NULL,
                key_hash TEXT NOT NULL,
                requested_at TEXT NOT NULL,
                requested_by TEXT NOT NULL,
                status TEXT NOT NULL,
                completed_at TEXT,
                revoked_at TEXT,
                revoked_by TEXT,
                revoke_reason TEXT);
            CREATE UNIQUE INDEX IF NOT EXISTS erasure_requests_active ON erasure_requests (subject, key_hash) WHERE revoked_at IS NULL;
            """ + (rebuild ? """
            INSERT INTO erasure_requests (request_id, subject, key_hash, requested_at, requested_by, status, completed_at)
                SELECT request_id, subject, key_hash, requested_at, requested_by, status, completed_at FROM erasure_requests_before_revocations;
            DROP TABLE erasure_requests_before_revocations;
            """ : string.Empty);
        command.ExecuteNonQuery();
        transaction.Commit();
    }

    private static bool TableExists(SqliteConnection connection, string table)
    {
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = $t";
        command.Parameters.AddWithValue("$t", table);
        return command.ExecuteScalar() is not null;
    }

    private static bool HasColumn(SqliteConnection connection, string table, string column)
    {
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT 1 FROM pragma_table_info($t) WHERE name = $c";
        command.Parameters.AddWithValue("$t", table);
        command.Parameters.AddWithValue("$c", column);
        return command.ExecuteScalar() is not null;
    }

    private static ErasureRequest Read(SqliteDataReader r) => new(
        r.GetString(0),
        r.GetString(1),
        r.GetString(2),
        LedgerTime.Parse(r.GetString(3)),
        r.GetString(4),
        RequestStatusText.Parse(r.GetString(5)),
        r.IsDBNull(6) ? null : LedgerTime.Parse(r.GetString(6)))
    {
        Revocation = r.IsDBNull(7) ? null : new Revocation(LedgerTime.Parse(r.GetString(7)), r.GetString(8), r.GetString(9)),
    };
}
