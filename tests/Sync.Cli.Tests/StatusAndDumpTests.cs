using Snapshooter;
using Snapshooter.Xunit;

namespace Sync.Cli.Tests;

public sealed class StatusAndDumpTests : WorkspaceTests
{
    [Fact]
    public async Task Status_shows_checkpoint_end_and_lag_before_and_after_a_run()
    {
        var before = await Workspace.Sync("status", "--config", Workspace.Quickstart);
        Assert.Equal(0, (await Workspace.Sync("run", "--config", Workspace.Quickstart)).ExitCode);
        var after = await Workspace.Sync("status", "--config", Workspace.Quickstart);

        Assert.True(before.ExitCode == 0, before.ToString());
        Assert.Equal(0, after.ExitCode);
        Snapshot.Match(before.Output, SnapshotNameExtension.Create("before"));
        Snapshot.Match(after.Output, SnapshotNameExtension.Create("after"));
    }

    [Fact]
    public async Task Status_as_json_lists_a_row_per_materializer_and_topic()
    {
        var result = await Workspace.Sync("status", "--config", Workspace.Quickstart, "--json", "--materializer", "orders");

        Assert.Equal(0, result.ExitCode);
        var row = Assert.Single(System.Text.Json.JsonDocument.Parse(result.Output).RootElement.EnumerateArray());
        Assert.Equal("orders", row.GetProperty("materializer").GetString());
        Assert.Equal(8, row.GetProperty("behind").GetInt64());
    }

    [Fact]
    public async Task A_dump_replays_as_a_changelog_to_the_same_table()
    {
        var dump = await Workspace.Sync("dump", "--config", Workspace.Quickstart, "--topic", "persistent://public/default/db2.sales.orders", "--compacted");
        Assert.True(dump.ExitCode == 0, dump.ToString());
        Assert.Equal(3, dump.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);

        Workspace.Write("replay/data/changelog.jsonl", dump.Output);
        var config = Workspace.WriteFileToSqliteConfig("data/changelog.jsonl", "replay.db", name: "replay/sync.yaml", rest: """
            materializers:
              orders: { source: changelog, topics: [persistent://public/default/db2.sales.orders], sink: local, table: orders }
            """);
        Assert.Equal(0, (await Workspace.Sync("run", "--config", config)).ExitCode);
        Assert.Equal(0, (await Workspace.Sync("run", "--config", Workspace.Quickstart, "--materializer", "orders")).ExitCode);

        Assert.Equal(SqliteTables.Rows(Workspace.QuickstartDb, "orders"), SqliteTables.Rows(Workspace.File("replay/replay.db"), "orders"));
    }

    [Fact]
    public async Task A_short_topic_name_dumps_the_topic_as_its_full_name_does()
    {
        var full = await Workspace.Sync("dump", "--config", Workspace.Quickstart, "--topic", "persistent://public/default/db2.sales.orders");
        var short_ = await Workspace.Sync("dump", "--config", Workspace.Quickstart, "--topic", "db2.sales.orders");

        Assert.True(short_.ExitCode == 0, short_.ToString());
        Assert.NotEmpty(full.Output.Trim());
        Assert.Equal(full.Output, short_.Output);
    }

    [Fact]
    public async Task A_topic_the_source_does_not_have_is_an_error_naming_it_and_the_source()
    {
        var result = await Workspace.Sync("dump", "--config", Workspace.Quickstart, "--topic", "db2.sales.order", "--topic", "db2.sales.orders");

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("topic db2.sales.order (persistent://public/default/db2.sales.order) does not exist on source", result.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("db2.sales.orders ", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_existing_topic_with_nothing_in_the_range_is_an_empty_dump()
    {
        var result = await Workspace.Sync("dump", "--config", Workspace.Quickstart, "--topic", "db2.sales.orders", "--from", "9999:0:-1");

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal(string.Empty, result.Output.Trim());
    }

    [Fact]
    public async Task A_bad_position_is_a_usage_error()
    {
        var result = await Workspace.Sync("dump", "--config", Workspace.Quickstart, "--from", "yesterday");

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("--from (yesterday) must be a position ledger:entry:batch", result.Error, StringComparison.Ordinal);
    }
}
