using StackExchange.Redis;

namespace Sync.Sinks.Tests.Redis;

/// <summary>One test's sink, target and reading connection on its own namespace (removed on dispose).</summary>
internal sealed class RedisTestContext(string ns, RedisSinkOptions options, ConnectionMultiplexer reader, RedisSink sink, TargetSpec target, bool cluster) : IAsyncDisposable
{
    public const string Materializer = "redis-test";

    public string Namespace { get; } = ns;

    /// <summary>Whether the context is on the Redis Cluster (SYNC_TEST_REDIS_CLUSTER) rather than the standalone Redis.</summary>
    public bool Cluster { get; } = cluster;

    public RedisSinkOptions Options { get; } = options;

    public ConnectionMultiplexer Reader { get; } = reader;

    public IDatabase Db => Reader.GetDatabase(Options.Database);

    public RedisSink Sink { get; private set; } = sink;

    public TargetSpec Target { get; set; } = target;

    public RedisKeys Keys => Cluster ? new RedisKeys(Options.KeyPrefix, cluster: true) : Sink.Keys;

    /// <summary>The target's table: <c>{ns}users</c>.</summary>
    public string Table => Target.Table;

    /// <summary>A context whose target is <c>{ns}users</c>; <paramref name="target"/> sees the namespace
    /// so that key and index templates can use it. With <paramref name="cluster"/>, on the Redis Cluster.</summary>
    public static async Task<RedisTestContext> CreateAsync(Func<string, RedisTargetOptions>? target = null, Action<RedisSinkOptions>? configure = null, bool cluster = false)
    {
        var ns = RedisTestServer.NewNamespace();
        var options = cluster ? RedisClusterTestServer.Options(ns) : RedisTestServer.Options(ns);
        configure?.Invoke(options);
        var reader = cluster ? await RedisClusterTestServer.ConnectAsync() : await RedisTestServer.ConnectAsync();
        var sink = await RedisSink.OpenAsync("cache", options, CancellationToken.None);
        var spec = new TargetSpec(ns + "users") { Options = target?.Invoke(ns) ?? new RedisTargetOptions() };
        return new RedisTestContext(ns, options, reader, sink, spec, cluster);
    }

    public Task<ApplyResult> ApplyAsync(params ChangeEvent[] changes) => ApplyAsync(Target, changes);

    public async Task<ApplyResult> ApplyAsync(TargetSpec target, params ChangeEvent[] changes)
    {
        var checkpoint = changes.GroupBy(c => c.Origin.Topic).ToDictionary(g => g.Key, g => g.Max(c => c.Origin.Position));
        return await Sink.ApplyAsync(new SinkBatch(Materializer, target, changes, checkpoint), CancellationToken.None);
    }

    public Task<IReadOnlyList<string>> RowsAsync() => RowsAsync(Target);

    public Task<IReadOnlyList<string>> RowsAsync(TargetSpec target) =>
        RedisTestServer.ReadRowsAsync(Db, Cluster ? RedisClusterTestServer.Primaries(Reader) : [Reader.GetServers()[0]], Keys, target.Table, (target.Options as RedisTargetOptions)?.Format ?? RedisValueFormat.Hash);

    public async Task RestartAsync()
    {
        await Sink.DisposeAsync();
        Sink = await RedisSink.OpenAsync("cache", Options, CancellationToken.None);
    }

    public async Task<string[]> MembersAsync(string key) =>
        [.. (await Db.SetMembersAsync(key)).Select(m => m.ToString()).Order(StringComparer.Ordinal)];

    public async ValueTask DisposeAsync()
    {
        await Sink.DisposeAsync();
        await Reader.DisposeAsync();
        await (Cluster ? RedisClusterTestServer.CleanAsync(Namespace) : RedisTestServer.CleanAsync(Namespace));
    }
}
