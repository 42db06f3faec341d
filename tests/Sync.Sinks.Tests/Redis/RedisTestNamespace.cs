using StackExchange.Redis;

namespace Sync.Sinks.Tests.Redis;

/// <summary>A test's own key namespace on the standalone Redis, with a sink <c>target</c> writing under
/// it and a connection that reads what the sink wrote; disposing deletes the namespace's keys.</summary>
internal sealed class RedisTestNamespace : IAsyncDisposable
{
    private ConnectionMultiplexer? _connection;

    public string Name { get; } = RedisTestServer.NewNamespace();

    /// <summary>The sink <c>target</c>, a block under <c>sinks:</c>.</summary>
    public string SinkYaml => RedisTestServer.TargetYaml(Name);

    /// <summary>The connection opened by <see cref="ConnectAsync"/>.</summary>
    public ConnectionMultiplexer Connection => _connection ?? throw new InvalidOperationException("not connected yet");

    public async Task ConnectAsync() => _connection = await RedisTestServer.ConnectAsync();

    public async ValueTask DisposeAsync()
    {
        await RedisTestServer.CleanAsync(Name);
        if (_connection is not null)
        {
            await _connection.DisposeAsync();
        }
    }
}
