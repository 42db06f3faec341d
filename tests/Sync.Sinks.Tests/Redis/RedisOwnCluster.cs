using StackExchange.Redis;

namespace Sync.Sinks.Tests.Redis;

/// <summary>A Redis Cluster of a test's own (three primaries with a replica each), started by the same
/// scripts/lib/redis-cluster.sh that gives the shared one, so that the test may reshard it, kill its
/// nodes or pause them without disturbing the tests that share SYNC_TEST_REDIS_CLUSTER. Stopped (every
/// node killed) on dispose.</summary>
internal sealed class RedisOwnCluster : IAsyncDisposable
{
    private readonly string _dir;
    private readonly List<string> _all;

    private RedisOwnCluster(string dir, string[] nodes)
    {
        _dir = dir;
        Nodes = nodes;
        _all = [.. nodes];
    }

    /// <summary>The six nodes it started with as <c>host:port</c>, in the order of their folders 1…6.</summary>
    public string[] Nodes { get; }

    public static async Task<RedisOwnCluster> StartAsync()
    {
        var dir = Directory.CreateTempSubdirectory("sync-own-cluster-").FullName;
        var services = Path.Combine(RepoPaths.Root, "scripts", "lib", "services.sh");
        var started = await SyncProcess.RunAsync("bash", ["-c", $"source '{services}' && start_redis_cluster '{dir}' && echo \"$SYNC_TEST_REDIS_CLUSTER\""], dir, TimeSpan.FromMinutes(2));
        Assert.True(started.ExitCode == 0, $"the test's own Redis Cluster did not start: {started}");
        return new RedisOwnCluster(dir, started.Output.Trim().Split(','));
    }

    public RedisSinkOptions Options(string ns) => new()
    {
        Endpoints = [.. Nodes],
        KeyPrefix = ns + "sync:",
        Cluster = true,
        CommandTimeout = TimeSpan.FromSeconds(2),
        Retry = new RetryPolicy { MaxAttempts = 8, InitialDelay = TimeSpan.FromMilliseconds(50), MaxDelay = TimeSpan.FromMilliseconds(500) },
    };

    public async Task<ConnectionMultiplexer> ConnectAsync()
    {
        var configuration = new ConfigurationOptions { AllowAdmin = true, AbortOnConnectFail = false, ConnectTimeout = 2000 };
        foreach (var node in Nodes)
        {
            configuration.EndPoints.Add(node);
        }

        return await ConnectionMultiplexer.ConnectAsync(configuration);
    }

    /// <summary>The cluster as one live node sees it (<c>CLUSTER NODES</c>,
    /// https://redis.io/docs/latest/commands/cluster-nodes/ : id, address@bus-port, flags, primary id, …).</summary>
    public async Task<IReadOnlyList<ClusterNode>> TopologyAsync(string? askNode = null)
    {
        foreach (var node in askNode is null ? Nodes : [askNode, .. Nodes])
        {
            var result = await SyncProcess.RunAsync("redis-cli", ["-h", Host(node), "-p", Port(node), "cluster", "nodes"], _dir, TimeSpan.FromSeconds(30));
            if (result.ExitCode != 0 || result.Output.Length == 0 || result.Output.StartsWith("Could not connect", StringComparison.Ordinal))
            {
                continue;
            }

            return [.. result.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(ClusterNode.Parse)];
        }

        throw new InvalidOperationException("no node of the test's own cluster answered CLUSTER NODES");
    }

    /// <summary>Moves <paramref name="slots"/> slots from one primary to another with
    /// <c>redis-cli --cluster reshard</c> (https://redis.io/docs/latest/operate/oss_and_stack/management/scaling/#reshard-the-cluster),
    /// which migrates their keys one by one (MIGRATE) while clients are redirected with ASK.</summary>
    public Task<ProcessResult> ReshardAsync(string fromId, string toId, int slots) =>
        SyncProcess.RunAsync("redis-cli", ["--cluster", "reshard", Nodes[0], "--cluster-from", fromId, "--cluster-to", toId, "--cluster-slots", slots.ToString(CultureInfo.InvariantCulture), "--cluster-yes"], _dir, TimeSpan.FromMinutes(5));

