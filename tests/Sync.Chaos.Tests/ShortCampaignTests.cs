using Sync.Testing.Process;

namespace Sync.Chaos.Tests;

/// <summary>The short version of the crash-and-fault campaign (the long one is scripts/chaos.sh):
/// the real <c>sync run</c> killed with SIGKILL a few times while broker and sink faults fire,
/// and every sink ends equal to the reference model with no version ever observed going down.</summary>
[Collection(ChaosCollection.Name)]
public sealed class ShortCampaignTests : IDisposable
{
    private readonly string _work = Directory.CreateTempSubdirectory("sync-chaos-test-").FullName;

    public void Dispose() => Directory.Delete(_work, recursive: true);

    [Fact]
    public async Task Killed_and_faulted_runs_lose_regress_and_duplicate_nothing_in_any_sink()
    {
        string[] plan = ["broker-drop-connections", "es-429", "postgres-restart", "redis-restart", "broker-close-consumers", "es-503-items"];
        var result = await new Campaign(Options(kills: plan.Length) with { FaultPlan = plan }).RunAsync();

        Assert.True(result.Passed, Describe(result));
        Assert.Equal(plan.Length, result.Kills);
        Assert.Equal(0, result.DeadLetters);
        Assert.True(result.Published > 1000, Describe(result));
        foreach (var fault in plan.Where(Available))
        {
            Assert.True(result.FiredByFault.GetValueOrDefault(fault) > 0, $"{fault} did not fire: {result.FaultBreakdown}");
        }
    }

    // Found by this test: a sink put back to a copy that sync had written past (so that the copy
    // really loses changes) was not healed: the heal's replay prepared its batches beside the live
    // loop, both mutating the mapper's schema dictionary and the decoder's schema cache, and the
    // materializer stopped with "Index was outside the bounds of the array". Batches are now
    // prepared under one lock. Then, in about 1 run of 4, Redis lost rows whose rollback no
    // materializer reported: Redis was restarted from the older dump.rdb while a batch was on its
    // way (its checkpoint read back, its writes not yet done), the sink's own retries wrote the batch
    // and its checkpoint across the restart, and that checkpoint claimed the changes the restart
    // had lost. The checkpoint is now written only while the sink still holds the one read before
    // the batch (SinkBatch.ExpectedCheckpoint).
    [Fact]
    public async Task Sinks_restored_to_an_earlier_copy_under_kills_are_healed_to_the_model()
    {
        // redis-rollback stops Redis and starts it again from an older dump.rdb; postgres-rollback
        // restores the target and state tables in place, no restart.
        string[] plan = ["broker-drop-connections", "redis-rollback", "es-429", "postgres-rollback"];
        var result = await new Campaign(Options(kills: plan.Length) with { FaultPlan = plan }).RunAsync();

        Assert.True(result.Passed, Describe(result));
        foreach (var fault in plan.Where(Available))
        {
            Assert.True(result.FiredByFault.GetValueOrDefault(fault) > 0, $"{fault} did not fire: {result.FaultBreakdown}");
        }
    }

