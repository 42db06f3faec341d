using Microsoft.Data.Sqlite;

namespace Sync.Sinks.Sqlite;

/// <summary>The dead-letter table <c>_sync_dead_letters</c> (<c>deadLetterTarget: table</c>): one row
/// per letter, the message's value bytes kept exactly in a BLOB. Created on first use (a rare path:
/// <c>CREATE TABLE IF NOT EXISTS</c> each time); letters of a batch are inserted in the batch's transaction.</summary>
internal static class SqliteDeadLetters
{
    public const string Table = "_sync_dead_letters";

    private const string TimeFormat = "yyyy-MM-dd'T'HH:mm:ss.fffffff'Z'";

    private static void Ensure(SqliteConnection connection, SqliteTransaction? transaction)
    {
        using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText =
            $"""
            CREATE TABLE IF NOT EXISTS {Table} (
              id INTEGER PRIMARY KEY AUTOINCREMENT,
              materializer TEXT NOT NULL,
              stage TEXT NOT NULL,
              topic TEXT,
              position TEXT NOT NULL,
              key TEXT,
              key_base64 INTEGER NOT NULL DEFAULT 0,
              payload BLOB,
              properties TEXT NOT NULL DEFAULT '{"{}"}',
              publish_time TEXT,
              event_time TEXT,
              location TEXT,
              reason TEXT NOT NULL,
              dead_lettered_at TEXT NOT NULL);
            CREATE INDEX IF NOT EXISTS {Table}_materializer_id ON {Table} (materializer, id);
            """;
        command.ExecuteNonQuery();
    }

    public static void Insert(SqliteConnection connection, SqliteTransaction? transaction, IReadOnlyList<DeadLetterRow> letters)
    {
        Ensure(connection, transaction);
        using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText =
            $"""
            INSERT INTO {Table} (materializer, stage, topic, position, key, key_base64, payload, properties, publish_time, event_time, location, reason, dead_lettered_at)
            VALUES ($materializer, $stage, $topic, $position, $key, $keyBase64, $payload, $properties, $publishTime, $eventTime, $location, $reason, $time)
            """;
        foreach (var letter in letters)
        {
            command.Parameters.Clear();
            command.Parameters.AddWithValue("$materializer", letter.Materializer);
            command.Parameters.AddWithValue("$stage", letter.Stage);
            command.Parameters.AddWithValue("$topic", (object?)letter.Topic ?? DBNull.Value);
            command.Parameters.AddWithValue("$position", letter.Position);
            command.Parameters.AddWithValue("$key", (object?)letter.Key ?? DBNull.Value);
            command.Parameters.AddWithValue("$keyBase64", letter.KeyBase64 ? 1 : 0);
            command.Parameters.Add("$payload", SqliteType.Blob).Value = (object?)letter.Payload ?? DBNull.Value;
            command.Parameters.AddWithValue("$properties", JsonSerializer.Serialize(letter.Properties));
            command.Parameters.AddWithValue("$publishTime", Time(letter.PublishTime));
            command.Parameters.AddWithValue("$eventTime", Time(letter.EventTime));
            command.Parameters.AddWithValue("$location", (object?)letter.Location ?? DBNull.Value);
            command.Parameters.AddWithValue("$reason", letter.Reason);
            command.Parameters.AddWithValue("$time", letter.Time.UtcDateTime.ToString(TimeFormat, CultureInfo.InvariantCulture));
            command.ExecuteNonQuery();
        }
    }

    public static void Append(SqliteConnection connection, IReadOnlyList<DeadLetterRow> letters)
    {
        using var transaction = connection.BeginTransaction();
        Insert(connection, transaction, letters);
        transaction.Commit();
    }

    public static List<StoredDeadLetter> Read(SqliteConnection connection, string materializer, long afterId, long throughId, int max)
    {
        Ensure(connection, null);
        using var command = connection.CreateCommand();
        command.CommandText =
            $"""
            SELECT id, stage, topic, position, key, key_base64, payload, properties, publish_time, event_time, location, reason, dead_lettered_at
            FROM {Table} WHERE materializer = $materializer AND id > $after AND id <= $through ORDER BY id LIMIT $max
            """;
        command.Parameters.AddWithValue("$materializer", materializer);
        command.Parameters.AddWithValue("$after", afterId);
        command.Parameters.AddWithValue("$through", throughId);
        command.Parameters.AddWithValue("$max", max);
        var letters = new List<StoredDeadLetter>();
        using var reader = command.ExecuteReader();
        while (reader.Read())
        {
            letters.Add(DeadLetterColumns.Read(reader, materializer, ordinal => ParseTime(reader, ordinal)));
        }

        return letters;
    }

    public static long Scalar(SqliteConnection connection, string aggregate, string materializer)
    {
        Ensure(connection, null);
        using var command = connection.CreateCommand();
        command.CommandText = $"SELECT coalesce({aggregate}, 0) FROM {Table} WHERE materializer = $materializer";
        command.Parameters.AddWithValue("$materializer", materializer);
        return Convert.ToInt64(command.ExecuteScalar(), CultureInfo.InvariantCulture);
    }

    public static void Delete(SqliteConnection connection, string materializer, IReadOnlyList<long> ids)
    {
        Ensure(connection, null);
        using var transaction = connection.BeginTransaction();
        using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = $"DELETE FROM {Table} WHERE materializer = $materializer AND id = $id";
        foreach (var id in ids)
        {
            command.Parameters.Clear();
            command.Parameters.AddWithValue("$materializer", materializer);
            command.Parameters.AddWithValue("$id", id);
            command.ExecuteNonQuery();
        }

        transaction.Commit();
    }

    private static object Time(DateTimeOffset? time) =>
        time is { } t ? t.UtcDateTime.ToString(TimeFormat, CultureInfo.InvariantCulture) : DBNull.Value;

    private static DateTimeOffset? ParseTime(SqliteDataReader reader, int ordinal) =>
        reader.IsDBNull(ordinal) ? null : DateTimeOffset.Parse(reader.GetString(ordinal), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal);
}
