using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Npgsql;
using Sync.Pulsar;
using Sync.Testing.Changes;

namespace Sync.Bench.EndToEnd;

/// <summary>
/// The latency a consistency group adds (issue 21, item 5): bank transfers (<see cref="BankTransfers"/>,
/// Debezium transaction metadata as Pulsar IO writes it) published transaction by transaction at a
/// steady rate to the fake broker, read by the real CLI (`sync run`, a child process) into PostgreSQL by
/// four materializers on their own and by the same four in one group. A transfer's latency runs from
/// the publication of its BEGIN record to the commit that makes both of its ledger entries visible: a
/// trigger on the target table sends a NOTIFY, which PostgreSQL delivers only at commit
/// (https://www.postgresql.org/docs/current/sql-notify.html: "if a NOTIFY is executed inside a
/// transaction, the notify events are not delivered until and unless the transaction is committed").
/// </summary>
internal sealed class ConsistencyGroupLatency(string cliDll, string work, string postgres, Uri serviceUrl, Uri adminUrl)
{
    private const int Warmup = 20;

    public async Task<IEnumerable<Figure>> RunAsync(int transactions, int perSecond)
    {
        var alone = await RunOnceAsync(grouped: false, transactions, perSecond);
        var grouped = await RunOnceAsync(grouped: true, transactions, perSecond);
        var shape = $"{perSecond:N0} transactions/s, {alone.Count:N0} transfers";
        return
        [
            new Figure($"consistency latency, postgres, 4 materializers alone, BEGIN published -> transfer visible, {shape}, p50", alone.P50Ms, "ms"),
            new Figure("consistency latency, postgres, 4 materializers alone, p99", alone.P99Ms, "ms"),
            new Figure($"consistency latency, postgres, the same 4 in one group, {shape}, p50", grouped.P50Ms, "ms"),
            new Figure("consistency latency, postgres, the same 4 in one group, p99", grouped.P99Ms, "ms"),
        ];
    }

