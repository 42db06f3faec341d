using StackExchange.Redis;

namespace Sync.Sinks.Redis;

/// <summary>What the writer does differently on a Redis Cluster (<see cref="RedisKeys.Cluster"/>): one
/// script call per row, declaring the row key and its state key, both in the row key's slot, so that
/// never-regress stays one atomic step per row; the calls of a batch are still pipelined, and
/// StackExchange.Redis sends each to the primary of its slot (following MOVED and ASK redirections).
/// Scans go over every primary, since each holds only its own slots.</summary>
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
        return _db.ScriptEvaluateAsync(RedisClusterScripts.Apply, [rowKey, head + rowKey], [.. args]);
    }

    /// <summary>Why a row cannot be written on a cluster, or null.</summary>
    private string? ClusterProblem(RedisTarget target, string rowKey)
    {
        if (target.Indexes.Count > 0)
        {
            return "index sets are not supported on a Redis Cluster: a set holds members of rows in many slots, so it cannot change in the row's atomic step; remove the target's indexes or write to a standalone Redis; the row was not written";
        }

        return _keys.ClusterProblem(target.StateTable, rowKey) is { } problem ? problem + "; the row was not written" : null;
    }

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
}
