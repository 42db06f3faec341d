using Snapshooter.Xunit;
using Sync.Engine.Config;
using Sync.Engine.Formats;
using Sync.Engine.Runtime;
using Sync.Engine.Changes;
using Sync.Engine.Sinks;
using Sync.Sinks;
using Sync.Sources.File;
using Sync.Testing.Changes;
using Sync.Testing.Files;

namespace Sync.Cli.Tests;

/// <summary><c>sync status</c> of a consistency group healing after its sink went back in time. The mark is
/// the one the group writes into its own checkpoint while it reads again (tests/Sync.Sinks.Tests/Groups/
/// GroupRollbackLimitTests proves the group writes and clears it); here it is written through the sink as
/// the group does, 3 rollbacks in a row, as a run mid-heal leaves it.</summary>
public sealed class ConsistencyGroupStatusTests : WorkspaceTests
{
    [Fact]
    public async Task Status_shows_a_healing_group_with_its_rollbacks_in_a_row()
    {
        var config = await RunGroupAsync();

        await WriteThroughSinkAsync(config, SinkCheckpointGuard.GroupHealingMark(3));
        var status = await Workspace.Sync("status", "--config", config);

        Assert.True(status.ExitCode == 0, status.ToString());
        Snapshot.Match(status.Output);
    }

    [Fact]
    public async Task Status_shows_no_heal_once_the_group_healed()
    {
        var config = await RunGroupAsync();
        await WriteThroughSinkAsync(config, SinkCheckpointGuard.GroupHealingMark(3));

        await WriteThroughSinkAsync(config, SinkCheckpointGuard.HealedMark);
        var status = await Workspace.Sync("status", "--config", config);

        Assert.True(status.ExitCode == 0, status.ToString());
        Assert.DoesNotContain("healing", status.Output, StringComparison.Ordinal);
    }

    private async Task<string> RunGroupAsync()
    {
        var bank = new BankTransfers(accounts: 3, transactions: 4, seed: 7);
        Workspace.Write("data/bank.jsonl", bank.Changelog(seed: 1));
        var config = Workspace.WriteFileToSqliteConfig("data/bank.jsonl", "bank.db", BankTransfers.Materializers("    batchSize: 50") + BankTransfers.GroupConfig);
        var run = await Workspace.Sync("run", "--config", config);
        Assert.True(run.ExitCode == 0, run.ToString());
        return config;
    }

    private static async Task WriteThroughSinkAsync(string config, StreamPosition mark)
    {
        var components = new SyncComponents([new FileSourceFactory()], SinkCatalog.All, MessageFormats.Names, MessageFormats.Create);
        var loaded = ConfigLoader.Parse(await File.ReadAllTextAsync(config), config, components.Types, _ => null);
        await using var sink = await components.Sinks["sqlite"].OpenAsync(loaded.Sinks["local"], CancellationToken.None);
        await sink.ApplyAsync(
            new SinkBatch(ConsistencyGroupRunner.CheckpointName("bank"), new TargetSpec("accounts"), [], new Dictionary<string, StreamPosition>(StringComparer.Ordinal) { [SinkCheckpointGuard.HealingStream] = mark }),
            CancellationToken.None);
    }
}
