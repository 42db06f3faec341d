using System.Globalization;
using System.Text.Json;
using Npgsql;
using StackExchange.Redis;
using Sync.Testing.Elasticsearch;

namespace Sync.Chaos;

/// <summary>Reads what a sink holds now: key -> the row's <c>version</c> column.</summary>
public interface ISinkReader
{
    string Name { get; }

    /// <summary>The sink's rows, or null when the sink cannot be read right now (restarting).</summary>
    Task<IReadOnlyDictionary<RowKey, long>?> ReadAsync();
}

public sealed class PostgresReader(string connectionString, string schema) : ISinkReader
{
    public string Name => "postgres";

    public async Task<IReadOnlyDictionary<RowKey, long>?> ReadAsync()
    {
        try
        {
            // Unpooled: a server restart must not leave a broken connection in a pool.
            await using var connection = new NpgsqlConnection(connectionString + ";Pooling=false;Timeout=5");
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand($"SELECT tenant, id, region, version FROM \"{schema}\".items", connection);
            await using var reader = await command.ExecuteReaderAsync();
            var rows = new Dictionary<RowKey, long>();
            while (await reader.ReadAsync())
            {
                rows[new RowKey(reader.GetString(0), reader.GetInt64(1), reader.GetString(2))] = reader.GetInt64(3);
            }

            return rows;
        }
        catch (PostgresException e) when (e.SqlState is PostgresErrorCodes.UndefinedTable or PostgresErrorCodes.InvalidSchemaName)
        {
            return new Dictionary<RowKey, long>(); // nothing materialized yet
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException or IOException)
        {
            return null;
        }
    }
}

public sealed class RedisReader(string endpoint, string keyPattern) : ISinkReader, IAsyncDisposable
{
    private ConnectionMultiplexer? _connection;

    public string Name => "redis";

    public async Task<IReadOnlyDictionary<RowKey, long>?> ReadAsync()
    {
        try
        {
            _connection ??= await ConnectionMultiplexer.ConnectAsync($"{endpoint},abortConnect=false,connectTimeout=2000,syncTimeout=5000,asyncTimeout=5000");
            var server = _connection.GetServer(endpoint);
            var database = _connection.GetDatabase();
            var keys = new List<RedisKey>();
            await foreach (var key in server.KeysAsync(pattern: keyPattern, pageSize: 1000))
            {
                keys.Add(key);
            }

            var fields = new RedisValue[] { "tenant", "id", "region", "version" };
            var reads = keys.Select(k => database.HashGetAsync(k, fields)).ToList();
            var rows = new Dictionary<RowKey, long>();
            foreach (var values in await Task.WhenAll(reads))
            {
                if (values.Any(v => v.IsNull))
                {
                    continue; // deleted between SCAN and HMGET
                }

                rows[new RowKey(values[0].ToString(), long.Parse(values[1].ToString(), CultureInfo.InvariantCulture), values[2].ToString())] = long.Parse(values[3].ToString(), CultureInfo.InvariantCulture);
            }

            return rows;
        }
        catch (Exception e) when (e is RedisException or TimeoutException or IOException or InvalidOperationException)
        {
            return null;
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_connection is not null)
        {
            await _connection.DisposeAsync();
        }
    }
}

/// <summary>The rows of the Redis Cluster's materializer, read from every primary (each holds only its own
/// slots' keys), and its index sets by note (a column every update sets anew, so rows move between the
/// sets all the time) compared with them.</summary>
public sealed class RedisClusterReader(string nodes, string rowPrefix, string indexPrefix) : ISinkReader, IAsyncDisposable
{
    private static readonly RedisValue[] Fields = ["tenant", "id", "region", "version", "note"];
    private ConnectionMultiplexer? _connection;

    public string Name => "redis-cluster";

    public async Task<IReadOnlyDictionary<RowKey, long>?> ReadAsync() => (await ReadRowsAsync())?.Rows;

    /// <summary>Members of the note index sets that name no live row with that note, plus live rows
    /// missing from their note's set; null when the cluster cannot be read right now.</summary>
    public async Task<int?> WrongIndexMembersAsync()
    {
        if (await ReadRowsAsync() is not var (_, notes))
        {
            return null;
        }

        try
        {
            var database = _connection!.GetDatabase();
            var wrong = 0;
            foreach (var note in notes.Values.Concat(ChangelogGenerator.Notes).Distinct(StringComparer.Ordinal))
            {
                var members = (await database.SetMembersAsync(indexPrefix + note)).Select(m => m.ToString()).ToHashSet(StringComparer.Ordinal);
                var expected = notes.Where(k => k.Value == note).Select(k => k.Key).ToHashSet(StringComparer.Ordinal);
                wrong += members.Count(m => !expected.Contains(m)) + expected.Count(e => !members.Contains(e));
            }

            return wrong;
        }
        catch (Exception e) when (e is RedisException or TimeoutException or IOException or InvalidOperationException)
        {
            return null;
        }
    }

    /// <summary>The rows (key -> version) and each row key's note.</summary>
    private async Task<(Dictionary<RowKey, long> Rows, Dictionary<string, string> Notes)?> ReadRowsAsync()
    {
        try
        {
            _connection ??= await ConnectionMultiplexer.ConnectAsync($"{nodes},abortConnect=false,connectTimeout=2000,syncTimeout=5000,asyncTimeout=5000");
            var database = _connection.GetDatabase();
            var keys = new List<RedisKey>();
            foreach (var primary in _connection.GetServers().Where(s => s.IsConnected && !s.IsReplica))
            {
                await foreach (var key in primary.KeysAsync(pattern: rowPrefix + "*", pageSize: 1000))
                {
                    keys.Add(key);
                }
            }

            var reads = keys.Select(k => database.HashGetAsync(k, Fields)).ToList();
            var rows = new Dictionary<RowKey, long>();
            var notes = new Dictionary<string, string>(StringComparer.Ordinal);
            var values = await Task.WhenAll(reads);
            for (var i = 0; i < keys.Count; i++)
            {
                if (values[i].Take(4).Any(v => v.IsNull))
                {
                    continue; // deleted between SCAN and HMGET
                }

                var row = new RowKey(values[i][0].ToString(), long.Parse(values[i][1].ToString(), CultureInfo.InvariantCulture), values[i][2].ToString());
                rows[row] = long.Parse(values[i][3].ToString(), CultureInfo.InvariantCulture);
                notes[keys[i].ToString()] = values[i][4].ToString();
            }

            return (rows, notes);
        }
        catch (Exception e) when (e is RedisException or TimeoutException or IOException or InvalidOperationException)
        {
            return null;
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_connection is not null)
        {
            await _connection.DisposeAsync();
        }
    }
}

public sealed class ElasticsearchReader(FakeElasticsearch elasticsearch, string index) : ISinkReader
{
    public string Name => "elasticsearch";

    public Task<IReadOnlyDictionary<RowKey, long>?> ReadAsync()
    {
        var rows = new Dictionary<RowKey, long>();
        foreach (var source in elasticsearch.Documents(index).Values)
        {
            using var document = JsonDocument.Parse(source);
            var root = document.RootElement;
            rows[new RowKey(root.GetProperty("tenant").GetString()!, root.GetProperty("id").GetInt64(), root.GetProperty("region").GetString()!)] = root.GetProperty("version").GetInt64();
        }

        return Task.FromResult<IReadOnlyDictionary<RowKey, long>?>(rows);
    }
}
