using StackExchange.Redis;
using Sync.Sinks.Tests.Redis;

namespace Sync.Sinks.Tests.Healing;

/// <summary>Redis going back in time: the test's keys put back from a copy taken with DUMP and
/// restored with RESTORE (as a restart from an older RDB file brings them back:
/// https://redis.io/docs/latest/commands/dump/ and /commands/restore/), or deleted (a restart
/// without persistence). Each test owns a key namespace.</summary>
public sealed class RedisRollbackTests : SinkRollbackTests
{
    private readonly RedisTestNamespace _redis = new();
    private readonly List<(RedisKey Key, byte[] Value, TimeSpan? Ttl)> _copy = [];

    protected override string SinkYaml => _redis.SinkYaml;

    protected override string Table => _redis.Name + "users";

    private IDatabase Db => _redis.Connection.GetDatabase();

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        await _redis.ConnectAsync();
    }

    public override async Task DisposeAsync()
    {
        await _redis.DisposeAsync();
        await base.DisposeAsync();
    }

    private async Task<List<RedisKey>> KeysAsync()
    {
        var keys = new List<RedisKey>();
        await foreach (var key in _redis.Connection.GetServers()[0].KeysAsync(pattern: RedisKeys.EscapePattern(_redis.Name) + "*", pageSize: 1000))
        {
            keys.Add(key);
        }

        return keys;
    }

    protected override Task<IReadOnlyList<string>> RowsAsync() => ReadRowsAsync(_redis.Connection, _redis.Name, Table);

    /// <summary>Rows found through their live version states (the sink's own bookkeeping), each
    /// rendered from its hash, as <c>id=name</c> in id order.</summary>
    internal static async Task<IReadOnlyList<string>> ReadRowsAsync(ConnectionMultiplexer connection, string ns, string table)
    {
        var db = connection.GetDatabase();
        var keys = new RedisKeys(ns + "sync:");
        var prefix = keys.StatePrefix(table);
        var rows = new SortedDictionary<int, string>();
        await foreach (var stateKey in connection.GetServers()[0].KeysAsync(pattern: keys.StatePattern(table), pageSize: 1000))
        {
            if (RedisState.TryParse((byte[]?)await db.StringGetAsync(stateKey)) is not { Deleted: false })
            {
                continue;
            }

            // A state found between the sink's commands of one batch may have no row yet: left out
            // (the model then differs, and the caller looks again).
            var row = await db.HashGetAllAsync(stateKey.ToString()[prefix.Length..]);
            var fields = row.ToDictionary(e => e.Name.ToString(), e => e.Value.ToString(), StringComparer.Ordinal);
            if (fields.TryGetValue("id", out var id) && fields.TryGetValue("name", out var name))
            {
                rows[int.Parse(id, System.Globalization.CultureInfo.InvariantCulture)] = name;
            }
        }

        return [.. rows.Select(r => $"{r.Key}={r.Value}")];
    }

    protected override async Task SnapshotAsync()
    {
        _copy.Clear();
        foreach (var key in await KeysAsync())
        {
            if (await Db.KeyDumpAsync(key) is { } value)
            {
                _copy.Add((key, value, await Db.KeyTimeToLiveAsync(key)));
            }
        }
    }

    protected override async Task RestoreAsync()
    {
        await EmptyAsync();
        foreach (var (key, value, ttl) in _copy)
        {
            // REPLACE: a write of a running process may land between the delete and the restore.
            await Db.ExecuteAsync("RESTORE", key, ttl is { } left ? (long)left.TotalMilliseconds : 0L, value, "REPLACE");
        }
    }

    protected override async Task EmptyAsync()
    {
        var keys = await KeysAsync();
        if (keys.Count > 0)
        {
            await Db.KeyDeleteAsync([.. keys]);
        }
    }

    [Fact]
    public async Task A_cache_that_restarted_empty_is_rebuilt_from_the_earliest_message()
    {
        await using var run = Start(Config("failover"));
        await PublishFirstPartAsync();
        await PublishSecondPartAsync();
        await UntilSinkHoldsModelAsync();

        await EmptyAsync();
        await run.HealWhileIdleAsync();

        Assert.Equal(Expected, await RowsAsync());
        Assert.Contains(run.Warnings, w => w.Contains("lost everything", StringComparison.Ordinal) && w.Contains("onEmptySink: rebuild", StringComparison.Ordinal));
        Assert.Equal(54, run.Counters.Replayed);
    }
}