    /// <summary>Sends a signal to a node's process: KILL (a crash, no shutdown), STOP (frozen: a replica
    /// that receives nothing more) or CONT.</summary>
    public Task SignalAsync(string node, string signal) =>
        SyncProcess.RunAsync("kill", ["-" + signal, File.ReadAllText(Path.Combine(_dir, "redis-cluster", (_all.IndexOf(node) + 1).ToString(CultureInfo.InvariantCulture), "redis.pid")).Trim()], _dir, TimeSpan.FromSeconds(30));

    /// <summary>Starts one more cluster-enabled node (as scripts/lib/redis-cluster.sh starts the others) and
    /// joins it as an empty primary with <c>redis-cli --cluster add-node NEW EXISTING</c>
    /// (https://redis.io/docs/latest/operate/oss_and_stack/management/scaling/#add-a-new-node); returns
    /// its address once every first node knows it.</summary>
    public async Task<string> AddNodeAsync()
    {
        var dir = Path.Combine(_dir, "redis-cluster", (_all.Count + 1).ToString(CultureInfo.InvariantCulture));
        var services = Path.Combine(RepoPaths.Root, "scripts", "lib", "services.sh");
        var started = await SyncProcess.RunAsync("bash", ["-c",
            $"source '{services}' && port=$(services_free_port) && while (echo >/dev/tcp/127.0.0.1/$((port + 10000))) 2>/dev/null || [[ $port -gt 55000 ]]; do port=$(services_free_port); done"
            + $" && redis_cluster_start_node '{dir}' \"$port\" --cluster-enabled yes --cluster-config-file '{dir}/nodes.conf' --cluster-node-timeout 2000 && echo \"$port\""], _dir, TimeSpan.FromMinutes(1));
        Assert.True(started.ExitCode == 0, started.ToString());
        var node = "127.0.0.1:" + started.Output.Trim();
        _all.Add(node);
        var added = await SyncProcess.RunAsync("redis-cli", ["--cluster", "add-node", node, Nodes[0]], _dir, TimeSpan.FromMinutes(1));
        Assert.True(added.ExitCode == 0, added.ToString());
        foreach (var known in Nodes)
        {
            await Poll.UntilAsync(async () => (await TopologyAsync(known)).Any(n => n.Address == node));
        }

        // The new node answers CLUSTERDOWN (and so refuses the keys a resharding migrates to it) until it
        // has learned, by gossip, an owner for every slot: its CLUSTER INFO says cluster_state:ok then
        // (https://redis.io/docs/latest/commands/cluster-info/ , cluster_state).
        await Poll.UntilAsync(async () =>
            (await SyncProcess.RunAsync("redis-cli", ["-h", Host(node), "-p", Port(node), "cluster", "info"], _dir, TimeSpan.FromSeconds(30)))
                .Output.Contains("cluster_state:ok", StringComparison.Ordinal));
        return node;
    }

    /// <summary>Freezes a replica and cuts its link to its primary (<c>CLIENT KILL TYPE replica</c> on the
    /// primary, https://redis.io/docs/latest/commands/client-kill/ ): it receives nothing more, not even
    /// what a frozen process would still find in its socket buffer when it wakes.</summary>
    public async Task CutOffAsync(string replica, string primary)
    {
        await SignalAsync(replica, "STOP");
        var killed = await SyncProcess.RunAsync("redis-cli", ["-h", Host(primary), "-p", Port(primary), "client", "kill", "type", "replica"], _dir, TimeSpan.FromSeconds(30));
        Assert.True(killed.ExitCode == 0, killed.ToString());
    }

