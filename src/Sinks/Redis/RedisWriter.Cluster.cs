using System.Collections.Concurrent;
using System.Net;
using StackExchange.Redis;

namespace Sync.Sinks.Redis;

/// <summary>What the writer does differently on a Redis Cluster (<see cref="RedisKeys.Cluster"/>): one
/// script call per row, declaring the row key and its state key, both in the row key's slot, so that
/// never-regress stays one atomic step per row; the calls of a batch are still pipelined, and
/// StackExchange.Redis sends each to the primary of its slot (following MOVED and ASK redirections).
/// Scans go over every primary, since each holds only its own slots. Before a batch's checkpoint is
/// written, the other primaries wait for their replicas to hold the batch's writes
/// (<see cref="AwaitReplicasAsync(RedisKey)"/>).</summary>
internal sealed partial class RedisWriter
{
    private const int HeaderLength = 5;

    /// <summary>Rows per script call: one on a cluster (a call touches one slot).</summary>
    private int PerCall => _keys.Cluster ? 1 : _perScript;

    /// <summary>On a cluster, the value of the table's truncate marker (empty when none), which the
    /// per-row calls get by value since it lives in another slot; unused on a standalone server.</summary>
    private async Task<RedisValue> ClusterMarkerAsync(RedisTarget target) =>
        _keys.Cluster && await _db.StringGetAsync(_keys.TruncateMarker(target.StateTable)) is { IsNull: false } marker
            ? marker
            : RedisValue.EmptyString;

    /// <summary>One call of the apply script with the arguments built so far (copied).</summary>
    private Task<RedisResult> CallAsync(RedisTarget target, List<RedisValue> args, RedisValue clusterMarker)
    {
        if (!_keys.Cluster)
        {
            return _db.ScriptEvaluateAsync(RedisScripts.Apply, null, [.. args]);
        }

        // Each row's op comes first, then its row key.
        var rowKey = (string)args[HeaderLength + 1]!;
        var head = _keys.StateHead(target.StateTable, rowKey);
        args[3] = clusterMarker;
        args[4] = head;
        return ClusterCallAsync(rowKey, [rowKey, head + rowKey, _keys.LeftIndexes(target.StateTable, rowKey)], [.. args]);
    }

    /// <summary>One row's cluster script (<see cref="RedisClusterScripts.Apply"/>): its statuses, with the
    /// index work it leaves recorded for <see cref="ConvergeIndexesAsync"/>.</summary>
    private async Task<RedisResult> ClusterCallAsync(string rowKey, RedisKey[] keys, RedisValue[] args)
    {
        var reply = (RedisResult[])(await _db.ScriptEvaluateAsync(RedisClusterScripts.Apply, keys, args))!;
        var joined = (RedisValue[])reply[1]!;
        var left = (RedisValue[])reply[2]!;
        if (joined.Length > 0 || left.Length > 0)
        {
            _indexWork.Enqueue(new IndexWork(rowKey, keys[2], joined, left));
        }

        return reply[0];
    }

    /// <summary>Index work a row's script left on a cluster: the sets it belongs to as written, and the
    /// sets it left (as recorded in <see cref="LeftKey"/>, its slot's set of them).</summary>
    private sealed record IndexWork(string RowKey, RedisKey LeftKey, RedisValue[] Joined, RedisValue[] Left);

    private readonly ConcurrentQueue<IndexWork> _indexWork = new();

    /// <summary>Index sets on a cluster hold members of rows in many slots, so they cannot change in a row's
    /// atomic step: they converge instead. After the rows are written, each row is added to the sets it
    /// belongs to and removed from the sets it left (pipelined, all at once); only then are the left ones
    /// taken out of the row's record of them (<see cref="RedisKeys.LeftIndexes"/>). A crash before that
    /// leaves the record, and the batch, its checkpoint unwritten, is applied again: the replayed change
    /// (of the same version, so applied again) returns the same sets to join and the recorded ones to leave,
    /// and the update runs again (SADD and SREM are idempotent). Returns, per row key, why it could not be
    /// added to an index set (a key holding another type: the row was written, but that index misses it).</summary>
    private async Task<Dictionary<string, string>> ConvergeIndexesAsync()
    {
        var problems = new Dictionary<string, string>(StringComparer.Ordinal);
        if (_indexWork.IsEmpty)
        {
            return problems;
        }

        var work = new List<IndexWork>(_indexWork.Count);
        while (_indexWork.TryDequeue(out var item))
        {
            work.Add(item);
        }

        var updates = new List<Task<(string RowKey, string Reason)?>>();
        foreach (var (rowKey, _, joined, left) in work)
        {
            updates.AddRange(joined.Select(index => IndexUpdateAsync(_db.SetAddAsync((string)index!, rowKey), rowKey, index)));
            updates.AddRange(left.Select(index => IndexUpdateAsync(_db.SetRemoveAsync((string)index!, rowKey), rowKey, index: null)));
        }

        foreach (var problem in await Task.WhenAll(updates))
        {
            if (problem is var (rowKey, reason))
            {
                problems.TryAdd(rowKey, reason);
            }
        }

        await Task.WhenAll(work.Where(w => w.Left.Length > 0).Select(w => _db.SetRemoveAsync(w.LeftKey, w.Left)));
        return problems;
    }

