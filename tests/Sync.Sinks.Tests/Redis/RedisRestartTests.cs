using StackExchange.Redis;
using StreamPosition = Sync.Engine.Changes.StreamPosition;

namespace Sync.Sinks.Tests.Redis;

/// <summary>Server outages against a redis-server the test owns (append-only file, fsync always).
/// Each step waits for what the sink or the server says (a batch backing off, a BUSY reply), not for
/// a span of time; the retry policies allow far more attempts than the tests need, so that a slow
/// machine cannot run out of them.</summary>
public sealed class RedisRestartTests
{
    /// <summary>Against hangs only.</summary>
    private static readonly TimeSpan SafetyNet = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task A_server_crash_and_restart_between_batches_loses_and_regresses_nothing()
    {
        await using var server = await RedisServerProcess.StartAsync();
        var options = new RedisSinkOptions
        {
            Endpoints = [server.Endpoint],
            ConnectTimeout = TimeSpan.FromMilliseconds(500),
            Retry = new RetryPolicy { MaxAttempts = 1000, InitialDelay = TimeSpan.FromMilliseconds(20), MaxDelay = TimeSpan.FromMilliseconds(200) },
        };
        var target = new TargetSpec("users");
        var creates = Enumerable.Range(1, 100).Select(i => Change.Create(("id", i), i, ("name", "v1-" + i))).ToArray();
        var updates = Enumerable.Range(1, 50).Select(i => Change.Update(("id", i), 1000 + i, ("name", "v2-" + i)))
            .Concat(Enumerable.Range(51, 10).Select(i => Change.Delete(("id", i), 1000 + i))).ToArray();
        await using var sink = await RedisSink.OpenAsync("cache", options, CancellationToken.None);

        Assert.Equal(100, (await sink.ApplyAsync(Batch(target, creates), CancellationToken.None)).Upserted);
        await server.KillAsync();
        var backingOff = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var applying = sink.ApplyAsync(Batch(target, updates) with { Retrying = _ => backingOff.TrySetResult() }, CancellationToken.None).AsTask();
        // The server comes back while the batch is being retried.
        await Task.WhenAny(backingOff.Task, applying).WaitAsync(SafetyNet);
        Assert.False(applying.IsCompleted, "the batch ended while the server was down");
        await server.StartAgainAsync();
        var second = await applying.WaitAsync(SafetyNet);
        var checkpoint = await sink.LoadCheckpointAsync("m", CancellationToken.None);
        var replay = await sink.ApplyAsync(Batch(target, creates), CancellationToken.None);

        Assert.Equal((50, 10), (second.Upserted, second.Deleted));
        Assert.Equal(60, replay.Stale);
        Assert.Equal(40, replay.Upserted);
        var expected = Enumerable.Range(1, 100).Where(i => i is <= 50 or > 60)
            .Select(i => $"id={i}|name={(i <= 50 ? "v2-" : "v1-")}{i}").Order(StringComparer.Ordinal).ToList();
        await using var reader = await RedisTestServer.ConnectAsync(server.Endpoint);
        Assert.Equal(expected, await RedisTestServer.ReadRowsAsync(reader.GetDatabase(), reader.GetServers()[0], sink.Keys, target.Table, RedisValueFormat.Hash));
        Assert.Equal(new StreamPosition(0, 1060), checkpoint[Change.DefaultTopic]);
    }

