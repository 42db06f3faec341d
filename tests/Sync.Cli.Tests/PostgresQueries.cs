using Npgsql;

namespace Sync.Cli.Tests;

/// <summary>Reads what sync wrote to the test PostgreSQL server.</summary>
internal static class PostgresQueries
{
    /// <summary>The first column of every row <paramref name="sql"/> returns, as text.</summary>
    public static async Task<List<string>> FirstColumnAsync(string sql)
    {
        await using var connection = new NpgsqlConnection(TestServers.Postgres);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await using var reader = await command.ExecuteReaderAsync();
        var rows = new List<string>();
        while (await reader.ReadAsync())
        {
            rows.Add(reader.GetString(0));
        }

        return rows;
    }

    /// <summary>The single value <paramref name="sql"/> returns, as a whole number, read from
    /// <paramref name="connectionString"/> (the test server when null).</summary>
    public static async Task<long> ScalarAsync(string sql, string? connectionString = null)
    {
        await using var connection = new NpgsqlConnection(connectionString ?? TestServers.Postgres);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        return Convert.ToInt64(await command.ExecuteScalarAsync(), CultureInfo.InvariantCulture);
    }

    /// <summary>Runs <paramref name="sql"/> on the test server.</summary>
    public static async Task ExecuteAsync(string sql)
    {
        await using var connection = new NpgsqlConnection(TestServers.Postgres);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }
}
