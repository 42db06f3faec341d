using System.Text.RegularExpressions;
using Snapshooter;
using Snapshooter.Xunit;
using Sync.Compliance.Ledger;
using Sync.Engine.Ledger;

namespace Sync.Cli.Tests;

/// <summary><c>sync ledger list|show|revoke|export|copy</c> on file ledgers.</summary>
public sealed class LedgerCommandTests : WorkspaceTests
{
    private static readonly DateTimeOffset Monday = new(2026, 11, 30, 9, 0, 0, TimeSpan.Zero);

    [Fact]
    public async Task List_shows_every_request_with_its_revocation_and_never_a_key()
    {
        var config = await SeededAsync();

        var table = await Workspace.Sync("ledger", "list", "--config", config);
        var json = await Workspace.Sync("ledger", "list", "--config", config, "--json");

        Assert.True(table.ExitCode == 0, table.ToString());
        Assert.True(json.ExitCode == 0, json.ToString());
        var requests = JsonDocument.Parse(json.Output).RootElement.EnumerateArray().ToList();
        Assert.Equal(["r-complete", "r-not-found", "r-revoked"], requests.Select(r => r.GetProperty("requestId").GetString()));
        Assert.Equal(new string('a', 64), requests[0].GetProperty("keyHash").GetString());
        Snapshot.Match(table.Output, SnapshotNameExtension.Create("table"));
        Snapshot.Match(json.Output, SnapshotNameExtension.Create("json"));
    }

