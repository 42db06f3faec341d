using System.Globalization;
using Microsoft.Data.Sqlite;

namespace Sync.Testing.Files;

/// <summary>Reads tables of a SQLite file as plain text rows, for exact comparisons.</summary>
public static class SqliteTables
{
    /// <summary>Rows as <c>col=value|col=value</c> in column order, sorted by the first column;
    /// NULL prints as <c>null</c>, text as is, numbers invariant.</summary>
    public static List<string> Rows(string database, string table)
    {
        using var connection = Open(database);
        using var command = connection.CreateCommand();
        command.CommandText = $"SELECT * FROM \"{table}\" ORDER BY 1";
        using var reader = command.ExecuteReader();
        var rows = new List<string>();
        while (reader.Read())
        {
            var cells = new List<string>();
            for (var i = 0; i < reader.FieldCount; i++)
            {
                var value = reader.IsDBNull(i) ? "null" : Convert.ToString(reader.GetValue(i), CultureInfo.InvariantCulture);
                cells.Add($"{reader.GetName(i)}={value}");
            }

            rows.Add(string.Join('|', cells));
        }

        return rows;
    }

    public static long Count(string database, string sql)
    {
        using var connection = Open(database);
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        return Convert.ToInt64(command.ExecuteScalar(), CultureInfo.InvariantCulture);
    }

    private static SqliteConnection Open(string database)
    {
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = database, Mode = SqliteOpenMode.ReadOnly, Pooling = false }.ToString());
        connection.Open();
        return connection;
    }
}
