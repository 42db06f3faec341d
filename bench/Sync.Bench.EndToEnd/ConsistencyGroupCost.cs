using System.Diagnostics;
using Sync.Testing.Changes;

namespace Sync.Bench.EndToEnd;

/// <summary>
/// The cost of a consistency group (issue 21, item 5): the same bank-transfer changelog
/// (<see cref="BankTransfers"/>: Debezium transaction metadata as Pulsar IO writes it) read by the real
/// CLI (`sync run`, a child process) from a changelog file into PostgreSQL or SQLite, by four
/// materializers on their own and by the same four in one consistency group. Throughput is changes
/// (rows of the four tables) per second of wall time, median of three runs into fresh targets. The
/// group's buffer holds the whole drift between the topics, so that every transaction is applied whole.</summary>
internal sealed class ConsistencyGroupCost(string cliDll, string work, string? postgres)
{
    private const string Group = """

        consistency:
          bank:
            transactions: persistent://public/default/bank.transaction
            materializers: [accounts, ledger_entries, orders, order_lines]
            maxTransactionChanges: 1000000
        """;

    public IEnumerable<Figure> Run(int transactions)
    {
        var bank = new BankTransfers(accounts: 1000, transactions: transactions, seed: 21);
        var changelog = Path.Combine(work, "bank.jsonl");
        File.WriteAllText(changelog, bank.Changelog(seed: 21));
        // The accounts' creation, then per transfer two account updates and two ledger entries, then orders and lines.
        var changes = bank.Accounts + (bank.LedgerEntries * 2) + bank.Orders + bank.OrderLines;
        foreach (var sink in postgres is null ? new[] { "sqlite" } : ["sqlite", "postgres"])
        {
            var alone = Median(() => RunOnce(sink, changelog, grouped: false));
            var grouped = Median(() => RunOnce(sink, changelog, grouped: true));
            yield return new Figure($"consistency, {sink}: 4 materializers alone", changes / alone, "changes/s");
            yield return new Figure($"consistency, {sink}: the same 4 in one group", changes / grouped, "changes/s");
            yield return new Figure($"consistency, {sink}: group throughput / alone", alone / grouped * 100, "%");
        }
    }

    private static double Median(Func<double> run) => new[] { run(), run(), run() }.Order().ElementAt(1);

    private double RunOnce(string sink, string changelog, bool grouped)
    {
        var id = Guid.NewGuid().ToString("N")[..12];
        var target = sink == "sqlite"
            ? $"{{ type: sqlite, path: {Path.Combine(work, $"bank-{id}.db")} }}"
            : $"{{ type: postgres, connectionString: '{postgres}', tls: disable, schema: bank_{id}, stateSchema: bank_{id}_state }}";
        var config = Path.Combine(work, $"bank-{id}.yaml");
        File.WriteAllText(config, $"""
            sources:
              changelog: {"{"} type: file, path: {changelog} {"}"}
            sinks:
              local: {target}

            """ + BankTransfers.Materializers() + (grouped ? Group : string.Empty));
        var start = new ProcessStartInfo("dotnet", [cliDll, "run", "--config", config]) { WorkingDirectory = work, RedirectStandardOutput = true, RedirectStandardError = true };
        var clock = Stopwatch.StartNew();
        using var process = Process.Start(start)!;
        var error = process.StandardError.ReadToEndAsync();
        process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"sync run exited {process.ExitCode}: {error.Result}");
        }

        // The changelog interleaves its five topics at random, so the tables' topics drift thousands of
        // records away from the transaction topic; a buffer smaller than that drift releases most
        // transactions in parts, which is no longer what a group costs.
        if (grouped && !error.Result.Contains(", 0 relaxed", StringComparison.Ordinal))
        {
            throw new InvalidOperationException($"the group relaxed consistency, so its time is not that of whole transactions: {error.Result[^Math.Min(error.Result.Length, 2000)..]}");
        }

        return clock.Elapsed.TotalSeconds;
    }
}
