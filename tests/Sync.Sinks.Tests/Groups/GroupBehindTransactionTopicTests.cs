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
        // Each topic's order kept, the transaction topic read after every table's topic.
        await File.WriteAllLinesAsync(BankGroupOverFile.Changelog(Dir), lines.Where(l => !isBoundary(l)).Concat(lines.Where(isBoundary)));
        // A slow group: each look at the clock moves it a second, so the run spans far more than endTimeout (30 s).
        var slow = new FakeTimeProvider(DateTimeOffset.UnixEpoch) { AutoAdvanceAmount = TimeSpan.FromSeconds(1) };

        var outcomes = await BankGroupOverFile.RunAsync(Dir, SinkCatalog.All, slow, _logs);

        Assert.Contains(lines, l => isBoundary(l));
        Assert.All(outcomes, o => Assert.Null(o.Failure));
        Assert.DoesNotContain(_logs.Entries, e => e.Message.Contains("consistency relaxed", StringComparison.Ordinal));
        BankGroupOverFile.AssertBalances(Dir, bank);
    }
}
