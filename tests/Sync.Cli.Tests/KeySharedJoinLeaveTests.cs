using System.Diagnostics;
using System.Globalization;
using System.Text;
using Npgsql;
using Sync.Pulsar;
using Sync.Testing.Files;
using Sync.Testing.Process;
using Sync.Testing.Pulsar;

namespace Sync.Cli.Tests;

/// <summary>
/// Two <c>sync run</c> processes come and go on one Key_Shared subscription while changes keep
/// arriving: the first runs alone, the second joins, the first leaves (SIGTERM, or kill -9 with
/// batches in flight). A key's changes then pass from one process to the other, and the table
/// still ends exactly as the changes say, because the broker hands a key over only once the
/// process that had it acknowledged what it held of it, or left (Pulsar 4.0, PIP-379 draining
/// hashes in PersistentStickyKeyDispatcherMultipleConsumers, which the fake broker models). Real
/// processes, the fake broker in this process, a real PostgreSQL (SYNC_TEST_POSTGRES).
/// </summary>
public sealed class KeySharedJoinLeaveTests : IAsyncLifetime
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(90);
    private const string Subscription = "sync-users";
    private readonly Workspace _workspace = new();
    private readonly string _table = $"ksjl_{Guid.NewGuid():N}"[..20];
    private readonly string _topic = $"persistent://public/default/shop.public.users-{Guid.NewGuid():N}";
    private readonly Dictionary<int, (string Name, long Lsn)?> _model = [];
    private readonly Random _random = new(27);
    private FakePulsarBroker _broker = null!;
    private PulsarClient _client = null!;
    private long _lsn;
    private int _published;

    private static string Postgres => Environment.GetEnvironmentVariable("SYNC_TEST_POSTGRES") is { Length: > 0 } value
        ? value
        : throw new InvalidOperationException("SYNC_TEST_POSTGRES is not set: run ./scripts/test.sh, which starts a throwaway PostgreSQL");

    public Task InitializeAsync()
    {
        _broker = FakePulsarBroker.Start();
        _client = new PulsarClient(new PulsarClientOptions { ServiceUrl = _broker.ServiceUrl });
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await _client.DisposeAsync();
        await _broker.DisposeAsync();
        await using var connection = new NpgsqlConnection(Postgres);
        await connection.OpenAsync();
        await using var drop = new NpgsqlCommand($"DROP TABLE IF EXISTS {_table}", connection);
        await drop.ExecuteNonQueryAsync();
        _workspace.Dispose();
    }

    [Theory]
    [InlineData("sigterm")]
    [InlineData("kill -9")]
    public async Task Processes_joining_and_leaving_a_key_shared_subscription_mid_run_leave_the_exact_state(string firstLeavesBy)
    {
        var config = _workspace.Write("sync.yaml", $"""
            sources:
              broker:
                type: pulsar
                serviceUrl: {_broker.ServiceUrl}
                adminUrl: {_broker.AdminUrl}
                subscriptionType: key-shared
                initialPosition: earliest
                receiverQueueSize: 100
            sinks:
              pg: {"{"} type: postgres, connectionString: '{Postgres}', tls: disable {"}"}
            materializers:
              users:
                source: broker
                topics: ['{_topic}']
                sink: pg
                table: {_table}
                batchSize: 50
            """);
        await PublishAsync(1_500, keys: 150);

        var first = Started(config);
        Running? second = null;
        try
        {
            await Poll.UntilAsync(() => Delivered().Count == 1 && Delivered().Values.Single() > 0, Patience);

            // Changes keep coming in bursts while the second process starts and joins, so the
            // first holds changes of the keys that move to the second when it does.
            second = Started(config);
            var joining = Task.Run(async () =>
            {
                for (var bursts = 0; bursts < 10 && Delivered().Count < 2; bursts++)
                {
                    await PublishAsync(200, keys: 150);
                }
                await Poll.UntilAsync(() => Delivered().Count == 2, Patience);
                await PublishAsync(1_000, keys: 150);
            });
            await joining;
            await Poll.UntilAsync(() => Delivered().Values.All(d => d > 0), Patience);

            // The first leaves in the middle of another stream of bursts, holding changes it has
            // not acknowledged: they must reach the second process before the later changes of
            // their keys.
            var publishedBefore = Volatile.Read(ref _published);
            var leaving = Task.Run(() => PublishAsync(1_500, keys: 150));
            await Poll.UntilAsync(() => Volatile.Read(ref _published) >= publishedBefore + 500, Patience);
            if (firstLeavesBy == "sigterm")
            {
                await StopAsync(first);
            }
            else
            {
                first.Process.Kill(entireProcessTree: true);
                await first.Process.WaitForExitAsync();
            }
            await leaving;
            await PublishAsync(1_000, keys: 150);

            await Poll.UntilAsync(() => Table().SequenceEqual(Expected()), Patience);
            Assert.False(second.Process.HasExited, $"the remaining process stopped:\n{second.Output()}");

            // Never-regress alone would hide a broker that let a key run ahead of itself (an older
            // change arriving after a newer one is skipped as stale). When the first process stops
            // cleanly, per-key order across the handovers means no process ever gets a change
            // older than what the sink holds: both summaries count no stale change. After kill -9
            // stale changes are legitimate: a batch the first process committed but had not
            // acknowledged comes again, and its earlier changes of a key are older than the
            // key's last change in that batch, which the sink already has.
            await StopAsync(second);
            if (firstLeavesBy == "sigterm")
            {
                Assert.Equal((0, 0), (StaleCount(first), StaleCount(second)));
            }
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"""
                a step did not get there; the table has {Table().Count} rows, {Expected().Count} expected, {Table().Except(Expected()).Count()} wrong or extra
                --- first process
                {first.Output()}
                --- second process
                {second?.Output()}
                """);
        }
        finally
        {
            foreach (var running in new[] { first, second }.OfType<Running>().Where(r => !r.Process.HasExited))
            {
                running.Process.Kill(entireProcessTree: true);
                await running.Process.WaitForExitAsync();
            }
        }

        Assert.Equal(Expected(), Table());
    }

    /// <summary>SIGTERM, then waits for the run to finish its batch in hand and exit.</summary>
    private static async Task StopAsync(Running running)
    {
        using (var kill = Process.Start("kill", ["-TERM", running.Process.Id.ToString(CultureInfo.InvariantCulture)])!)
        {
            await kill.WaitForExitAsync();
        }
        using var exit = new CancellationTokenSource(Patience);
        await running.Process.WaitForExitAsync(exit.Token);
        // The exit event comes before the last output lines are read; this waits for them.
        running.Process.WaitForExit();
        Assert.True(running.Process.ExitCode == 0, running.Output());
    }

    /// <summary>The stale column of the run summary a stopped process printed.</summary>
    private long StaleCount(Running running)
    {
        var output = running.Output();
        var row = output.Split('\n').SkipWhile(line => !line.StartsWith("run summary", StringComparison.Ordinal))
            .FirstOrDefault(line => line.Contains($"pg/{_table}", StringComparison.Ordinal))
            ?? throw new InvalidOperationException($"no run summary row for pg/{_table}:\n{output}");
        // materializer, target, read, applied, deleted, stale, ...
        return long.Parse(row.Split(' ', StringSplitOptions.RemoveEmptyEntries)[5], CultureInfo.InvariantCulture);
    }

    private IReadOnlyDictionary<string, long> Delivered() => _broker.DeliveredPerConsumer(_topic, Subscription);

    private Running Started(string config) => new(SyncProcess.Start(_workspace.Directory, "run", "--config", config));

    /// <summary>A <c>sync run</c> process whose output is read as it comes, so a full pipe never blocks it.</summary>
    private sealed class Running
    {
        private readonly StringBuilder _output = new();

        public Running(Process process)
        {
            Process = process;
            process.OutputDataReceived += (_, e) => Append(e.Data);
            process.ErrorDataReceived += (_, e) => Append(e.Data);
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
        }

        public Process Process { get; }

        public string Output()
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }

        private void Append(string? line)
        {
            lock (_output)
            {
                _output.AppendLine(line);
            }
        }
    }

    /// <summary>Changes as Pulsar IO's Debezium source writes them (JSON keys, bare envelopes,
    /// deletes as op=d only), with creates, updates, deletes and re-creates. Sent in bursts of 100
    /// without waiting for each receipt, which keeps their order (one producer, one connection)
    /// and outpaces a consumer.</summary>
    private async Task PublishAsync(int events, int keys)
    {
        await using var producer = await _client.CreateProducerAsync(new ProducerOptions { Topic = _topic });
        var burst = new List<Task>(100);
        for (var i = 0; i < events; i++)
        {
            var id = _random.Next(keys);
            var lsn = ++_lsn;
            var exists = _model.GetValueOrDefault(id) is not null;
            var op = !exists ? "c" : _random.Next(5) == 0 ? "d" : "u";
            var name = $"user {id} v{lsn}";
            var image = $"{{\"id\":{id},\"name\":\"{name}\"}}";
            var before = exists ? $"{{\"id\":{id},\"name\":\"{_model[id]!.Value.Name}\"}}" : "null";
            var after = op == "d" ? "null" : image;
            var value = string.Create(CultureInfo.InvariantCulture,
                $"{{\"before\":{before},\"after\":{after},\"source\":{{\"connector\":\"postgresql\",\"db\":\"shop\",\"schema\":\"public\",\"table\":\"users\",\"lsn\":{lsn}}},\"op\":\"{op}\",\"ts_ms\":{1_700_000_000_000 + lsn}}}");
            burst.Add(producer.SendAsync(new OutgoingMessage { KeyBytes = Encoding.UTF8.GetBytes($"{{\"id\":{id}}}"), Data = Encoding.UTF8.GetBytes(value) }).AsTask());
            _model[id] = op == "d" ? null : (name, lsn);
            if (burst.Count == 100 || i == events - 1)
            {
                await Task.WhenAll(burst);
                Interlocked.Add(ref _published, burst.Count);
                burst.Clear();
            }
        }
    }

    private List<string> Expected() =>
        [.. _model.Where(e => e.Value is not null).OrderBy(e => e.Key).Select(e => $"{e.Key}={e.Value!.Value.Name}")];

    private List<string> Table()
    {
        using var connection = new NpgsqlConnection(Postgres);
        connection.Open();
        using var exists = new NpgsqlCommand($"SELECT to_regclass('{_table}') IS NOT NULL", connection);
        if (!(bool)exists.ExecuteScalar()!)
        {
            return [];
        }

        using var select = new NpgsqlCommand($"SELECT id, name FROM {_table} ORDER BY id", connection);
        using var reader = select.ExecuteReader();
        var rows = new List<string>();
        while (reader.Read())
        {
            rows.Add($"{reader.GetInt64(0)}={reader.GetString(1)}");
        }

        return rows;
    }
}
