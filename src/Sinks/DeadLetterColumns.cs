using System.Data.Common;

namespace Sync.Sinks;

/// <summary>The columns of a sink's dead-letter table, which the PostgreSQL and SQLite tables share.</summary>
internal static class DeadLetterColumns
{
    /// <summary>The letter on the reader's current row, selected as <c>id, stage, topic, position, key,
    /// key_base64, payload, properties (JSON text), publish_time, event_time, location, reason,
    /// dead_lettered_at</c>.</summary>
    /// <param name="time">Reads the time column at an ordinal the way the store keeps times; null for NULL.</param>
    public static StoredDeadLetter Read(DbDataReader reader, string materializer, Func<int, DateTimeOffset?> time) =>
        new(reader.GetInt64(0), new DeadLetterRow(
            materializer,
            reader.GetString(1),
            reader.IsDBNull(2) ? null : reader.GetString(2),
            reader.GetString(3),
            reader.IsDBNull(4) ? null : reader.GetString(4),
            reader.GetBoolean(5),
            reader.IsDBNull(6) ? null : (byte[])reader.GetValue(6),
            JsonSerializer.Deserialize<Dictionary<string, string>>(reader.GetString(7)) ?? [],
            time(8),
            time(9),
            reader.IsDBNull(10) ? null : reader.GetString(10),
            reader.GetString(11),
            time(12) ?? DateTimeOffset.MinValue));
}