    private async Task<Latency> RunOnceAsync(bool grouped, int transactions, int perSecond)
    {
        var run = Guid.NewGuid().ToString("N")[..10];
        var schema = $"lat_{run}";
        var prefix = $"persistent://public/default/lat{run}.";
        var bank = new BankTransfers(accounts: 200, transactions: Warmup + transactions, seed: 21);
        var records = TransactionsInOrder(bank, prefix);
        var config = Path.Combine(work, $"latency-{run}.yaml");
        File.WriteAllText(config, $"""
            sources:
              broker: {"{"} type: pulsar, serviceUrl: '{serviceUrl}', adminUrl: '{adminUrl}', initialPosition: earliest {"}"}
            sinks:
              local: {"{"} type: postgres, connectionString: '{postgres}', tls: disable, schema: {schema}, stateSchema: {schema}_state {"}"}

            """ + BankTransfers.Materializers().Replace("source: changelog", "source: broker", StringComparison.Ordinal).Replace(BankTransfers.Prefix, prefix, StringComparison.Ordinal)
            + (grouped ? BankTransfers.GroupConfig.Replace(BankTransfers.Prefix, prefix, StringComparison.Ordinal) : string.Empty));

        await using var client = new PulsarClient(new PulsarClientOptions { ServiceUrl = serviceUrl });
        var producers = new Dictionary<string, IPulsarProducer>(StringComparer.Ordinal);
        var start = new ProcessStartInfo("dotnet", [cliDll, "run", "--config", config]) { WorkingDirectory = work, RedirectStandardOutput = true, RedirectStandardError = true };
        using var process = Process.Start(start)!;
        var error = process.StandardError.ReadToEndAsync();
        _ = process.StandardOutput.ReadToEndAsync();
        await using var listener = new NpgsqlConnection(postgres);
        try
        {
            // Unmeasured: the accounts' creation and the first transfers, until every target exists.
            foreach (var (lines, _) in records.Take(1 + Warmup))
            {
                await PublishAsync(client, producers, lines);
            }

            await UntilAsync(() => TablesExistAsync(schema), process, error);
            await ExecuteAsync($"""
                CREATE FUNCTION {schema}.notify_ledger() RETURNS trigger LANGUAGE plpgsql AS
                $$ BEGIN PERFORM pg_notify('{schema}', NEW.id::text); RETURN NEW; END $$;
                CREATE TRIGGER notify_ledger AFTER INSERT ON {schema}.ledger_entries FOR EACH ROW EXECUTE FUNCTION {schema}.notify_ledger();
                """);
            var visible = new Dictionary<long, long>();
            await listener.OpenAsync();
            listener.Notification += (_, e) =>
            {
                var now = Stopwatch.GetTimestamp();
                lock (visible)
                {
                    visible[long.Parse(e.Payload, CultureInfo.InvariantCulture)] = now;
                }
            };
            await using (var listen = new NpgsqlCommand($"LISTEN {schema}", listener))
            {
                await listen.ExecuteNonQueryAsync();
            }

            using var stopListening = new CancellationTokenSource();
            var listening = ListenAsync(listener, stopListening.Token);

            var measured = records.Skip(1 + Warmup).ToList();
            var begun = new List<(long Started, IReadOnlyList<long> LedgerIds)>();
            var interval = Stopwatch.Frequency / (double)perSecond;
            var clock = Stopwatch.GetTimestamp();
            for (var i = 0; i < measured.Count; i++)
            {
                var due = clock + (long)(i * interval);
                while (Stopwatch.GetTimestamp() < due)
                {
                    await Task.Delay(1);
                }

                var started = Stopwatch.GetTimestamp();
                await PublishAsync(client, producers, measured[i].Lines);
                if (measured[i].LedgerIds.Count > 0)
                {
                    begun.Add((started, measured[i].LedgerIds));
                }
            }

            var expected = begun.SelectMany(b => b.LedgerIds).ToHashSet();
            await UntilAsync(() => Task.FromResult(Visible(visible, expected)), process, error);
            await stopListening.CancelAsync();
            await listening;

            var latencies = begun.Select(b => b.LedgerIds.Max(id => visible[id]) - b.Started).Order().ToArray();
            double Ms(long ticks) => ticks * 1000.0 / Stopwatch.Frequency;
            return new Latency(Ms(latencies[latencies.Length / 2]), Ms(latencies[Math.Min(latencies.Length - 1, (int)(latencies.Length * 0.99))]), latencies.Length);
        }
        finally
        {
            foreach (var producer in producers.Values)
            {
                await producer.DisposeAsync();
            }

            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }

            await process.WaitForExitAsync();
            await ExecuteAsync($"DROP SCHEMA IF EXISTS {schema} CASCADE; DROP SCHEMA IF EXISTS {schema}_state CASCADE");
        }
    }

    private static bool Visible(Dictionary<long, long> visible, HashSet<long> expected)
    {
        lock (visible)
        {
            return expected.All(visible.ContainsKey);
        }
    }

    private static async Task ListenAsync(NpgsqlConnection listener, CancellationToken stop)
    {
        try
        {
            while (!stop.IsCancellationRequested)
            {
                await listener.WaitAsync(stop);
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
        }
    }

    /// <summary>Each source transaction's records, BEGIN first and END last, in commit order, with the
    /// ids of the ledger entries it adds, on topics renamed under <paramref name="prefix"/>.</summary>
    private static List<(IReadOnlyList<(string Topic, byte[] Key, byte[] Value)> Lines, IReadOnlyList<long> LedgerIds)> TransactionsInOrder(BankTransfers bank, string prefix)
    {
        var byTransaction = new SortedDictionary<long, (List<(string, byte[], byte[])> Begin, List<(string, byte[], byte[])> Changes, List<(string, byte[], byte[])> End, List<long> Ledger)>();
        foreach (var line in bank.Changelog(seed: 9).Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            using var record = JsonDocument.Parse(line);
            var topic = record.RootElement.GetProperty("topic").GetString()!;
            var value = record.RootElement.GetProperty("value");
            var isTransaction = topic == BankTransfers.TransactionTopic;
            var tx = isTransaction
                ? long.Parse(value.GetProperty("id").GetString()!, CultureInfo.InvariantCulture)
                : value.GetProperty("source").GetProperty("txId").GetInt64();
            if (!byTransaction.TryGetValue(tx, out var parts))
            {
                byTransaction[tx] = parts = ([], [], [], []);
            }

            // Pulsar IO's key: base64 of the converter's key bytes.
            var message = (prefix + topic[BankTransfers.Prefix.Length..], Convert.FromBase64String(record.RootElement.GetProperty("key").GetString()!), Encoding.UTF8.GetBytes(value.GetRawText()));
            if (isTransaction)
            {
                (value.GetProperty("status").GetString() == "BEGIN" ? parts.Begin : parts.End).Add(message);
            }
            else
            {
                parts.Changes.Add(message);
                if (topic.EndsWith(".ledger_entries", StringComparison.Ordinal))
                {
                    parts.Ledger.Add(value.GetProperty("after").GetProperty("id").GetInt64());
                }
            }
        }

        return [.. byTransaction.Values.Select(p => ((IReadOnlyList<(string, byte[], byte[])>)[.. p.Begin, .. p.Changes, .. p.End], (IReadOnlyList<long>)p.Ledger))];
    }

    private static async Task PublishAsync(PulsarClient client, Dictionary<string, IPulsarProducer> producers, IReadOnlyList<(string Topic, byte[] Key, byte[] Value)> lines)
    {
        foreach (var (topic, key, value) in lines)
        {
            if (!producers.TryGetValue(topic, out var producer))
            {
                producers[topic] = producer = await client.CreateProducerAsync(new ProducerOptions { Topic = topic, BatchingEnabled = false });
            }

            await producer.SendAsync(new OutgoingMessage { KeyBytes = key, Data = value });
        }
    }

    private async Task<bool> TablesExistAsync(string schema)
    {
        await using var connection = new NpgsqlConnection(postgres);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand($"SELECT count(*) FROM pg_tables WHERE schemaname = '{schema}' AND tablename IN ('accounts', 'ledger_entries', 'orders', 'order_lines')", connection);
        return (long)(await command.ExecuteScalarAsync())! == 4;
    }

    private async Task ExecuteAsync(string sql)
    {
        await using var connection = new NpgsqlConnection(postgres);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }

    private static async Task UntilAsync(Func<Task<bool>> done, Process process, Task<string> error)
    {
        var clock = Stopwatch.StartNew();
        while (!await done())
        {
            if (process.HasExited)
            {
                throw new InvalidOperationException($"sync run exited {process.ExitCode}: {await error}");
            }

            if (clock.Elapsed > TimeSpan.FromMinutes(3))
            {
                throw new TimeoutException("the published transactions did not all become visible within 3 minutes");
            }

            await Task.Delay(20);
        }
    }

    private sealed record Latency(double P50Ms, double P99Ms, int Count);
}