    // The cluster variant: a fourth materializer writes the same rows, with an index set by a column
    // every update changes, into a Redis Cluster of this test's own (three primaries with a replica each,
    // started by scripts/lib/redis-cluster.sh as scripts/test.sh starts the shared one: its primaries are
    // killed here, which the tests sharing that one must not see). Besides the kills of sync run, a
    // primary is killed with SIGKILL mid-run and its replica promoted, twice.
    [Fact]
    public async Task Killed_runs_and_killed_cluster_primaries_lose_regress_and_duplicate_nothing_in_the_cluster()
    {
        var services = Path.Combine(RepoPaths.Root, "scripts", "lib", "services.sh");
        var clusterDir = Path.Combine(_work, "cluster");
        Directory.CreateDirectory(clusterDir);
        var started = await SyncProcess.RunAsync("bash", ["-c", $"source '{services}' && start_redis_cluster '{clusterDir}' && echo \"$SYNC_TEST_REDIS_CLUSTER\""], clusterDir, TimeSpan.FromMinutes(2));
        Assert.True(started.ExitCode == 0, $"the campaign's Redis Cluster did not start: {started}");
        try
        {
            string[] plan = ["redis-cluster-crash", "broker-drop-connections", "redis-cluster-crash"];
            var result = await new Campaign(Options(kills: 4) with
            {
                FaultPlan = plan,
                RedisCluster = started.Output.Trim().Split('\n')[^1],
                RedisClusterCrash = $"bash -c \"source '{services}' && crash_redis_cluster_primary '{clusterDir}'\"",
            }).RunAsync();

            Assert.True(result.Passed, Describe(result));
            Assert.Equal(2, result.FiredByFault.GetValueOrDefault("redis-cluster-crash"));
            var cluster = Assert.Single(result.Sinks, s => s.Sink == "redis-cluster");
            Assert.True(cluster.Expected > 0, Describe(result));
        }
        finally
        {
            await SyncProcess.RunAsync("bash", ["-c", $"source '{services}' && REDIS_CLUSTER_DIR='{clusterDir}/redis-cluster' && stop_redis_cluster"], clusterDir, TimeSpan.FromMinutes(1));
        }
    }

    [Fact]
    public async Task A_burst_ten_times_the_steady_rate_is_caught_up_with_nothing_dropped()
    {
        var options = Options(kills: 0) with { SteadyTime = TimeSpan.FromSeconds(3) };

        var result = await new Overload(options, TimeSpan.FromSeconds(3)).RunAsync();

        Assert.True(result.Passed, result.FigureLine);
        Assert.True(result.BurstMessages > 0 && result.PeakRssBytes > 0, result.FigureLine);
    }

    private CampaignOptions Options(int kills) => new()
    {
        Postgres = Required("SYNC_TEST_POSTGRES"),
        Redis = Required("SYNC_TEST_REDIS"),
        PostgresRestart = Environment.GetEnvironmentVariable("SYNC_TEST_POSTGRES_RESTART"),
        RedisRestart = Environment.GetEnvironmentVariable("SYNC_TEST_REDIS_RESTART"),
        RedisSnapshot = Environment.GetEnvironmentVariable("SYNC_TEST_REDIS_SNAPSHOT"),
        RedisRollback = Environment.GetEnvironmentVariable("SYNC_TEST_REDIS_ROLLBACK"),
        CliAssembly = RepoPaths.CliAssembly,
        WorkDirectory = _work,
        Seed = 8,
        Kills = kills,
        MinUpTime = TimeSpan.FromSeconds(1),
        MaxUpTime = TimeSpan.FromSeconds(3),
        CatchUpTimeout = TimeSpan.FromMinutes(2),
    };

    private static bool Available(string fault) => fault switch
    {
        "postgres-restart" => Environment.GetEnvironmentVariable("SYNC_TEST_POSTGRES_RESTART") is { Length: > 0 },
        "redis-restart" => Environment.GetEnvironmentVariable("SYNC_TEST_REDIS_RESTART") is { Length: > 0 },
        "redis-rollback" => Environment.GetEnvironmentVariable("SYNC_TEST_REDIS_ROLLBACK") is { Length: > 0 },
        _ => true,
    };

    private static string Required(string variable) =>
        Environment.GetEnvironmentVariable(variable) is { Length: > 0 } value
            ? value
            : throw new InvalidOperationException($"{variable} is not set: run ./scripts/test.sh, which starts throwaway PostgreSQL and Redis servers and exports their addresses and restart commands.");

    private static string Describe(CampaignResult result) =>
        $"{result.FigureLine}; faults: {result.FaultBreakdown}; rollbacks found: {string.Join(", ", (result.RollbacksFound ?? new Dictionary<string, int>()).Select(f => $"{f.Key} {f.Value}"))}; {string.Join("; ", result.Sinks.SelectMany(s => s.Examples))}; regressed: {string.Join(", ", result.RegressedExamples)}";
}
