using System.Text.Json.Nodes;
using Microsoft.Data.Sqlite;
using Npgsql;
using NpgsqlTypes;
using Sync.Engine.Changes;

namespace Sync.Cli.Tests.Corpus;

/// <summary>The sink a corpus case runs into: its YAML for <c>sinks.target</c>, and its tables read
/// back as canonical JSON (the canonical text of FieldValue.ToText for values JSON has no type for).</summary>
internal abstract class CorpusTarget : IAsyncDisposable
{
    public abstract string SinkYaml { get; }

    public abstract Task<SinkTable> ReadAsync(string table);

    public virtual ValueTask DisposeAsync() => ValueTask.CompletedTask;

    public static CorpusTarget Sqlite(string path) => new SqliteTarget(path);

    /// <summary>A fresh schema (and state schema) of its own on SYNC_TEST_POSTGRES, dropped afterwards.
    /// Without SYNC_TEST_POSTGRES the case fails: ./scripts/test.sh always provides one.</summary>
    public static async Task<CorpusTarget> PostgresAsync()
    {
        var connectionString = TestServers.Postgres;
        var schema = "corpus_" + Guid.NewGuid().ToString("N")[..12];
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var create = new NpgsqlCommand($"CREATE SCHEMA {schema}", connection);
        await create.ExecuteNonQueryAsync();
        return new PostgresTarget(connectionString, schema);
    }

    private sealed class SqliteTarget(string path) : CorpusTarget
    {
        public override string SinkYaml => $"{{ type: sqlite, path: '{path}' }}";

        public override Task<SinkTable> ReadAsync(string table)
        {
            var empty = new SinkTable(false, [], new Dictionary<string, string>(), []);
            if (!File.Exists(path))
            {
                return Task.FromResult(empty);
            }

            using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Mode = SqliteOpenMode.ReadOnly, Pooling = false }.ToString());
            connection.Open();
            var types = new Dictionary<string, string>();
            var columns = new List<string>();
            using (var info = connection.CreateCommand())
            {
                info.CommandText = "SELECT name, type FROM pragma_table_info($table) ORDER BY cid";
                info.Parameters.AddWithValue("$table", table);
                using var reader = info.ExecuteReader();
                while (reader.Read())
                {
                    columns.Add(reader.GetString(0));
                    types[reader.GetString(0)] = reader.GetString(1);
                }
            }

            if (columns.Count == 0)
            {
                return Task.FromResult(empty);
            }

