using Npgsql;

namespace Sync.Sinks.Tests.Postgres;

/// <summary>A schema (and a state schema) owned by one test on the server that ./scripts/test.sh
/// starts: the sink under test, plus direct queries for assertions. Dropped at dispose.</summary>
internal sealed class PostgresTestDb : IAsyncDisposable
{
    public const string Materializer = "m1";
    public const string VersionPrefix = "_sync_version";

    private PostgresTestDb(string schema, PostgresSinkOptions options)
    {
        Schema = schema;
        Options = options;
    }

    public string Schema { get; }

    public string StateSchema => Options.StateSchema;

    public PostgresSinkOptions Options { get; }

    public PostgresSink Sink { get; private set; } = null!;

    /// <summary>The test server's connection string; the test fails (never skips) when it is not set.</summary>
    public static string ServerConnectionString =>
        TestServers.Postgres;

    public static async Task<PostgresTestDb> OpenAsync(Action<PostgresSinkOptions>? configure = null)
    {
        var schema = $"t_{Guid.NewGuid():N}"[..20];
        var options = new PostgresSinkOptions
        {
            ConnectionString = ServerConnectionString,
            Tls = PostgresTlsMode.Disable,
            Schema = schema,
            StateSchema = schema + "_sync",
            Retry = new RetryPolicy { InitialDelay = TimeSpan.FromMilliseconds(20), MaxDelay = TimeSpan.FromMilliseconds(200), MaxAttempts = 8 },

            // The tests of the idle probe turn it on, on a clock of their own; elsewhere its queries
            // would only interleave with the connections a test kills and counts.
            IdleProbeInterval = TimeSpan.Zero,
        };
        configure?.Invoke(options);
        var db = new PostgresTestDb(schema, options);
        db.Sink = await PostgresSink.OpenAsync("pg", options, CancellationToken.None);
        return db;
    }

    public async Task ReopenAsync()
    {
        await Sink.DisposeAsync();
        Sink = await PostgresSink.OpenAsync("pg", Options, CancellationToken.None);
    }

    public TargetSpec Target(string table, PostgresTargetOptions? options = null) => new(table) { Options = options };

    /// <summary>Applies the changes as one batch; the checkpoint is the highest position per topic.</summary>
    public async Task<ApplyResult> ApplyAsync(string table, params ChangeEvent[] changes) => await ApplyAsync(Target(table), changes);

    public async Task<ApplyResult> ApplyAsync(TargetSpec target, params ChangeEvent[] changes)
    {
        var checkpoint = changes.GroupBy(c => c.Origin.Topic).ToDictionary(g => g.Key, g => g.Max(c => c.Origin.Position));
        return await Sink.ApplyAsync(new SinkBatch(Materializer, target, changes, checkpoint), CancellationToken.None);
    }

    /// <summary>A connection of its own, outside any pool: a pooled one would not survive a server
    /// restart between two calls.</summary>
    public static Task<NpgsqlConnection> ConnectAsync() => ConnectAsync(ServerConnectionString);

