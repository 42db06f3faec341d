namespace Sync.Sinks.Redis;

/// <summary>Opens <c>type: redis</c> sinks; a materializer's <c>target:</c> block binds to <see cref="RedisTargetOptions"/>.</summary>
public sealed class RedisSinkFactory() : SinkFactory<RedisSinkOptions, RedisPreflightCheck>("redis", typeof(RedisTargetOptions)), IConfigAdvice
{
    /// <summary>A Redis cache without persistence restarts empty by design: rebuilt by default.</summary>
    public override bool RebuildsWhenEmpty => true;

    public IReadOnlyList<CheckFinding> Advise(CheckScope scope) => RedisClusterAdvice.Advise(scope);

    protected override async ValueTask<ISink> OpenAsync(string name, RedisSinkOptions options, CancellationToken cancellationToken) =>
        await RedisSink.OpenAsync(name, options, cancellationToken);
}