    [Fact]
    public async Task Show_prints_one_request_in_full_and_an_unknown_id_exits_1()
    {
        var config = await SeededAsync();

        var shown = await Workspace.Sync("ledger", "show", "r-revoked", "--config", config);
        var unknown = await Workspace.Sync("ledger", "show", "r-nope", "--config", config);

        Assert.True(shown.ExitCode == 0, shown.ToString());
        Snapshot.Match(shown.Output);
        Assert.Equal(1, unknown.ExitCode);
        Assert.Contains("has no erasure request r-nope; sync ledger list shows them", unknown.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Revoke_records_who_and_why_and_a_second_revoke_says_when_and_by_whom()
    {
        var config = await SeededAsync();

        var revoked = await Workspace.Sync("ledger", "revoke", "r-not-found", "--config", config, "--reason", "key mistyped, ticket 42", "--by", "dpo@example.com");
        var again = await Workspace.Sync("ledger", "revoke", "r-not-found", "--config", config, "--reason", "once more", "--by", "someone");

        Assert.True(revoked.ExitCode == 0, revoked.ToString());
        Snapshot.Match(Regex.Replace(revoked.Output, @"(?m)^  at \d{4}-\d\d-\d\dT[\d:.]+Z by", "  at <now> by"));
        Assert.Equal(1, again.ExitCode);
        Assert.Matches(@"error: erasure request r-not-found was revoked already, at \d{4}-\d\d-\d\dT[\d:.]+Z by dpo@example.com \(key mistyped, ticket 42\); nothing changed", again.Error);
        await using var ledger = SqliteSuppressionLedger.Open(Workspace.File("ledger.db"));
        var request = (await ledger.GetAsync("r-not-found", CancellationToken.None))!;
        Assert.Equal(("dpo@example.com", "key mistyped, ticket 42"), (request.Revocation!.By, request.Revocation.Reason));
    }

    [Theory]
    [InlineData(new[] { "r-nope", "--reason", "typo" }, 1, "has no erasure request r-nope")]
    [InlineData(new[] { "r-complete", "--reason", "  " }, 2, "--reason is blank")]
    [InlineData(new[] { "r-complete" }, 2, "--reason")]
    public async Task Revoke_refuses_an_unknown_request_and_a_missing_or_blank_reason(string[] args, int exit, string message)
    {
        var config = await SeededAsync();

        var result = await Workspace.Sync(["ledger", "revoke", "--config", config, .. args]);

        Assert.Equal(exit, result.ExitCode);
        Assert.Contains(message, result.Error, StringComparison.Ordinal);
        await using var ledger = SqliteSuppressionLedger.Open(Workspace.File("ledger.db"));
        Assert.Null((await ledger.GetAsync("r-complete", CancellationToken.None))!.Revocation);
    }

    [Fact]
    public async Task Export_writes_a_header_every_request_with_its_revocation_and_the_count()
    {
        var config = await SeededAsync();
        var file = Workspace.File("audit/ledger.jsonl");
        Directory.CreateDirectory(Path.GetDirectoryName(file)!);

        var result = await Workspace.Sync("ledger", "export", "--config", config, "--output", file);

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains($"exported 3 requests from {Workspace.File("ledger.db")} to {file}", result.Error, StringComparison.Ordinal);
        var lines = await File.ReadAllLinesAsync(file);
        var header = JsonDocument.Parse(lines[0]).RootElement;
        Assert.Equal(Workspace.File("ledger.db"), header.GetProperty("ledger").GetString());
        Assert.Equal(3, JsonDocument.Parse(lines[^1]).RootElement.GetProperty("count").GetInt32());
        var stable = string.Join('\n', lines)
            .Replace(Workspace.File("ledger.db"), "<ledger>", StringComparison.Ordinal);
        Snapshot.Match(Regex.Replace(stable, "\"exportedAt\":\"[^\"]+\"", "\"exportedAt\":\"<now>\""));
    }

    [Fact]
    public async Task Copy_to_another_file_ledger_loses_nothing_and_a_second_copy_changes_nothing()
    {
        var config = await SeededAsync();
        var other = WriteConfig("other.yaml", "other-ledger.db");

        var first = await Workspace.Sync("ledger", "copy", "--config", config, "--to", other);
        var second = await Workspace.Sync("ledger", "copy", "--config", config, "--to", other);

        Assert.True(first.ExitCode == 0, first.ToString());
        Assert.Contains($"copied 3 requests from {Workspace.File("ledger.db")} to {Workspace.File("other-ledger.db")}; 0 already there", first.Output, StringComparison.Ordinal);
        Assert.Contains("checked: all 3 requests of the source are in the target, with their status and revocation", first.Output, StringComparison.Ordinal);
        Assert.True(second.ExitCode == 0, second.ToString());
        Assert.Contains("copied 0 requests", second.Output, StringComparison.Ordinal);
        Assert.Contains("; 3 already there", second.Output, StringComparison.Ordinal);
        var here = await Workspace.Sync("ledger", "list", "--config", config, "--json");
        var there = await Workspace.Sync("ledger", "list", "--config", other, "--json");
        Assert.Equal(here.Output, there.Output);
    }

    [Fact]
    public async Task Copy_to_its_own_ledger_is_refused()
    {
        var config = await SeededAsync();

        var result = await Workspace.Sync("ledger", "copy", "--config", config, "--to", Workspace.File("ledger.db"));

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("--to names this config's own ledger", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_revoked_erasure_lets_the_subjects_new_changes_apply_and_the_ledger_keeps_both()
    {
        var changelog = Workspace.Write("data/customers.jsonl", Line(1, "c", "ada", 10));
        var config = WriteConfig("sync.yaml", "ledger.db");
        var database = Workspace.File("customers.db");
        Assert.Equal(0, (await Workspace.Sync("run", "--config", config)).ExitCode);

        // A mistyped key: customer 7 does not exist yet, and then signs up.
        var erase = await Workspace.Sync("erase", "--config", config, "--subject", "customer", "--key", "7", "--requested-by", "dpo@example.com");
        Assert.True(erase.ExitCode == 0, erase.ToString());
        File.AppendAllText(changelog, Line(7, "c", "gus", 20));
        Assert.Equal(0, (await Workspace.Sync("run", "--config", config)).ExitCode);
        Assert.Equal(["id=1|name=ada"], SqliteTables.Rows(database, "customers"));

        var list = await Workspace.Sync("ledger", "list", "--config", config, "--json");
        var id = JsonDocument.Parse(list.Output).RootElement.EnumerateArray().Single().GetProperty("requestId").GetString()!;
        var revoke = await Workspace.Sync("ledger", "revoke", id, "--config", config, "--reason", "customer 7 was mistyped; meant 1", "--by", "dpo@example.com");
        Assert.True(revoke.ExitCode == 0, revoke.ToString());

        File.AppendAllText(changelog, Line(7, "u", "gus again", 30));
        Assert.Equal(0, (await Workspace.Sync("run", "--config", config)).ExitCode);
        Assert.Equal(["id=1|name=ada", "id=7|name=gus again"], SqliteTables.Rows(database, "customers"));

        var export = await Workspace.Sync("ledger", "export", "--config", config);
        var request = JsonDocument.Parse(export.Output.Split('\n')[1]).RootElement;
        Assert.Equal(id, request.GetProperty("requestId").GetString());
        Assert.Equal("not-found", request.GetProperty("status").GetString());
        Assert.Equal("dpo@example.com", request.GetProperty("requestedBy").GetString());
        Assert.Equal("customer 7 was mistyped; meant 1", request.GetProperty("revocation").GetProperty("reason").GetString());
        Assert.DoesNotContain("gus", export.Output, StringComparison.Ordinal);
    }

    /// <summary>A config with the file ledger ledger.db, holding three requests:
    /// complete, not-found, and revoked.</summary>
    private async Task<string> SeededAsync()
    {
        var config = WriteConfig("sync.yaml", "ledger.db");
        Workspace.Write("data/customers.jsonl", string.Empty);
        await using var ledger = SqliteSuppressionLedger.Open(Workspace.File("ledger.db"));
        await ledger.RecordAsync(
            [
                new ErasureRequest("r-complete", "customer", new string('a', 64), Monday, "dpo@example.com", RequestStatus.InProgress, null),
                new ErasureRequest("r-not-found", "customer", new string('b', 64), Monday.AddMinutes(1), "dpo@example.com", RequestStatus.InProgress, null),
                new ErasureRequest("r-revoked", "customer", new string('c', 64), Monday.AddMinutes(2), "support", RequestStatus.InProgress, null),
            ],
            CancellationToken.None);
        await ledger.SetStatusAsync([("r-complete", RequestStatus.Complete), ("r-revoked", RequestStatus.Complete)], Monday.AddMinutes(3), CancellationToken.None);
        await ledger.SetStatusAsync([("r-not-found", RequestStatus.NotFound)], Monday.AddMinutes(4), CancellationToken.None);
        await ledger.RevokeAsync("r-revoked", new Revocation(Monday.AddHours(1), "dpo@example.com", "wrong customer"), CancellationToken.None);
        return config;
    }

    /// <summary>Writes the config file <paramref name="name"/> with the file ledger <paramref name="ledger"/>.</summary>
    private string WriteConfig(string name, string ledger) =>
        CustomerChangelog.WriteConfig(Workspace, ["secret: 'ledger-command-secret-0123'", $"ledger: {ledger}"], name);

    private static string Line(int id, string op, string name, int lsn) => CustomerChangelog.Line(id, op, name, lsn);
}