    private static async Task<NpgsqlConnection> ConnectAsync(string connectionString)
    {
        var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(connectionString) { Pooling = false, Timezone = "UTC" }.ConnectionString);
        await connection.OpenAsync();
        return connection;
    }

    /// <summary>Every row of the query, values as PostgreSQL's text output (NULL as <c>NULL</c>), columns joined by <c>|</c>.</summary>
    public static Task<List<string>> RowsAsync(string sql) => RowsAsync(ServerConnectionString, sql);

    /// <summary><see cref="RowsAsync(string)"/> on the server of <paramref name="connectionString"/>.</summary>
    public static async Task<List<string>> RowsAsync(string connectionString, string sql)
    {
        await using var connection = await ConnectAsync(connectionString);
        await using var command = new NpgsqlCommand(sql, connection);
        await using var reader = await command.ExecuteReaderAsync();
        var rows = new List<string>();
        while (await reader.ReadAsync())
        {
            var values = new string[reader.FieldCount];
            for (var i = 0; i < values.Length; i++)
            {
                values[i] = reader.IsDBNull(i) ? "NULL" : reader.GetValue(i) is var v && v is string s ? s : Convert.ToString(v, System.Globalization.CultureInfo.InvariantCulture)!;
            }

            rows.Add(string.Join('|', values));
        }

        return rows;
    }

    public static async Task<object?> ScalarAsync(string sql)
    {
        await using var connection = await ConnectAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        var value = await command.ExecuteScalarAsync();
        return value is DBNull ? null : value;
    }

    /// <summary><c>name type</c> of each column in order, version columns included.</summary>
    public Task<List<string>> ColumnsAsync(string table) => RowsAsync(
        $"SELECT a.attname || ' ' || format_type(a.atttypid, a.atttypmod) FROM pg_attribute a WHERE a.attrelid = to_regclass('{Q(Schema)}.{Q(table).Replace("'", "''", StringComparison.Ordinal)}') AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum");

    public string Table(string table) => $"{Q(Schema)}.{Q(table)}";

    public static string Q(string identifier) => PostgresIdentifiers.Quote(identifier);

    /// <summary>Every live row as <c>col=value|…</c> (columns by name, canonical <see cref="FieldValue.ToText"/>
    /// text, version columns left out), rows sorted; empty when the table does not exist.</summary>
    /// <summary>A value's canonical text; jsonb comes back with PostgreSQL's spacing, so JSON is
    /// compared minified.</summary>
    private static string Canonical(FieldValue value)
    {
        if (value.Kind != ValueKind.Json)
        {
            return value.ToText() ?? "null";
        }

        using var document = System.Text.Json.JsonDocument.Parse(value.AsText);
        var buffer = new System.IO.MemoryStream();
        using (var writer = new System.Text.Json.Utf8JsonWriter(buffer, new System.Text.Json.JsonWriterOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            document.RootElement.WriteTo(writer);
        }

        return System.Text.Encoding.UTF8.GetString(buffer.ToArray());
    }

    public Task<IReadOnlyList<string>> CanonicalRowsAsync(string table) => CanonicalRowsAsync(Schema, table);

    public static async Task<IReadOnlyList<string>> CanonicalRowsAsync(string schema, string table)
    {
        await using var connection = await ConnectAsync();
        var columns = new List<(string Name, string Type)>();
        await using (var command = new NpgsqlCommand(
            "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
            connection))
        {
            command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = PostgresIdentifiers.Qualified(schema, table) });
            await using var reader = await command.ExecuteReaderAsync();
            while (await reader.ReadAsync())
            {
                var name = reader.GetString(0);
                if (!name.StartsWith(VersionPrefix, StringComparison.Ordinal))
                {
                    columns.Add((name, reader.GetString(1)));
                }
            }
        }

        if (columns.Count == 0)
        {
            return [];
        }

        var rows = new List<string>();
        await using (var select = new NpgsqlCommand(
            $"SELECT {string.Join(", ", columns.Select(c => PostgresColumnType.Parse(c.Type).SelectExpression(Q(c.Name))))} FROM {PostgresIdentifiers.Qualified(schema, table)}",
            connection))
        await using (var reader = await select.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
            {
                rows.Add(string.Join('|', columns
                    .Select((c, i) => (c.Name, Value: Canonical(PostgresColumnType.Parse(c.Type).Read(reader, i))))
                    .OrderBy(c => c.Name, StringComparer.Ordinal)
                    .Select(c => $"{c.Name}={c.Value}")));
            }
        }

        rows.Sort(StringComparer.Ordinal);
        return rows;
    }

    /// <summary>Terminates the sink's server connection from another connection, as an operator or a failover would.</summary>
    public async Task KillSinkConnectionAsync()
    {
        var pid = Sink.ProcessId ?? throw new InvalidOperationException("the sink has no open connection");
        Assert.True((bool)(await ScalarAsync($"SELECT pg_terminate_backend({pid})"))!);
    }

    public async ValueTask DisposeAsync()
    {
        await Sink.DisposeAsync();
        await using var connection = await ConnectAsync();
        await using var drop = new NpgsqlCommand($"DROP SCHEMA IF EXISTS {Q(Schema)} CASCADE; DROP SCHEMA IF EXISTS {Q(StateSchema)} CASCADE", connection);
        await drop.ExecuteNonQueryAsync();
    }
}
