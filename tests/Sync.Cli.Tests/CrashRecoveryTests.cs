namespace Sync.Cli.Tests;

/// <summary>Killing <c>sync run</c> at any moment and running it again gives the same tables as
/// one uninterrupted run: the checkpoint is stored in the same transaction as the rows.</summary>
public sealed class CrashRecoveryTests : WorkspaceTests
{
    private const string Topic = "persistent://public/default/db1.public.items";

    [Fact]
    public async Task A_run_killed_midway_and_run_again_ends_with_the_same_table_as_an_uninterrupted_run()
    {
        WriteChangelog(events: 60_000, keys: 700, seed: 7);
        var killed = Config("killed.db");
        var clean = Config("clean.db");

        using (var process = Testing.Process.SyncProcess.Start(Workspace.Directory, "run", "--config", killed))
        {
            // Kill -9 once some batches are committed, while the run is still going.
            var deadline = DateTime.UtcNow.AddSeconds(60);
            while (!process.HasExited && DateTime.UtcNow < deadline && CommittedLine("killed.db") < 5_000)
            {
                await Task.Delay(20);
            }

            Assert.False(process.HasExited, "the run finished before it could be killed; make the changelog longer");
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }

        var committed = CommittedLine("killed.db");
        Assert.InRange(committed, 5_000, 59_999);

        var resumed = await Workspace.Sync("run", "--config", killed);
        var uninterrupted = await Workspace.Sync("run", "--config", clean);

        Assert.True(resumed.ExitCode == 0, resumed.ToString());
        Assert.True(uninterrupted.ExitCode == 0, uninterrupted.ToString());
        var expected = SqliteTables.Rows(Workspace.File("clean.db"), "items");
        Assert.NotEmpty(expected);
        Assert.Equal(expected, SqliteTables.Rows(Workspace.File("killed.db"), "items"));
    }

    private long CommittedLine(string database)
    {
        var path = Workspace.File(database);
        if (!File.Exists(path))
        {
            return 0;
        }

        try
        {
            return SqliteTables.Count(path, "SELECT coalesce(max(CAST(substr(position, 3, instr(substr(position, 3), ':') - 1) AS INTEGER)), 0) FROM _sync_checkpoints WHERE stream LIKE 'file-source:%'");
        }
        catch (Microsoft.Data.Sqlite.SqliteException)
        {
            return 0; // not created yet
        }
    }

    private string Config(string database) => Workspace.Write($"{database}.yaml", $"""
        sources:
          changelog: {"{"} type: file, path: data/items.jsonl {"}"}
        sinks:
          local: {"{"} type: sqlite, path: {database} {"}"}
        materializers:
          items:
            source: changelog
            topics: ['{Topic}']
            sink: local
            table: items
            batchSize: 50
        """);

    private void WriteChangelog(int events, int keys, int seed)
    {
        var random = new Random(seed);
        var live = new HashSet<int>();
        var text = new StringBuilder();
        for (var i = 1; i <= events; i++)
        {
            var key = random.Next(keys);
            var lsn = 1000 + i;
            if (live.Contains(key) && random.Next(10) == 0)
            {
                live.Remove(key);
                text.Append($$$$"""{"topic":"{{{{Topic}}}}","key":{"id":{{{{key}}}}},"value":{"op":"d","before":{"id":{{{{key}}}}},"after":null,"source":{"lsn":{{{{lsn}}}}}}}""").Append('\n');
            }
            else
            {
                var op = live.Add(key) ? "c" : "u";
                text.Append($$$$"""{"topic":"{{{{Topic}}}}","key":{"id":{{{{key}}}}},"value":{"op":"{{{{op}}}}","after":{"id":{{{{key}}}},"n":{{{{i}}}},"label":"item {{{{key}}}} v{{{{i}}}}"},"source":{"lsn":{{{{lsn}}}}}}}""").Append('\n');
            }
        }

        Workspace.Write("data/items.jsonl", text.ToString());
    }
}
