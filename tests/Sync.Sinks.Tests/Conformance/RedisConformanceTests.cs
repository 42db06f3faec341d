using StackExchange.Redis;
using Sync.Sinks.Tests.Redis;

namespace Sync.Sinks.Tests.Conformance;

/// <summary>The shared suite against a real Redis (SYNC_TEST_REDIS). Each test gets a namespace: the
/// target's table is <c>t{guid}:{table}</c> with the default key template (table, then every key column),
/// so composite keys work; sync's own keys live under <c>t{guid}:sync:</c>.</summary>
public sealed class RedisConformanceTests : SinkConformanceTests
{
    protected override async Task<ISinkHarness> CreateHarnessAsync() => await RedisHarness.CreateAsync(RedisValueFormat.Hash);
}

/// <summary>The shared suite with rows stored as JSON strings.</summary>
public sealed class RedisJsonConformanceTests : SinkConformanceTests
{
    protected override async Task<ISinkHarness> CreateHarnessAsync() => await RedisHarness.CreateAsync(RedisValueFormat.Json);
}

/// <summary>The shared suite against a real Redis Cluster (SYNC_TEST_REDIS_CLUSTER: three primaries with a
/// replica each): every row is applied in its own slot, the rows of a test spread over all three primaries.</summary>
public sealed class RedisClusterConformanceTests : SinkConformanceTests
{
    protected override async Task<ISinkHarness> CreateHarnessAsync() => await RedisHarness.CreateAsync(RedisValueFormat.Hash, cluster: true);
}

/// <summary>The shared suite on the Redis Cluster with rows stored as JSON strings.</summary>
public sealed class RedisClusterJsonConformanceTests : SinkConformanceTests
{
    protected override async Task<ISinkHarness> CreateHarnessAsync() => await RedisHarness.CreateAsync(RedisValueFormat.Json, cluster: true);
}

internal sealed class RedisHarness : ISinkHarness
{
    private readonly bool _cluster;
    private readonly string _ns;
    private readonly RedisSinkOptions _options;
    private readonly RedisValueFormat _format;
    private readonly ConnectionMultiplexer _reader;

    private RedisHarness(string ns, RedisSinkOptions options, RedisValueFormat format, ConnectionMultiplexer reader, ISink sink, bool cluster)
    {
        _cluster = cluster;
        _ns = ns;
        _options = options;
        _format = format;
        _reader = reader;
        Sink = sink;
    }

    public ISink Sink { get; private set; }

    public string Namespace => _ns;

    public static async Task<RedisHarness> CreateAsync(RedisValueFormat format, bool cluster = false)
    {
        var ns = RedisTestServer.NewNamespace();
        var options = cluster ? RedisClusterTestServer.Options(ns) : RedisTestServer.Options(ns);
        var reader = cluster ? await RedisClusterTestServer.ConnectAsync() : await RedisTestServer.ConnectAsync();
        return new RedisHarness(ns, options, format, reader, await RedisSink.OpenAsync("conformance", options, CancellationToken.None), cluster);
    }

    public TargetSpec Target(string table) => new(_ns + table) { Options = new RedisTargetOptions { Format = _format } };

    public async Task RestartAsync()
    {
        await Sink.DisposeAsync();
        Sink = await RedisSink.OpenAsync("conformance", _options, CancellationToken.None);
    }

    /// <summary>Each change is compared with the key's stored version and written by one Lua script, and
    /// Redis runs a script atomically (no other command runs in between), so two instances can interleave
    /// only whole compare-and-set steps.</summary>
    public async Task<ISink> OpenAnotherAsync() => await RedisSink.OpenAsync("cache2", _options, CancellationToken.None);

    public Task<IReadOnlyList<string>> ReadAsync(TargetSpec target) =>
        _cluster
            ? RedisTestServer.ReadRowsAsync(_reader.GetDatabase(), RedisClusterTestServer.Primaries(_reader), new RedisKeys(_options.KeyPrefix, cluster: true), target.Table, _format)
            : RedisTestServer.ReadRowsAsync(_reader.GetDatabase(), _reader.GetServers()[0], new RedisKeys(_options.KeyPrefix), target.Table, _format);

    public async ValueTask DisposeAsync()
    {
        await Sink.DisposeAsync();
        await _reader.DisposeAsync();
        await (_cluster ? RedisClusterTestServer.CleanAsync(_ns) : RedisTestServer.CleanAsync(_ns));
    }
}