    /// <summary>Runs <c>CLUSTER FAILOVER TAKEOVER</c> on a replica whose primary is gone: it promotes itself
    /// without the agreement of the other primaries (https://redis.io/docs/latest/commands/cluster-failover/).</summary>
    public Task<ProcessResult> TakeOverAsync(string replica) =>
        SyncProcess.RunAsync("redis-cli", ["-h", Host(replica), "-p", Port(replica), "cluster", "failover", "takeover"], _dir, TimeSpan.FromSeconds(30));

    /// <summary>Waits until <paramref name="replica"/> holds everything its primary had written when this was
    /// called: its replication offset reaches the primary's (<c>INFO replication</c>, master_repl_offset,
    /// https://redis.io/docs/latest/commands/info/ ). A replica may lag by several batches on a loaded machine.</summary>
    public async Task WaitForReplicaAsync(string primary, string replica)
    {
        var target = await ReplicationOffsetAsync(primary);
        await Poll.UntilAsync(async () => await ReplicationOffsetAsync(replica) >= target);
    }

    private async Task<long> ReplicationOffsetAsync(string node)
    {
        var info = await SyncProcess.RunAsync("redis-cli", ["-h", Host(node), "-p", Port(node), "info", "replication"], _dir, TimeSpan.FromSeconds(30));
        var line = info.Output.Split('\n').Select(l => l.Trim()).Single(l => l.StartsWith("master_repl_offset:", StringComparison.Ordinal));
        return long.Parse(line["master_repl_offset:".Length..], CultureInfo.InvariantCulture);
    }

    /// <summary>Waits until a live node names <paramref name="node"/> a primary and every live primary serves
    /// again: each node decides cluster_state on its own view, and one that has not yet learned of the
    /// promotion answers CLUSTERDOWN to every key, its own slots included
    /// (https://redis.io/docs/latest/commands/cluster-info/ , cluster_state; cluster-require-full-coverage).</summary>
    public async Task WaitForPrimaryAsync(string node)
    {
        await Poll.UntilAsync(async () =>
        {
            var topology = await TopologyAsync(node);
            if (!topology.Single(n => n.Address == node).IsPrimary)
            {
                return false;
            }

            foreach (var primary in topology.Where(n => n.IsPrimary && !n.Failed))
            {
                var info = await SyncProcess.RunAsync("redis-cli", ["-h", Host(primary.Address), "-p", Port(primary.Address), "cluster", "info"], _dir, TimeSpan.FromSeconds(30));
                if (!info.Output.Contains("cluster_state:ok", StringComparison.Ordinal))
                {
                    return false;
                }
            }

            return true;
        });
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var node in _all)
        {
            await SignalAsync(node, "CONT");
            await SignalAsync(node, "KILL");
        }

        Directory.Delete(_dir, recursive: true);
    }

    private static string Host(string node) => node[..node.LastIndexOf(':')];

    private static string Port(string node) => node[(node.LastIndexOf(':') + 1)..];
}

/// <summary>One line of <c>CLUSTER NODES</c>: the node's id, its address (without the bus port), whether
/// it is a primary (and not failed), its primary's id when a replica, and how many slots it serves.</summary>
internal sealed record ClusterNode(string Id, string Address, bool IsPrimary, bool Failed, string? PrimaryId, int Slots)
{
    public static ClusterNode Parse(string line)
    {
        var fields = line.Trim().Split(' ');
        var flags = fields[2].Split(',');
        var slots = 0;
        foreach (var range in fields.Skip(8).Where(f => !f.StartsWith('[')))
        {
            var dash = range.IndexOf('-', StringComparison.Ordinal);
            slots += dash < 0 ? 1 : int.Parse(range[(dash + 1)..], CultureInfo.InvariantCulture) - int.Parse(range[..dash], CultureInfo.InvariantCulture) + 1;
        }

        return new ClusterNode(fields[0], fields[1][..fields[1].IndexOf('@', StringComparison.Ordinal)], flags.Contains("master"), flags.Any(f => f.StartsWith("fail", StringComparison.Ordinal)), fields[3] == "-" ? null : fields[3], slots);
    }
}
