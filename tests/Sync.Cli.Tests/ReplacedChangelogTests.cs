using System.Text.RegularExpressions;

namespace Sync.Cli.Tests;

/// <summary>A changelog file replaced under a stored checkpoint (restored from git, regenerated) is
/// refused even when it is as long as the checkpoint or longer: the line the checkpoint stopped at
/// is compared with the fingerprint stored beside it.</summary>
public sealed class ReplacedChangelogTests : WorkspaceTests
{
    private const string Customers = "persistent://public/default/db1.public.customers";

    /// <summary>The README's walk-through: run, erase (which appends tombstones and blanks lines), run,
    /// then `git checkout examples/data` (the original file) and new lines appended past the old end.</summary>
    [Fact]
    public async Task The_readmes_restored_changelog_with_lines_appended_is_refused_and_a_backfill_applies_them()
    {
        var changelog = Path.Combine(Workspace.Examples, "data", "changelog.jsonl");
        var original = File.ReadAllText(changelog);
        Assert.Equal(0, (await Workspace.Sync("run", "--config", Workspace.Quickstart)).ExitCode);
        var erase = await Workspace.Sync("erase", "--config", Workspace.Quickstart, "--subject", "customer", "--key", "1", "--report", "erasure.json");
        Assert.True(erase.ExitCode == 0, erase.ToString());
        Assert.Equal(0, (await Workspace.Sync("run", "--config", Workspace.Quickstart)).ExitCode);
        var linesAfterErasure = File.ReadAllLines(changelog).Length;
        Assert.True(linesAfterErasure > original.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length, "the erasure appends tombstones");

        // git checkout examples/data, then new customers until the file is longer than the checkpoint.
        var restored = original;
        var id = 100;
        while (restored.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length <= linesAfterErasure)
        {
            restored += NewCustomer(original, id++);
        }

        File.WriteAllText(changelog, restored);
        var run = await Workspace.Sync("run", "--config", Workspace.Quickstart);

        Assert.True(run.ExitCode == 1, run.ToString());
        Assert.Contains($"changelog file {changelog} was replaced: its line {linesAfterErasure} is not the line materializer 'customers' stored as its checkpoint", run.Error, StringComparison.Ordinal);
        Assert.Contains("'sync backfill --config CONFIG --materializer customers'", run.Error, StringComparison.Ordinal);
        Assert.DoesNotContain(Rows(), r => r.StartsWith("id=100|", StringComparison.Ordinal));

        var backfill = await Workspace.Sync("backfill", "--config", Workspace.Quickstart, "--materializer", "customers");
        Assert.True(backfill.ExitCode == 0, backfill.ToString());
        var after = await Workspace.Sync("run", "--config", Workspace.Quickstart, "--materializer", "customers");
        Assert.True(after.ExitCode == 0, after.ToString());
        Assert.Contains(Rows(), r => r.StartsWith("id=100|", StringComparison.Ordinal));
        // The suppression ledger still keeps the erased subject out of the replay.
        Assert.DoesNotContain(Rows(), r => r.StartsWith("id=1|", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_file_replaced_by_one_of_the_same_length_is_refused_and_one_with_lines_blanked_in_place_is_not()
    {
        var changelog = Workspace.Write("data/users.jsonl", Line(1, "ann", 10) + Line(2, "bob", 11));
        var config = Workspace.WriteFileToSqliteConfig("data/users.jsonl", "users.db", $"""
            materializers:
              users: {"{"} source: changelog, topics: ['{Customers}'], sink: local, table: users {"}"}
            """);
        Assert.Equal(0, (await Workspace.Sync("run", "--config", config)).ExitCode);

        // Blanked in place, as erasure compaction does: the same file, lines and line numbers kept.
        var blanked = Line(1, "ann", 10) + new string(' ', Line(2, "bob", 11).Length - 1) + "\n";
        File.WriteAllText(changelog, blanked + Line(3, "cid", 12));
        var same = await Workspace.Sync("run", "--config", config);
        Assert.True(same.ExitCode == 0, same.ToString());

        // Another file of three lines, each as long as before: the cursor (line 3) is not past its end.
        File.WriteAllText(changelog, Line(1, "amy", 20) + Line(2, "ben", 21) + Line(3, "cat", 22));
        var replaced = await Workspace.Sync("run", "--config", config);

        Assert.True(replaced.ExitCode == 1, replaced.ToString());
        Assert.Matches(new Regex(@"changelog file \S+users\.jsonl was replaced: its line 3 is not the line materializer 'users' stored as its checkpoint \(file-source cursor 0:3:-1, line fingerprint [0-9a-f]+, now [0-9a-f]+\)"), replaced.Error);
    }

    private List<string> Rows() => SqliteTables.Rows(Workspace.QuickstartDb, "customers");

    /// <summary>A new customer in the changelog's own format: the third line (Alan) with another key, id
    /// and LSN, streamed rather than snapshotted.</summary>
    private static string NewCustomer(string original, int id)
    {
        var template = original.Split('\n')[2];
        var key = Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes($$"""{"id":{{id}}}"""));
        var line = Regex.Replace(template, "\"key\":\"[^\"]+\"", $"\"key\":\"{key}\"");
        line = Regex.Replace(line, "\"after\":\\{\"id\":\\d+", $"\"after\":{{\"id\":{id}");
        line = Regex.Replace(line, "\"lsn\":\\d+", $"\"lsn\":{900000 + id}");
        // An insert streamed after the snapshot, as Debezium writes it (op c, snapshot false), not a
        // copy of the snapshot's own last record: a snapshot record after streaming starts a new epoch.
        line = line.Replace("\"snapshot\":\"last\"", "\"snapshot\":\"false\"", StringComparison.Ordinal).Replace("\"op\":\"r\"", "\"op\":\"c\"", StringComparison.Ordinal);
        Assert.Contains("\"snapshot\":\"false\"", line, StringComparison.Ordinal);
        return line + "\n";
    }

    private static string Line(int id, string name, int lsn) =>
        ChangelogLines.Line(Customers, id, "c", name, lsn);
}