            var rows = new List<JsonObject>();
            using var select = connection.CreateCommand();
            select.CommandText = $"SELECT * FROM \"{table.Replace("\"", "\"\"", StringComparison.Ordinal)}\"";
            using (var reader = select.ExecuteReader())
            {
                while (reader.Read())
                {
                    var row = new JsonObject();
                    for (var i = 0; i < reader.FieldCount; i++)
                    {
                        row[reader.GetName(i)] = reader.IsDBNull(i) ? null : reader.GetValue(i) switch
                        {
                            long l when types[reader.GetName(i)] == "BOOLEAN" => JsonValue.Create(l != 0),
                            long l => JsonValue.Create(l),
                            double d => JsonValue.Create(d),
                            byte[] b => JsonValue.Create(Convert.ToBase64String(b)),
                            var other => JsonValue.Create(Convert.ToString(other, CultureInfo.InvariantCulture)),
                        };
                    }

                    rows.Add(row);
                }
            }

            return Task.FromResult(new SinkTable(true, columns, types, rows));
        }
    }

    private sealed class PostgresTarget(string connectionString, string schema) : CorpusTarget
    {
        /// <summary>The default of a PostgreSQL target's <c>versionColumn</c> (src/Sinks/Postgres/PostgresTargetOptions.cs).</summary>
        private const string VersionColumn = "_sync_version";

        public override string SinkYaml => $"{{ type: postgres, connectionString: '{connectionString}', tls: disable, schema: {schema}, stateSchema: {schema}_state }}";

        public override async Task<SinkTable> ReadAsync(string table)
        {
            await using var connection = new NpgsqlConnection(connectionString);
            await connection.OpenAsync();
            var types = new Dictionary<string, string>();
            var columns = new List<string>();
            await using (var info = new NpgsqlCommand(
                "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
                + "WHERE a.attrelid = to_regclass(quote_ident($1) || '.' || quote_ident($2)) AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum", connection))
            {
                info.Parameters.AddWithValue(schema);
                info.Parameters.AddWithValue(table);
                await using var reader = await info.ExecuteReaderAsync();
                while (await reader.ReadAsync())
                {
                    // The sink's own version columns (a target's versionColumn, default _sync_version, and
                    // its _stream and _position companions) are bookkeeping, not row data.
                    if (!reader.GetString(0).StartsWith(VersionColumn, StringComparison.Ordinal))
                    {
                        columns.Add(reader.GetString(0));
                        types[reader.GetString(0)] = reader.GetString(1);
                    }
                }
            }

            if (columns.Count == 0)
            {
                return new SinkTable(false, [], types, []);
            }

            // Types Npgsql reads exactly are read natively; numeric, json and anything else as their text.
            var select = string.Join(", ", columns.Select(c => Native(types[c]) ? Quote(c) : Quote(c) + "::text"));
            var rows = new List<JsonObject>();
            await using var command = new NpgsqlCommand($"SELECT {select} FROM {Quote(schema)}.{Quote(table)}", connection);
            await using (var reader = await command.ExecuteReaderAsync())
            {
                while (await reader.ReadAsync())
                {
                    var row = new JsonObject();
                    for (var i = 0; i < columns.Count; i++)
                    {
                        row[columns[i]] = reader.IsDBNull(i) ? null : Canonical(reader, i, types[columns[i]]);
                    }

                    rows.Add(row);
                }
            }

            return new SinkTable(true, columns, types, rows);
        }

        public override async ValueTask DisposeAsync()
        {
            await using var connection = new NpgsqlConnection(connectionString);
            await connection.OpenAsync();
            await using var drop = new NpgsqlCommand($"DROP SCHEMA IF EXISTS {schema} CASCADE; DROP SCHEMA IF EXISTS {schema}_state CASCADE", connection);
            await drop.ExecuteNonQueryAsync();
        }

        private static bool Native(string type) =>
            type is "boolean" or "smallint" or "integer" or "bigint" or "real" or "double precision" or "bytea" or "date" or "uuid"
                or "timestamp with time zone" or "time with time zone" or "interval"
            || type.StartsWith("timestamp", StringComparison.Ordinal) && type.EndsWith("without time zone", StringComparison.Ordinal)
            || type.StartsWith("time", StringComparison.Ordinal) && type.EndsWith("without time zone", StringComparison.Ordinal);

        private static JsonNode? Canonical(NpgsqlDataReader reader, int i, string type)
        {
            var epoch = DateOnly.FromDateTime(DateTime.UnixEpoch).DayNumber;
            switch (type)
            {
                case "boolean": return JsonValue.Create(reader.GetBoolean(i));
                case "smallint": return JsonValue.Create((long)reader.GetInt16(i));
                case "integer": return JsonValue.Create((long)reader.GetInt32(i));
                case "bigint": return JsonValue.Create(reader.GetInt64(i));
                case "real":
                    // The float's shortest round-trip text as a double (3.14f reads as 3.14, not 3.140000104904175).
                    return JsonValue.Create(double.Parse(reader.GetFloat(i).ToString("R", CultureInfo.InvariantCulture), CultureInfo.InvariantCulture));
                case "double precision": return JsonValue.Create(reader.GetDouble(i));
                case "bytea": return JsonValue.Create(Convert.ToBase64String(reader.GetFieldValue<byte[]>(i)));
                case "date": return JsonValue.Create(TemporalText.Date(reader.GetFieldValue<DateOnly>(i).DayNumber - epoch));
                case "uuid": return JsonValue.Create(reader.GetGuid(i).ToString());
                case "timestamp with time zone":
                    // An instant: compared by value with the source's ISO text (RowComparison).
                    return JsonValue.Create(reader.GetFieldValue<DateTime>(i).ToString("yyyy-MM-dd'T'HH:mm:ss.FFFFFFF'Z'", CultureInfo.InvariantCulture));
                case "time with time zone":
                    // As FieldValue's TimeTz text: HH:mm:ss, the fraction without trailing zeros, Z for UTC.
                    var time = reader.GetFieldValue<DateTimeOffset>(i);
                    return JsonValue.Create(time.ToString("HH:mm:ss.FFFFFFF", CultureInfo.InvariantCulture)
                        + (time.Offset == TimeSpan.Zero ? "Z" : time.ToString("zzz", CultureInfo.InvariantCulture)));
                case "interval":
                    var interval = reader.GetFieldValue<NpgsqlInterval>(i);
                    return JsonValue.Create(TemporalText.Duration(interval.Time + ((interval.Months * 30L) + interval.Days) * 86_400_000_000L));
            }

            if (type.StartsWith("timestamp", StringComparison.Ordinal))
            {
                return JsonValue.Create(TemporalText.Timestamp((reader.GetFieldValue<DateTime>(i).Ticks - DateTime.UnixEpoch.Ticks) / 10, TimeUnit.Microseconds));
            }

            if (type.StartsWith("time", StringComparison.Ordinal) && type.EndsWith("without time zone", StringComparison.Ordinal))
            {
                return JsonValue.Create(TemporalText.Time(reader.GetFieldValue<TimeSpan>(i).Ticks * 100));
            }

            var text = reader.GetString(i);
            if (type.StartsWith("numeric", StringComparison.Ordinal) && text is not ("NaN" or "Infinity" or "-Infinity"))
            {
                return JsonNode.Parse(text);
            }

            return type is "json" or "jsonb" ? JsonNode.Parse(text) : JsonValue.Create(text);
        }

        private static string Quote(string identifier) => "\"" + identifier.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";
    }
}
