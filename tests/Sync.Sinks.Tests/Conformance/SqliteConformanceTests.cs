using Microsoft.Data.Sqlite;

namespace Sync.Sinks.Tests.Conformance;

public sealed class SqliteConformanceTests : SinkConformanceTests
{
    protected override async Task<ISinkHarness> CreateHarnessAsync() => await SqliteHarness.CreateAsync();

    private sealed class SqliteHarness : ISinkHarness
    {
        private readonly SqliteSinkOptions _options;

        private SqliteHarness(SqliteSinkOptions options, ISink sink)
        {
            _options = options;
            Sink = sink;
        }

        public ISink Sink { get; private set; }

        public static async Task<SqliteHarness> CreateAsync()
        {
            var directory = Path.Combine(Path.GetTempPath(), "sync-sqlite-conformance");
            Directory.CreateDirectory(directory);
            var options = new SqliteSinkOptions { Path = Path.Combine(directory, $"{Guid.NewGuid():N}.db") };
            return new SqliteHarness(options, await SqliteSink.OpenAsync("conformance", options, CancellationToken.None));
        }

        public TargetSpec Target(string table) => new(table);

        public async Task RestartAsync()
        {
            await Sink.DisposeAsync();
            Sink = await SqliteSink.OpenAsync("conformance", _options, CancellationToken.None);
        }

        /// <summary>SQLite lets one connection write a database at a time: a batch's transaction reads the
        /// versions and writes under the file's write lock, and the other instance waits (busy_timeout, then
        /// the sink's retry), so the version checks see every earlier commit.</summary>
        public async Task<ISink> OpenAnotherAsync() => await SqliteSink.OpenAsync("local2", _options, CancellationToken.None);

        public Task<IReadOnlyList<string>> ReadAsync(TargetSpec target)
        {
            using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = _options.Path, Pooling = false }.ToString());
            connection.Open();
            using var exists = connection.CreateCommand();
            exists.CommandText = "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = $name";
            exists.Parameters.AddWithValue("$name", target.Table);
            if ((long)exists.ExecuteScalar()! == 0)
            {
                return Task.FromResult<IReadOnlyList<string>>([]);
            }

            using var select = connection.CreateCommand();
            select.CommandText = $"SELECT * FROM \"{target.Table.Replace("\"", "\"\"", StringComparison.Ordinal)}\"";
            using var reader = select.ExecuteReader();
            var rows = new List<string>();
            while (reader.Read())
            {
                var cells = Enumerable.Range(0, reader.FieldCount)
                    .Select(i => (Name: reader.GetName(i), Value: reader.GetDataTypeName(i) == "BOOLEAN" && reader.GetValue(i) is long flag ? (flag != 0 ? "true" : "false") : Canonical(reader.GetValue(i))))
                    .OrderBy(c => c.Name, StringComparer.Ordinal)
                    .Select(c => $"{c.Name}={c.Value}");
                rows.Add(string.Join('|', cells));
            }

            rows.Sort(StringComparer.Ordinal);
            return Task.FromResult<IReadOnlyList<string>>(rows);
        }

        public async ValueTask DisposeAsync()
        {
            await Sink.DisposeAsync();
            SqliteConnection.ClearAllPools();
            foreach (var suffix in new[] { string.Empty, "-wal", "-shm" })
            {
                File.Delete(_options.Path + suffix);
            }
        }

        private static string Canonical(object value) => value switch
        {
            DBNull => "null",
            long l => l.ToString(CultureInfo.InvariantCulture),
            double d => d.ToString("R", CultureInfo.InvariantCulture),
            byte[] b => Convert.ToBase64String(b),
            _ => Convert.ToString(value, CultureInfo.InvariantCulture) ?? "null",
        };
    }
}
