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
            // Alone and grouped alternate, so that a load that comes and goes on a shared machine
            // weighs on both modes alike; the medians are taken over the three runs of each.
            var alone = new List<(double Wall, double Cpu)>();
            var grouped = new List<(double Wall, double Cpu)>();
            for (var round = 0; round < 3; round++)
            {
                alone.Add(RunOnce(sink, changelog, grouped: false));
                grouped.Add(RunOnce(sink, changelog, grouped: true));
            }

            var (aloneWall, groupWall) = (Median(alone.Select(r => r.Wall)), Median(grouped.Select(r => r.Wall)));
            var (aloneCpu, groupCpu) = (Median(alone.Select(r => r.Cpu)), Median(grouped.Select(r => r.Cpu)));
            yield return new Figure($"consistency, {sink}: 4 materializers alone", changes / aloneWall, "changes/s");
            yield return new Figure($"consistency, {sink}: the same 4 in one group", changes / groupWall, "changes/s");
            yield return new Figure($"consistency, {sink}: group throughput / alone", aloneWall / groupWall * 100, "%");
            yield return new Figure($"consistency, {sink}: CPU per change alone (sync run, user + system)", aloneCpu / changes * 1e6, "µs");
            yield return new Figure($"consistency, {sink}: CPU per change in the group", groupCpu / changes * 1e6, "µs");
        }
    }

    private static double Median(IEnumerable<double> runs) => runs.Order().ElementAt(1);

    /// <returns>The run's wall time and the CPU time of its process, in seconds.</returns>
    private (double Wall, double Cpu) RunOnce(string sink, string changelog, bool grouped)
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
        var cpuBefore = ResourceUsage.ChildrenCpuSeconds();
        var clock = Stopwatch.StartNew();
        using var process = Process.Start(start)!;
        var error = process.StandardError.ReadToEndAsync();
        process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        var wall = clock.Elapsed.TotalSeconds;
        var cpu = ResourceUsage.ChildrenCpuSeconds() - cpuBefore;
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

        return (wall, cpu);
    }
}
