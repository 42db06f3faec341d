using System.Runtime.CompilerServices;
using Microsoft.Data.Sqlite;

namespace Sync.Sinks.Tests.Sqlite;

/// <summary>A database file owned by one test: the sink under test, plus direct queries for assertions.</summary>
internal sealed class SqliteTestDb(string path, SqliteSinkOptions options, TimeProvider time) : IAsyncDisposable
{
    public const string Materializer = "m1";

    private readonly TimeProvider _time = time;

    public string Path { get; } = path;

    public SqliteSinkOptions Options { get; } = options;

    public SqliteSink Sink { get; private set; } = null!;

    public static async Task<SqliteTestDb> OpenAsync(TimeProvider? time = null, Action<SqliteSinkOptions>? configure = null, [CallerMemberName] string test = "")
    {
        var directory = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "sync-sqlite-tests");
        Directory.CreateDirectory(directory);
        var path = System.IO.Path.Combine(directory, $"{test}-{Guid.NewGuid():N}.db");
        var options = new SqliteSinkOptions { Path = path };
        configure?.Invoke(options);
        var db = new SqliteTestDb(path, options, time ?? TimeProvider.System);
        db.Sink = await SqliteSink.OpenAsync("local", options, db._time, CancellationToken.None);
        return db;
    }

    /// <summary>Closes the sink and opens a new one on the same file (a restart).</summary>
    public async Task ReopenAsync(TimeProvider? time = null)
    {
        await Sink.DisposeAsync();
        Sink = await SqliteSink.OpenAsync("local", Options, time ?? _time, CancellationToken.None);
    }

    /// <summary>Applies the changes as one batch; the checkpoint is the highest position per topic.</summary>
    public Task<ApplyResult> ApplyAsync(string table, params ChangeEvent[] changes) => ApplyAsync(table, retrying: null, changes);

    /// <summary><see cref="ApplyAsync(string, ChangeEvent[])"/>, telling <paramref name="retrying"/> of each retry the sink makes.</summary>
    public async Task<ApplyResult> ApplyAsync(string table, Action<string>? retrying, params ChangeEvent[] changes)
    {
        var checkpoint = changes
            .GroupBy(c => c.Origin.Topic)
            .ToDictionary(g => g.Key, g => g.Max(c => c.Origin.Position));
        return await Sink.ApplyAsync(new SinkBatch(Materializer, new TargetSpec(table), changes, checkpoint) { Retrying = retrying }, CancellationToken.None);
    }

    /// <summary>Every row of the query, each value rendered: NULL, integers, doubles (round-trip), text, x'hex' for blobs.</summary>
    public List<string> Rows(string sql)
    {
        using var connection = Connect();
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        using var reader = command.ExecuteReader();
        var rows = new List<string>();
        while (reader.Read())
        {
            var values = new string[reader.FieldCount];
            for (var i = 0; i < values.Length; i++)
            {
                values[i] = Render(reader.GetValue(i));
            }

            rows.Add(string.Join("|", values));
        }

        return rows;
    }

    /// <summary>Every row of a table ordered by its first column.</summary>
    public List<string> Table(string table) => Rows($"SELECT * FROM {SqliteWriterQuote(table)} ORDER BY 1");

    public object? Scalar(string sql)
    {
        using var connection = Connect();
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        var value = command.ExecuteScalar();
        return value is DBNull ? null : value;
    }

    /// <summary>The declared type of each column, <c>name TYPE</c>, in column order; pk columns marked.</summary>
    public List<string> Columns(string table) =>
        Rows($"SELECT name || ' ' || type || CASE WHEN pk > 0 THEN ' pk' || pk ELSE '' END FROM pragma_table_info('{table.Replace("'", "''", StringComparison.Ordinal)}') ORDER BY cid");

    public SqliteConnection Connect()
    {
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = Path, Pooling = false }.ConnectionString);
        connection.Open();
        return connection;
    }

    public static string SqliteWriterQuote(string identifier) => "\"" + identifier.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";

    public static string Render(object? value) => value switch
    {
        null or DBNull => "NULL",
        long l => l.ToString(CultureInfo.InvariantCulture),
        double d => d.ToString("R", CultureInfo.InvariantCulture),
        byte[] b => "x'" + Convert.ToHexString(b) + "'",
        _ => Convert.ToString(value, CultureInfo.InvariantCulture) ?? "NULL",
    };

    public async ValueTask DisposeAsync()
    {
        await Sink.DisposeAsync();
        foreach (var suffix in new[] { string.Empty, "-wal", "-shm" })
        {
            File.Delete(Path + suffix);
        }
    }
}

/// <summary>A clock the test moves.</summary>
internal sealed class ManualClock(DateTimeOffset now) : TimeProvider
{
    public DateTimeOffset Now { get; set; } = now;

    public override DateTimeOffset GetUtcNow() => Now;
}
