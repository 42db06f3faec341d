using Npgsql;

namespace Sync.Cli.Tests;

/// <summary><see cref="PulsarCliFixture"/> with a real PostgreSQL (SYNC_TEST_POSTGRES) and a table
/// of the test's own, dropped afterwards.</summary>
public abstract class PulsarPostgresCliFixture(string tablePrefix) : PulsarCliFixture
{
    /// <summary>The test's table in PostgreSQL.</summary>
    protected string Table { get; } = $"{tablePrefix}_{Guid.NewGuid():N}"[..20];

    protected static string Postgres => TestServers.Postgres;

    public override async Task DisposeAsync()
    {
        await using (var connection = new NpgsqlConnection(Postgres))
        {
            await connection.OpenAsync();
            await using var drop = new NpgsqlCommand($"DROP TABLE IF EXISTS {Table}", connection);
            await drop.ExecuteNonQueryAsync();
        }

        await base.DisposeAsync();
    }

    /// <summary>The rows of <see cref="Table"/>; 0 until the sink has created it.</summary>
    protected long TableRows() =>
        Count($"SELECT (to_regclass('{Table}') IS NOT NULL)::int") == 0 ? 0 : Count($"SELECT count(*) FROM {Table}");

    /// <summary>The single number a query returns.</summary>
    protected static long Count(string sql)
    {
        using var connection = new NpgsqlConnection(Postgres);
        connection.Open();
        using var command = new NpgsqlCommand(sql, connection);
        return Convert.ToInt64(command.ExecuteScalar(), CultureInfo.InvariantCulture);
    }
}
