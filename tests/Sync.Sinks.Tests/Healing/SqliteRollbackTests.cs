using Microsoft.Data.Sqlite;
using Sync.Testing.Files;

namespace Sync.Sinks.Tests.Healing;

/// <summary>SQLite going back in time: the sink's database file restored from a copy taken earlier,
/// while a run holds it open with the online backup API (<see cref="SqliteCopies"/>); a plain copy
/// of the file over itself is tested with no run open.</summary>
public sealed class SqliteRollbackTests : StoppingSinkRollbackTests
{
    private readonly string _folder = Directory.CreateTempSubdirectory("sync-sqlite-heal-").FullName;

    private string DatabasePath => Path.Combine(_folder, "sink.db");

    private string CopyPath => Path.Combine(_folder, "earlier.db");

    protected override string SinkYaml => $"""
          target:
            type: sqlite
            path: '{DatabasePath}'
        """;

    protected override string Table => "users";

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        Directory.Delete(_folder, recursive: true);
    }

    protected override Task<IReadOnlyList<string>> RowsAsync()
    {
        var rows = new List<string>();
        if (!File.Exists(DatabasePath))
        {
            return Task.FromResult<IReadOnlyList<string>>(rows);
        }

        using var connection = SqliteCopies.Connect(DatabasePath);
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT id || '=' || name FROM users ORDER BY id";
        try
        {
            using var reader = command.ExecuteReader();
            while (reader.Read())
            {
                rows.Add(reader.GetString(0));
            }
        }
        catch (SqliteException e) when (e.Message.Contains("no such table", StringComparison.Ordinal))
        {
            // Not created yet.
        }

        return Task.FromResult<IReadOnlyList<string>>(rows);
    }

    protected override async Task SnapshotAsync()
    {
        File.Delete(CopyPath);
        await SqliteCopies.CopyAsync(DatabasePath, CopyPath);
    }

    protected override Task RestoreAsync() => SqliteCopies.CopyAsync(CopyPath, DatabasePath);

    protected override Task EmptyAsync()
    {
        using var connection = SqliteCopies.Connect(DatabasePath);
        using var tables = connection.CreateCommand();
        tables.CommandText = "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'";
        var names = new List<string>();
        using (var reader = tables.ExecuteReader())
        {
            while (reader.Read())
            {
                names.Add(reader.GetString(0));
            }
        }

        using var delete = connection.CreateCommand();
        delete.CommandText = string.Concat(names.Select(n => $"DELETE FROM \"{n.Replace("\"", "\"\"", StringComparison.Ordinal)}\";"));
        delete.ExecuteNonQuery();
        return Task.CompletedTask;
    }

    /// <summary>The operator's plain restore: the file replaced by the older copy (<c>cp</c>) while no
    /// run holds it open, its WAL and shared-memory files removed with it.</summary>
    [Theory]
    [InlineData("failover")]
    [InlineData("key-shared")]
    public async Task A_file_replaced_by_an_earlier_copy_while_stopped_is_healed_at_the_next_start(string subscriptionType)
    {
        var config = Config(subscriptionType);
        await PublishAroundASnapshotAndStopAsync(config);

        foreach (var suffix in new[] { "-wal", "-shm" })
        {
            File.Delete(DatabasePath + suffix);
        }

        File.Copy(CopyPath, DatabasePath, overwrite: true);
        Assert.NotEqual(Expected, await RowsAsync());
        await using var next = await StartAgainAndCatchUpAsync(config);
    }
}
