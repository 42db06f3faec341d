using Npgsql;

namespace Sync.Chaos;

/// <summary>
/// A PostgreSQL target restored to an earlier point, as a restore from a backup or a failover to a
/// replica that was behind leaves it: every table of the target schema and of the state schema (the
/// checkpoints, delete markers and targets go back with the rows, since they live in the same
/// database) is copied aside in one snapshot, and later put back in one transaction.
/// <para>One REPEATABLE READ transaction sees one snapshot for all its statements, so the copies are
/// consistent with each other, as pg_dump's are
/// (https://www.postgresql.org/docs/current/transaction-iso.html#XACT-REPEATABLE-READ). The restore
/// locks the tables first (ACCESS EXCLUSIVE, https://www.postgresql.org/docs/current/sql-lock.html),
/// so sync sees either the state before it or the restored one, never a mix.</para>
/// </summary>
public sealed class PostgresRollback(string connectionString, params string[] schemas)
{
    private readonly string _aside = $"{schemas[0]}_earlier";
    private readonly List<(string Schema, string Table)> _tables = [];

    /// <summary>Copies the tables aside; false when there is nothing to copy yet.</summary>
    public async Task<bool> SnapshotAsync()
    {
        await using var connection = await OpenAsync();
        await using var transaction = await connection.BeginTransactionAsync(System.Data.IsolationLevel.RepeatableRead);
        var tables = new List<(string Schema, string Table)>();
        await using (var list = new NpgsqlCommand("SELECT table_schema, table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE' AND table_schema = ANY(@schemas) ORDER BY 1, 2", connection, transaction))
        {
            list.Parameters.AddWithValue("schemas", schemas);
            await using var reader = await list.ExecuteReaderAsync();
            while (await reader.ReadAsync())
            {
                tables.Add((reader.GetString(0), reader.GetString(1)));
            }
        }

        if (!tables.Any(t => t.Schema == schemas[0]))
        {
            return false; // the target table does not exist yet
        }

        await ExecuteAsync(connection, transaction, $"DROP SCHEMA IF EXISTS \"{_aside}\" CASCADE; CREATE SCHEMA \"{_aside}\"");
        foreach (var (schema, table) in tables)
        {
            await ExecuteAsync(connection, transaction, $"CREATE TABLE {Aside(schema, table)} AS SELECT * FROM \"{schema}\".\"{table}\"");
        }

        await transaction.CommitAsync();
        _tables.Clear();
        _tables.AddRange(tables);
        return true;
    }

    /// <summary>Puts the copies back in one transaction; false when no snapshot was taken.</summary>
    public async Task<bool> RestoreAsync()
    {
        if (_tables.Count == 0)
        {
            return false;
        }

        await using var connection = await OpenAsync();
        await using var transaction = await connection.BeginTransactionAsync();
        await ExecuteAsync(connection, transaction, $"LOCK TABLE {string.Join(", ", _tables.Select(t => $"\"{t.Schema}\".\"{t.Table}\""))} IN ACCESS EXCLUSIVE MODE");
        foreach (var (schema, table) in _tables)
        {
            // OVERRIDING SYSTEM VALUE: an identity column (the dead-letter table's id) takes the copied
            // values back (https://www.postgresql.org/docs/current/sql-insert.html).
            await ExecuteAsync(connection, transaction, $"DELETE FROM \"{schema}\".\"{table}\"; INSERT INTO \"{schema}\".\"{table}\" OVERRIDING SYSTEM VALUE SELECT * FROM {Aside(schema, table)}");
        }

        await transaction.CommitAsync();
        return true;
    }

    private string Aside(string schema, string table) => $"\"{_aside}\".\"{schema}__{table}\"";

    private async Task<NpgsqlConnection> OpenAsync()
    {
        // Unpooled: a server restart must not leave a broken connection in a pool.
        var connection = new NpgsqlConnection(connectionString + ";Pooling=false;Timeout=5;Command Timeout=60");
        await connection.OpenAsync();
        return connection;
    }

    private static async Task ExecuteAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string sql)
    {
        await using var command = new NpgsqlCommand(sql, connection, transaction);
        await command.ExecuteNonQueryAsync();
    }
}