    [Fact]
    public async Task An_outage_longer_than_the_retry_budget_fails_the_batch_as_unavailable_and_the_sink_recovers_afterwards()
    {
        await using var server = await RedisServerProcess.StartAsync();
        var options = new RedisSinkOptions
        {
            Endpoints = [server.Endpoint],
            ConnectTimeout = TimeSpan.FromMilliseconds(300),
            Retry = new RetryPolicy { MaxAttempts = 3, InitialDelay = TimeSpan.FromMilliseconds(10), MaxDelay = TimeSpan.FromMilliseconds(20) },
        };
        var target = new TargetSpec("users");
        await using var sink = await RedisSink.OpenAsync("cache", options, CancellationToken.None);
        await sink.ApplyAsync(Batch(target, Change.Create(("id", 1), 10, ("name", "a"))), CancellationToken.None);

        await server.KillAsync();
        var error = await Assert.ThrowsAsync<SinkUnavailableException>(async () =>
            await sink.ApplyAsync(Batch(target, Change.Update(("id", 1), 11, ("name", "b"))), CancellationToken.None));
        await server.StartAgainAsync();
        var retried = await RetryUntilConnectedAsync(() => sink.ApplyAsync(Batch(target, Change.Update(("id", 1), 11, ("name", "b"))), CancellationToken.None).AsTask());

        Assert.Contains("stayed unavailable after 3 attempts", error.Message, StringComparison.Ordinal);
        Assert.Equal(1, retried.Upserted);
        Assert.Equal(new StreamPosition(0, 11), (await sink.LoadCheckpointAsync("m", CancellationToken.None))[Change.DefaultTopic]);
    }

    [Fact]
    public async Task A_server_busy_with_another_script_is_waited_out_with_backoff()
    {
        await using var server = await RedisServerProcess.StartAsync("--busy-reply-threshold", "50");
        var options = new RedisSinkOptions
        {
            Endpoints = [server.Endpoint],
            Retry = new RetryPolicy { MaxAttempts = 1000, InitialDelay = TimeSpan.FromMilliseconds(20), MaxDelay = TimeSpan.FromMilliseconds(50) },
        };
        await using var sink = await RedisSink.OpenAsync("cache", options, CancellationToken.None);
        await using var other = await RedisTestServer.ConnectAsync(server.Endpoint);
        var busy = other.GetDatabase().ScriptEvaluateAsync("local n = 0 while true do n = n + 1 end");
        await Poll.UntilAsync(async () => (await InlineCommandAsync(server.Port, "PING")).StartsWith("-BUSY", StringComparison.Ordinal), SafetyNet);

        var backingOff = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var apply = sink.ApplyAsync(Batch(new TargetSpec("users"), Change.Create(("id", 1), 10, ("name", "a"))) with { Retrying = _ => backingOff.TrySetResult() }, CancellationToken.None).AsTask();
        await Task.WhenAny(backingOff.Task, apply).WaitAsync(SafetyNet);
        Assert.False(apply.IsCompleted);
        Assert.StartsWith("+OK", await InlineCommandAsync(server.Port, "SCRIPT KILL"), StringComparison.Ordinal);

        var result = await apply.WaitAsync(SafetyNet);
        await Assert.ThrowsAnyAsync<RedisException>(async () => await busy.WaitAsync(SafetyNet));
        Assert.Equal(1, result.Upserted);
    }

    /// <summary>Runs <paramref name="work"/> until the sink has reconnected to the restarted server.</summary>
    private static async Task<T> RetryUntilConnectedAsync<T>(Func<Task<T>> work)
    {
        var deadline = DateTime.UtcNow + SafetyNet;
        while (true)
        {
            try
            {
                return await work();
            }
            catch (SinkUnavailableException) when (DateTime.UtcNow < deadline)
            {
                await Task.Delay(100);
            }
        }
    }

    /// <summary>Sends one inline command over a bare socket and returns the reply's first line: a
    /// client's handshake meets BUSY too, so a busy server is probed (and its script killed) this way.</summary>
    private static async Task<string> InlineCommandAsync(int port, string command)
    {
        using var client = new System.Net.Sockets.TcpClient();
        await client.ConnectAsync(System.Net.IPAddress.Loopback, port);
        var stream = client.GetStream();
        await stream.WriteAsync(System.Text.Encoding.ASCII.GetBytes(command + "\r\n"));
        var reply = new byte[256];
        var read = await stream.ReadAsync(reply);
        return System.Text.Encoding.ASCII.GetString(reply, 0, read);
    }

    private static SinkBatch Batch(TargetSpec target, params ChangeEvent[] changes) =>
        new("m", target, changes, changes.GroupBy(c => c.Origin.Topic).ToDictionary(g => g.Key, g => g.Max(c => c.Origin.Position)));
}
