using Microsoft.Extensions.Time.Testing;
using Sync.Engine.Config;
using Sync.Engine.Formats;
using Sync.Engine.Runtime;
using Sync.Sources.File;
using Sync.Testing.Files;
using Sync.Testing.Logging;

namespace Sync.Sinks.Tests.Groups;

/// <summary>
/// A group whose tables' topics run ahead of its transaction topic, and that is slow: every change is
/// read long before its BEGIN and END, while the clock moves far past <c>endTimeout</c>. Every END does
/// arrive, so nothing may be relaxed: <c>endTimeout</c> counts only while the group has caught up with
/// the transaction topic, and a BEGIN marks as missing its END only the transaction of the BEGIN before
/// it. Debezium writes BEGIN and END to the transaction topic in commit order
/// (https://debezium.io/documentation/reference/stable/connectors/postgresql.html#postgresql-transaction-metadata;
/// shapes in <see cref="BankTransfers"/>).
/// </summary>
public sealed class GroupBehindTransactionTopicTests() : TempDirectoryTest("sync-group-behind-")
{
    private readonly RecordingLoggerFactory _logs = new();

    [Fact]
    public async Task A_slow_group_reading_the_transaction_topic_last_applies_every_transaction_whole()
    {
        var bank = new BankTransfers(accounts: 10, transactions: 300, seed: 61);
        var lines = bank.Changelog(seed: 4).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Func<string, bool> isBoundary = line => line.Contains($"\"topic\":\"{BankTransfers.TransactionTopic}\"", StringComparison.Ordinal);
        var changelog = Path.Combine(Dir, "bank.jsonl");
        // Each topic's order kept, the transaction topic read after every table's topic.
        await File.WriteAllLinesAsync(changelog, lines.Where(l => !isBoundary(l)).Concat(lines.Where(isBoundary)));
        var text = $$"""
            sources:
              changelog: { type: file, path: '{{changelog}}' }
            sinks:
              local: { type: sqlite, path: '{{Path.Combine(Dir, "bank.db")}}' }

            """ + BankTransfers.Materializers("    batchSize: 20") + BankTransfers.GroupConfig;
        var components = new SyncComponents([new FileSourceFactory()], SinkCatalog.All, MessageFormats.Names, MessageFormats.Create);
        var config = ConfigLoader.Parse(text, Path.Combine(Dir, "sync.yaml"), components.Types, _ => null);
        // A slow group: each look at the clock moves it a second, so the run spans far more than endTimeout (30 s).
        var runtime = new SyncRuntime(config, components, _logs) { Time = new FakeTimeProvider(DateTimeOffset.UnixEpoch) { AutoAdvanceAmount = TimeSpan.FromSeconds(1) } };

        // Bounded so that a group that never stops fails the test instead of hanging it (not a measure of speed).
        var outcomes = await runtime.RunAsync([], RunMode.Resume, CancellationToken.None).WaitAsync(TimeSpan.FromMinutes(3));

        Assert.Contains(lines, l => isBoundary(l));
        Assert.All(outcomes, o => Assert.Null(o.Failure));
        Assert.DoesNotContain(_logs.Entries, e => e.Message.Contains("consistency relaxed", StringComparison.Ordinal));
        Assert.Equal(
            Enumerable.Range(1, bank.Accounts).Select(id => $"id={id}|balance={bank.Balances[id]}"),
            SqliteTables.Rows(Path.Combine(Dir, "bank.db"), "accounts"));
    }
}
