using Sync.Sinks.Redis;
using Sync.Sinks.Tests.Conformance;

namespace Sync.Sinks.Tests.Redis;

/// <summary>Two sink instances on one Redis. Each change is compared with the key's stored version and
/// written by one Lua script, and Redis runs a script atomically (no other command runs in between), so
/// two instances can interleave only whole compare-and-set steps.</summary>
public sealed class RedisConcurrentWritersTests
{
    [Fact]
    public async Task Two_sinks_writing_conflicting_versions_of_the_same_keys_at_once_end_at_the_newest()
    {
        await using var t = await RedisTestContext.CreateAsync();
        await using var other = await RedisSink.OpenAsync("cache2", t.Options, CancellationToken.None);

        await ConflictingOrders.RunAsync(t.Sink, other, t.Target, RedisTestContext.Materializer);

        Assert.Equal([.. ConflictingOrders.Survivors.Select(id => $"id={id}|name=final").Order(StringComparer.Ordinal)], await t.RowsAsync());
    }
}
