using Microsoft.Data.Sqlite;

namespace Sync.Testing.Files;

/// <summary>Copies of a SQLite database taken and put back with SQLite's online backup API, while
/// another process may hold the file open and write to it. Putting a copy back this way (what the
/// shell's <c>.restore</c> does) writes the destination's pages under a write transaction, so a
/// connection open on it reads the older content from then on
/// (https://www.sqlite.org/backup.html, https://www.sqlite.org/c3ref/backup_finish.html); copying the
/// file over itself while a connection holds it open and a WAL beside it is a way to corrupt it
/// (https://www.sqlite.org/howtocorrupt.html, 1.2 and 1.4).</summary>
public static class SqliteCopies
{
    /// <summary>Writes everything <paramref name="source"/> holds into <paramref name="destination"/>
    /// (created when missing, its content replaced otherwise), again while a writer holds the lock.</summary>
    public static async Task CopyAsync(string source, string destination)
    {
        using var from = Connect(source);
        using var to = Connect(destination);
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                from.BackupDatabase(to);
                return;
            }
            catch (SqliteException e) when (e.SqliteErrorCode is SQLitePCL.raw.SQLITE_BUSY or SQLitePCL.raw.SQLITE_LOCKED && attempt < 100)
            {
                // A sink's batch holds the write lock: the copy goes again once it committed.
                await Task.Delay(50);
            }
        }
    }

    /// <summary>A connection that waits for another's write lock rather than failing at once.</summary>
    public static SqliteConnection Connect(string path)
    {
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Pooling = false, DefaultTimeout = 30 }.ConnectionString);
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "PRAGMA busy_timeout = 30000;";
        command.ExecuteNonQuery();
        return connection;
    }
}
