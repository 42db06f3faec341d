using Npgsql;
using StackExchange.Redis;
using Sync.Pulsar;
using Sync.Testing.Pulsar;

namespace Sync.Cli.Tests;

/// <summary><c>sync erase --purge-backlog</c> killed with SIGKILL at each of its steps, then run again
/// with the same arguments, ends where an erase that nothing interrupts ends (case <c>none</c>): the
/// same exit code, verdict and residue in its report, one request in the ledger with the same status,
/// the subject gone from every sink and the compacted view, and <c>sync ledger verify</c> clean.
/// <para>Each step is reached without any hook in sync: the test holds back what the next step
/// needs, sees the process arrive there, and kills it while it waits.</para>
/// <list type="bullet">
/// <item><c>ledger</c> (after the ledger write, before any tombstone): the test holds an ACCESS
/// EXCLUSIVE lock on the sink table, so planning (which reads the subject's rows) waits.</item>
/// <item><c>tombstones</c> (after the tombstones, before the sink deletes): the fake broker's
/// compaction stays RUNNING (<see cref="FakeBrokerFaults.StallNextCompactions"/>).</item>
/// <item><c>sink-deletes</c> (mid sink deletes): the test holds the row lock of the subject's row in
/// PostgreSQL (SELECT … FOR UPDATE), so the PostgreSQL delete waits while the Redis one is done.</item>
/// </list>
/// A killed client's backend that waits on a lock keeps waiting after the kill (PostgreSQL notices a
/// vanished client only when it next reads from or writes to it), and holds whatever it locked so
/// far: the test releases its own lock and waits for those backends to end before it erases again.
/// Every wait has a deadline that fails the test with what the processes printed.
/// Real processes, the fake broker in this process, a real PostgreSQL (SYNC_TEST_POSTGRES) and Redis
/// (SYNC_TEST_REDIS); the ledger is in PostgreSQL.</summary>
public sealed class KilledEraseTests() : PulsarPostgresCliFixture("killed_erase")
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);
    private const int Users = 10;
    private const string Erased = "7";

    /// <summary>Where an erase that nothing interrupts ends in this setup. The fake broker's topic
    /// writes its first ledger still, which truncation keeps: the subject's create stays in the raw
    /// backlog, so the erase is incomplete (exit 3) and says so, while every sink and the compacted
    /// view are clean and <c>ledger verify</c>, which reads the compacted view, finds nothing.</summary>
    private static readonly EraseEnd Unkilled = new(
        ExitCode: 3, Verdict: "incomplete", Compaction: "SUCCESS", CompactedViewMatches: 0, RawResidue: 1,
        Truncation: "SUCCESS", RawResidueAfterTruncation: 1, SinkRowsLeft: 0, LedgerRequests: 1, LedgerStatus: "incomplete", VerifyExitCode: 0);

    private readonly string _topic = NewTopic("shop.public.users");
    private readonly string _ledgerSchema = $"killed_ledger_{Guid.NewGuid():N}"[..24];

    public override async Task DisposeAsync()
    {
        Count($"DROP SCHEMA IF EXISTS \"{_ledgerSchema}\" CASCADE; SELECT 0");
        await using (var redis = await ConnectionMultiplexer.ConnectAsync(TestServers.Redis))
        {
            await foreach (var key in redis.GetServers()[0].KeysAsync(pattern: Table + "*"))
            {
                await redis.GetDatabase().KeyDeleteAsync(key);
            }
        }

        await base.DisposeAsync();
    }

    [Theory]
    [InlineData("none")]
    [InlineData("ledger")]
    [InlineData("tombstones")]
    [InlineData("sink-deletes")]
    public async Task An_erase_killed_at_a_step_and_run_again_ends_where_an_uninterrupted_one_ends(string step)
    {
        await using (var producer = await Client.CreateProducerAsync(new ProducerOptions { Topic = _topic }))
        {
            for (var id = 1; id <= Users; id++)
            {
                await PublishAsync(producer, id.ToString(CultureInfo.InvariantCulture), "c", $"user-{id}", id);
            }
        }

        var config = WriteConfig();
        foreach (var materializer in new[] { "users", "users_cache" })
        {
            var backfill = await Workspace.Sync("backfill", "--config", config, "--materializer", materializer, "--no-progress");
            Assert.True(backfill.ExitCode == 0, backfill.ToString());
        }

        await using var redis = await ConnectionMultiplexer.ConnectAsync(TestServers.Redis);
        Assert.Equal(Users, TableRows());
        Assert.True(await redis.GetDatabase().KeyExistsAsync($"{Table}:{Erased}"));

        // --purge-backlog: the truncation step runs too, so the killed erase is tested against every step.
        var reportFile = Workspace.File("erasure.json");
        string[] erase = ["erase", "--config", config, "--subject", "user", "--key", Erased, "--purge-backlog", "--report", reportFile];
        if (step != "none")
        {
            await KillAtAsync(step, erase, redis);
        }

        var erased = await Workspace.Sync(erase);
        var report = JsonDocument.Parse(await File.ReadAllTextAsync(reportFile)).RootElement;
        var topic = Assert.Single(report.GetProperty("topics").EnumerateArray());
        var verify = await Workspace.Sync("ledger", "verify", "--config", config);
        var requests = await LedgerRequestsAsync();
        var end = new EraseEnd(
            erased.ExitCode,
            report.GetProperty("verdict").GetString()!,
            topic.GetProperty("compaction").GetString()!,
            topic.GetProperty("compactedViewMatches").GetInt64(),
            topic.GetProperty("rawResidue").GetInt64(),
            topic.GetProperty("truncation").GetString()!.Split(':')[0],
            topic.GetProperty("rawResidueAfterTruncation").GetInt64(),
            report.GetProperty("sinks").EnumerateArray().Sum(s => s.GetProperty("remaining").GetInt64()),
            requests.Count,
            requests[0].Status,
            verify.ExitCode);

        Assert.True(end == Unkilled, $"{end}\n{erased}\n{verify}");
        Assert.Equal(0, Count($"SELECT count(*) FROM {Table} WHERE id = {Erased}"));
        Assert.Equal(Users - 1, TableRows());
        Assert.False(await redis.GetDatabase().KeyExistsAsync($"{Table}:{Erased}"));
    }

    private async Task KillAtAsync(string step, string[] erase, ConnectionMultiplexer redis)
    {
        await using (var holder = new NpgsqlConnection(Postgres))
        {
            await holder.OpenAsync();
            await using var held = await holder.BeginTransactionAsync();
            switch (step)
            {
                case "ledger":
                    await ExecuteAsync(holder, $"LOCK TABLE {Table} IN ACCESS EXCLUSIVE MODE");
                    break;
                case "tombstones":
                    Broker.Faults.StallNextCompactions(1);
                    break;
                default:
                    await ExecuteAsync(holder, $"SELECT id FROM {Table} WHERE id = {Erased} FOR UPDATE");
                    break;
            }

            var killed = new RunningSync(SyncProcess.Start(Workspace.Directory, erase));
            IReadOnlyList<int> waiting;
            try
            {
                await Poll.UntilAsync(() => killed.Process.HasExited || ReachedAsync(step, redis).GetAwaiter().GetResult(), Patience);
                Assert.False(killed.Process.HasExited, $"sync erase ended before it reached step {step}:\n{killed.Output()}");
                waiting = BackendsWaitingOnLocks();
            }
            catch (TimeoutException)
            {
                throw new TimeoutException($"sync erase did not reach step {step} within {Patience}:\n{killed.Output()}");
            }
            finally
            {
                // SIGKILL, also when the test fails: no process outlives it.
                if (!killed.Process.HasExited)
                {
                    killed.Process.Kill();
                }
            }

            using (var exit = new CancellationTokenSource(Patience))
            {
                await killed.Process.WaitForExitAsync(exit.Token);
            }

            Assert.Equal(137, killed.Process.ExitCode);
            await held.RollbackAsync();
            Broker.EndStalledCompactions();
            await Poll.UntilAsync(() => !Alive(waiting), Patience);
        }

        Assert.Equal("in-progress", (await LedgerRequestsAsync()).Single().Status);
    }

    /// <summary>Whether the erase process waits at <paramref name="step"/>, the steps before it done.</summary>
    private async Task<bool> ReachedAsync(string step, ConnectionMultiplexer redis)
    {
        var tombstoned = Broker.FindTopic(_topic)!.Entries.Count > Users;
        switch (step)
        {
            case "ledger":
                return !tombstoned && LedgerTableExists() && Count($"SELECT count(*) FROM \"{_ledgerSchema}\".erasure_requests") == 1
                    && Count($"SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = to_regclass('{Table}')") > 0;
            case "tombstones":
                return tombstoned && Broker.Faults.Fired(nameof(FakeBrokerFaults.StallNextCompactions)) == 1;
            default:
                return tombstoned && !await redis.GetDatabase().KeyExistsAsync($"{Table}:{Erased}")
                    && BackendsWaitingOnLocks().Count > 0;
        }
    }

    private bool LedgerTableExists() => Count($"SELECT (to_regclass('\"{_ledgerSchema}\".erasure_requests') IS NOT NULL)::int") == 1;

    /// <summary>The backends that wait for a lock on the test's table or rows: the erase process's.</summary>
    private IReadOnlyList<int> BackendsWaitingOnLocks()
    {
        using var connection = new NpgsqlConnection(Postgres);
        connection.Open();
        using var command = new NpgsqlCommand(
            $"SELECT DISTINCT l.pid FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid WHERE NOT l.granted AND a.query ILIKE '%{Table}%'",
            connection);
        using var reader = command.ExecuteReader();
        var pids = new List<int>();
        while (reader.Read())
        {
            pids.Add(reader.GetInt32(0));
        }

        return pids;
    }

    private static bool Alive(IReadOnlyList<int> pids) =>
        pids.Count > 0 && Count($"SELECT count(*) FROM pg_stat_activity WHERE pid IN ({string.Join(',', pids)})") > 0;

    private async Task<List<(string RequestId, string Status)>> LedgerRequestsAsync()
    {
        var list = await Workspace.Sync("ledger", "list", "--config", Workspace.File("sync.yaml"), "--json");
        Assert.True(list.ExitCode == 0, list.ToString());
        using var requests = JsonDocument.Parse(list.Output);
        return [.. requests.RootElement.EnumerateArray().Select(r => (r.GetProperty("requestId").GetString()!, r.GetProperty("status").GetString()!))];
    }

    private static async Task ExecuteAsync(NpgsqlConnection connection, string sql)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }

    private string WriteConfig() => Workspace.Write("sync.yaml", $$"""
        sources:
          broker: {{Broker.SourceYaml()}}
        sinks:
          pg: { type: postgres, connectionString: '{{Postgres}}', tls: disable }
          cache: { type: redis, endpoints: ['{{TestServers.Redis}}'], keyPrefix: '{{Table}}:sync:' }
        materializers:
          users: { source: broker, topics: ['{{_topic}}'], sink: pg, table: {{Table}} }
          users_cache: { source: broker, topics: ['{{_topic}}'], sink: cache, table: {{Table}} }
        subjects:
          user:
            users: { key: id }
            users_cache: { key: id }
        erasure:
          secret: 'killed-erase-secret-0123456789'
          ledger: { postgres: pg, schema: {{_ledgerSchema}} }
        """);

    /// <summary>What an erase leaves: its exit code and report, the ledger, and <c>ledger verify</c>.</summary>
    private sealed record EraseEnd(
        int ExitCode,
        string Verdict,
        string Compaction,
        long CompactedViewMatches,
        long RawResidue,
        string Truncation,
        long RawResidueAfterTruncation,
        long SinkRowsLeft,
        int LedgerRequests,
        string LedgerStatus,
        int VerifyExitCode);
}
