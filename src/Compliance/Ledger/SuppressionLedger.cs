using System.Globalization;
using Microsoft.Data.Sqlite;

namespace Sync.Compliance.Ledger;

/// <summary>One erasure request as the ledger keeps it: never the raw key, only its keyed hash.</summary>
public sealed record ErasureRequest(string RequestId, string Subject, string KeyHash, DateTimeOffset RequestedAt, string RequestedBy, string Status, DateTimeOffset? CompletedAt);

/// <summary>The suppression ledger: every erasure request, in a SQLite file. A subject is
/// suppressed from the moment its request is recorded, whatever the request's status, so that a
/// running or later materializer never applies its changes again.</summary>
public sealed class SuppressionLedger : IDisposable
{
    public const string InProgress = "in-progress";
    public const string Complete = "complete";
    public const string Incomplete = "incomplete";

    private readonly SqliteConnection _connection;

    private SuppressionLedger(SqliteConnection connection) => _connection = connection;

    public static SuppressionLedger Open(string path, bool readOnly = false)
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
        if (!readOnly)
        {
            using var command = connection.CreateCommand();
            command.CommandText = """
                PRAGMA journal_mode=WAL;
                PRAGMA synchronous=FULL;
                CREATE TABLE IF NOT EXISTS erasure_requests (
                    request_id TEXT PRIMARY KEY,
                    subject TEXT NOT NULL,
                    key_hash TEXT NOT NULL,
                    requested_at TEXT NOT NULL,
                    requested_by TEXT NOT NULL,
                    status TEXT NOT NULL,
                    completed_at TEXT,
                    UNIQUE (subject, key_hash));
                """;
            command.ExecuteNonQuery();
        }

        return new SuppressionLedger(connection);
    }

    /// <summary>The request for the key, if one was recorded.</summary>
    public ErasureRequest? Find(string subject, string keyHash)
    {
        using var command = _connection.CreateCommand();
        command.CommandText = "SELECT request_id, subject, key_hash, requested_at, requested_by, status, completed_at FROM erasure_requests WHERE subject = $s AND key_hash = $h";
        command.Parameters.AddWithValue("$s", subject);
        command.Parameters.AddWithValue("$h", keyHash);
        using var reader = command.ExecuteReader();
        return reader.Read() ? Read(reader) : null;
    }

    /// <summary>Records a request (or returns the one already recorded for the same key).</summary>
    public ErasureRequest Record(string subject, string keyHash, string requestId, string requestedBy, DateTimeOffset now)
    {
        if (Find(subject, keyHash) is { } existing)
        {
            return existing;
        }

        using var command = _connection.CreateCommand();
        command.CommandText = "INSERT INTO erasure_requests (request_id, subject, key_hash, requested_at, requested_by, status) VALUES ($id, $s, $h, $at, $by, $status)";
        command.Parameters.AddWithValue("$id", requestId);
        command.Parameters.AddWithValue("$s", subject);
        command.Parameters.AddWithValue("$h", keyHash);
        command.Parameters.AddWithValue("$at", Format(now));
        command.Parameters.AddWithValue("$by", requestedBy);
        command.Parameters.AddWithValue("$status", InProgress);
        command.ExecuteNonQuery();
        return new ErasureRequest(requestId, subject, keyHash, now, requestedBy, InProgress, null);
    }

    /// <summary>Runs <paramref name="work"/> in one transaction (one disk sync for many requests).</summary>
    public T InTransaction<T>(Func<T> work)
    {
        ArgumentNullException.ThrowIfNull(work);
        using var transaction = _connection.BeginTransaction();
        var result = work();
        transaction.Commit();
        return result;
    }

    public void SetStatus(string requestId, string status, DateTimeOffset now)
    {
        using var command = _connection.CreateCommand();
        command.CommandText = "UPDATE erasure_requests SET status = $status, completed_at = $at WHERE request_id = $id";
        command.Parameters.AddWithValue("$status", status);
        command.Parameters.AddWithValue("$at", status == Complete ? Format(now) : DBNull.Value);
        command.Parameters.AddWithValue("$id", requestId);
        command.ExecuteNonQuery();
    }

    /// <summary>Every suppressed (subject, key hash).</summary>
    public HashSet<(string Subject, string KeyHash)> Suppressed()
    {
        using var command = _connection.CreateCommand();
        command.CommandText = "SELECT subject, key_hash FROM erasure_requests";
        using var reader = command.ExecuteReader();
        var result = new HashSet<(string, string)>();
        while (reader.Read())
        {
            result.Add((reader.GetString(0), reader.GetString(1)));
        }

        return result;
    }

    public void Dispose() => _connection.Dispose();

    private static ErasureRequest Read(SqliteDataReader r) => new(
        r.GetString(0),
        r.GetString(1),
        r.GetString(2),
        DateTimeOffset.Parse(r.GetString(3), CultureInfo.InvariantCulture),
        r.GetString(4),
        r.GetString(5),
        r.IsDBNull(6) ? null : DateTimeOffset.Parse(r.GetString(6), CultureInfo.InvariantCulture));

    private static string Format(DateTimeOffset time) => time.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);
}
