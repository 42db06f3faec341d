namespace Sync.Sinks.Redis;

/// <summary>Opens <c>type: redis</c> sinks; a materializer's <c>target:</c> block binds to <see cref="RedisTargetOptions"/>.</summary>
public sealed class RedisSinkFactory : ISinkFactory, Sync.Engine.Checks.IPreflightCheck
{
    public ValueTask<IReadOnlyList<Sync.Engine.Checks.CheckFinding>> CheckAsync(Sync.Engine.Checks.CheckScope scope, CancellationToken cancellationToken) =>
        new RedisPreflightCheck().CheckAsync(scope, cancellationToken);

    public string Type => "redis";

    public Type OptionsType => typeof(RedisSinkOptions);

    /// <summary>A Redis cache without persistence restarts empty by design: rebuilt by default.</summary>
    public bool RebuildsWhenEmpty => true;

    public Type? TargetOptionsType => typeof(RedisTargetOptions);

    public async ValueTask<ISink> OpenAsync(ComponentConfig sink, CancellationToken cancellationToken) =>
        await RedisSink.OpenAsync(sink.Name, (RedisSinkOptions)sink.Options, cancellationToken);
}
