using StackExchange.Redis;
using Sync.Sinks.Tests.Redis;

namespace Sync.Sinks.Tests.Healing;

/// <summary>A Redis server of the test's own, really restarted from an older copy of its data (its
/// append-only files, written with fsync always, copied aside and put back while it is down, as a
/// restart from an older RDB or AOF brings the data back:
/// https://redis.io/docs/latest/operate/oss_and_stack/management/persistence/).</summary>
public sealed class RedisRestartRollbackTests : SinkRollbackFixture
{
    private readonly string _namespace = RedisTestServer.NewNamespace();
    private readonly string _aside = Directory.CreateTempSubdirectory("sync-redis-copy-").FullName;
    private RedisServerProcess _server = null!;
    private ConnectionMultiplexer _connection = null!;

    protected override string SinkYaml => RedisTestServer.TargetYaml(_namespace, _server.Endpoint);

    protected override string Table => _namespace + "users";

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        _server = await RedisServerProcess.StartAsync();
        _connection = await RedisTestServer.ConnectAsync(_server.Endpoint);
    }

    public override async Task DisposeAsync()
    {
        await _connection.DisposeAsync();
        await _server.DisposeAsync();
        Directory.Delete(_aside, recursive: true);
        await base.DisposeAsync();
    }

    protected override Task<IReadOnlyList<string>> RowsAsync() => RedisRollbackTests.ReadRowsAsync(_connection, _namespace, Table);

    protected override Task SnapshotAsync()
    {
        Copy(_server.Directory, _aside);
        return Task.CompletedTask;
    }

    protected override async Task RestoreAsync()
    {
        await _server.KillAsync();
        Directory.Delete(_server.Directory, recursive: true);
        Copy(_aside, _server.Directory);
        await _server.StartAgainAsync();
        await _connection.DisposeAsync();
        _connection = await RedisTestServer.ConnectAsync(_server.Endpoint);
    }

    protected override async Task EmptyAsync() => await _connection.GetDatabase().ExecuteAsync("FLUSHALL");

    private static void Copy(string from, string to)
    {
        foreach (var file in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
        {
            var target = Path.Combine(to, Path.GetRelativePath(from, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target, overwrite: true);
        }
    }

    [Fact]
    public async Task A_redis_restarted_from_an_older_copy_is_checked_as_soon_as_the_sink_reconnects()
    {
        await using var run = Start(Config("failover"));
        await PublishAroundAnAcknowledgedSnapshotAsync();

        await RestoreAsync();

        // No batch comes and the run's clock never moves: only the reconnect can have it read the
        // checkpoint back.
        await run.UntilHealedAsync();
        await UntilSinkHoldsModelAsync();
        Assert.Equal(1, run.Counters.Rollbacks);
        Assert.Contains(run.Warnings, w => w.Contains("went back in time", StringComparison.Ordinal));
    }
}