    /// <summary>One SADD (<paramref name="index"/> given) or SREM of an index update; a key of another type
    /// is a problem of the row for a SADD, and nothing for a SREM (a value that is
    /// not a set holds no member).</summary>
    private static async Task<(string RowKey, string Reason)?> IndexUpdateAsync(Task update, string rowKey, RedisValue? index)
    {
        try
        {
            await update;
            return null;
        }
        catch (RedisServerException e) when (e.Message.StartsWith("WRONGTYPE", StringComparison.Ordinal))
        {
            return index is { } key
                ? (rowKey, $"its index key {key} holds a value that is not a set (WRONGTYPE); the row was written, but that index does not list it")
                : null;
        }
    }

    /// <summary>Why a row cannot be written on a cluster, or null.</summary>
    private string? ClusterProblem(RedisTarget target, string rowKey) =>
        _keys.ClusterProblem(target.StateTable, rowKey) is { } problem ? problem + "; the row was not written" : null;

    /// <summary>The state keys of a table: a SCAN of each of <see cref="Primaries"/>.</summary>
    private async IAsyncEnumerable<RedisKey> StateKeysAsync(RedisTarget target)
    {
        foreach (var server in Primaries())
        {
            await foreach (var stateKey in server.KeysAsync(_db.Database, _keys.StatePattern(target.StateTable), pageSize: ScanPage))
            {
                yield return stateKey;
            }
        }
    }

    /// <summary>The servers a scan goes over: the primary (the one found now: Sentinel may have moved it
    /// since the connection opened), or every primary of a cluster, since each holds only its own slots.</summary>
    private IServer[] Primaries()
    {
        var primaries = _db.Multiplexer.GetServers().Where(s => s.IsConnected && !s.IsReplica);
        return _keys.Cluster ? [.. primaries] : [primaries.FirstOrDefault() ?? _server];
    }

    /// <summary>Waits until the replicas of every primary but the checkpoint's own acknowledged the
    /// writes this connection made there (<c>WAIT numreplicas timeout</c>,
    /// https://redis.io/docs/latest/commands/wait/ ; the replicas counted from <c>CLUSTER NODES</c>,
    /// https://redis.io/docs/latest/commands/cluster-nodes/ ). A cluster fails a dead primary over to its replica,
    /// which holds only what it received. On the checkpoint's primary the checkpoint is written after the
    /// batch's rows and a replica holds a prefix of its primary's history, so a row lost there takes the
    /// checkpoint with it and the rollback check (the stored checkpoint compared with the one held) finds
    /// it, as on one server. On the other primaries nothing would go back with it: a primary killed
    /// before its replica caught up would lose rows behind a checkpoint that survived elsewhere, unseen;
    /// this wait closes that. When a replica does not acknowledge in time the batch fails as a transient
    /// timeout and is retried whole, its checkpoint unwritten; a replica gone for good holds the
    /// checkpoints back until it returns or is removed from the cluster (<c>CLUSTER FORGET</c>). A primary
    /// without replicas is not waited for (its loss takes its slots down). Returns the primary skipped, for
    /// <see cref="AwaitSkippedPrimaryAsync"/>.</summary>
    private async Task<EndPoint?> AwaitReplicasAsync(RedisKey checkpoint)
    {
        var skipped = await _db.IdentifyEndpointAsync(checkpoint);
        var primaries = _db.Multiplexer.GetServers().Where(s => s.IsConnected && !s.IsReplica && !s.EndPoint.Equals(skipped)).ToArray();
        await Task.WhenAll(primaries.Select(AwaitReplicasAsync));
        return skipped;
    }

    /// <summary>After the checkpoint was written: when its slot turned out to live on another primary than
    /// the one <see cref="AwaitReplicasAsync(RedisKey)"/> skipped (a resharding moved it meanwhile), that
    /// primary's replicas are waited for now.</summary>
    private async Task AwaitSkippedPrimaryAsync(RedisKey checkpoint, EndPoint? skipped)
    {
        if (skipped is not null && !skipped.Equals(await _db.IdentifyEndpointAsync(checkpoint)) && _db.Multiplexer.GetServer(skipped) is { IsConnected: true, IsReplica: false } primary)
        {
            await AwaitReplicasAsync(primary);
        }
    }

    private async Task AwaitReplicasAsync(IServer primary)
    {
        // Every replica the cluster lists for this primary counts, connected or not: one cut off for a
        // while may still be promoted when the primary dies, with the writes it missed. The list is the
        // client's own (its last CLUSTER NODES, refreshed as the cluster changes): the command itself
        // is an admin command the sink does not enable.
        if (primary.ClusterConfiguration?[primary.EndPoint] is not { IsReplica: false } self || self.Children.Count is not (> 0 and var replicas))
        {
            // A node demoted since the client last looked serves no slots the batch wrote to.
            return;
        }

        var timeoutMs = Math.Max(1, (long)_replicaWait.TotalMilliseconds); // 0 would make WAIT block for ever
        var acknowledged = (long)await primary.ExecuteAsync("WAIT", replicas, timeoutMs);
        if (acknowledged < replicas)
        {
            throw new RedisTimeoutException(CommandFlags.None, string.Create(CultureInfo.InvariantCulture,
                $"WAIT on {primary.EndPoint}: {acknowledged} of its {replicas} replicas acknowledged the batch's writes within {timeoutMs} ms; the batch is applied again"), CommandStatus.Sent);
        }
    }
}
