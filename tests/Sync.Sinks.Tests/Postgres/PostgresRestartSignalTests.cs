namespace Sync.Sinks.Tests.Postgres;

/// <summary>The PostgreSQL sink's reconnect signal (<see cref="IReconnectingSink"/>): raised when a
/// reopened connection finds that the server started anew (<c>pg_postmaster_start_time()</c>,
/// https://www.postgresql.org/docs/current/functions-info.html), not on a reconnect to the same
/// running server.</summary>
public sealed class PostgresRestartSignalTests
{
    [Fact]
    public async Task A_reconnect_to_the_same_running_server_raises_no_signal()
    {
        await using var db = await PostgresTestDb.OpenAsync();
        var signals = 0;
        db.Sink.Reconnected += () => Interlocked.Increment(ref signals);
        await db.ApplyAsync("same", Change.Create(("id", 1), 10, ("name", "a")));

        await db.KillSinkConnectionAsync();
        // The reopen, and the signal if there were one, happen inside this call.
        await db.ApplyAsync("same", Change.Create(("id", 2), 11, ("name", "b")));

        Assert.Equal(1, db.Sink.DiscardedConnections);
        Assert.Equal(0, Volatile.Read(ref signals));
    }

    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public async Task A_server_restarted_from_an_older_copy_of_its_data_directory_is_signalled_when_the_sink_reconnects()
    {
        await using var server = await PostgresServerProcess.StartAsync();
        var options = new PostgresSinkOptions
        {
            ConnectionString = server.ConnectionString,
            Tls = PostgresTlsMode.Disable,
            Schema = "restarted",
            StateSchema = "restarted_sync",
            Retry = new RetryPolicy { InitialDelay = TimeSpan.FromMilliseconds(20), MaxDelay = TimeSpan.FromMilliseconds(200), MaxAttempts = 20 },
        };
        await using var sink = await PostgresSink.OpenAsync("pg", options, CancellationToken.None);
        var signals = 0;
        sink.Reconnected += () => Interlocked.Increment(ref signals);
        var target = new TargetSpec("users");
        await ApplyAsync(sink, target, Change.Create(("id", 1), 10, ("name", "a")).At(1));

        await server.CopyDataAsideAsync("older");
        await ApplyAsync(sink, target, Change.Create(("id", 2), 11, ("name", "b")).At(2));
        Assert.Equal(1, Volatile.Read(ref signals));
        Assert.Equal(new StreamPosition(0, 2), (await sink.LoadCheckpointAsync(PostgresTestDb.Materializer, CancellationToken.None))[Change.DefaultTopic]);

        await server.RestoreDataAsync("older");
        var checkpoint = await sink.LoadCheckpointAsync(PostgresTestDb.Materializer, CancellationToken.None);

        Assert.Equal(2, Volatile.Read(ref signals));
        Assert.Equal(new StreamPosition(0, 1), checkpoint[Change.DefaultTopic]);
    }

    /// <summary>No call of the sink's after a restart: the idle probe (on the sink's clock, moved here)
    /// finds its connection broken, opens a new one at once and reads the new start time. The sink's
    /// retries wait on the same clock, so nothing here lets a call meet the broken connection.</summary>
    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public async Task An_idle_sink_signals_a_server_restarted_from_an_older_copy_without_being_called()
    {
        await using var server = await PostgresServerProcess.StartAsync();
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 12, 7, 1, 0, 0, TimeSpan.Zero));
        var options = new PostgresSinkOptions
        {
            ConnectionString = server.ConnectionString,
            Tls = PostgresTlsMode.Disable,
            Schema = "idle",
            StateSchema = "idle_sync",
            IdleProbeInterval = TimeSpan.FromSeconds(5),
        };
        await using var sink = await PostgresSink.OpenAsync("pg", options, time, CancellationToken.None);
        var signals = 0;
        sink.Reconnected += () => Interlocked.Increment(ref signals);
        var target = new TargetSpec("users");
        await ApplyAsync(sink, target, Change.Create(("id", 1), 10, ("name", "a")).At(1));

        await server.CopyDataAsideAsync("older");
        await UntilSignalledAsync(1);
        await ApplyAsync(sink, target, Change.Create(("id", 2), 11, ("name", "b")).At(2));
        var discardedBefore = sink.DiscardedConnections;
        await server.RestoreDataAsync("older");
        await UntilSignalledAsync(2);

        Assert.True(sink.DiscardedConnections > discardedBefore, "the probe found the connection the restart broke");
        Assert.Equal(new StreamPosition(0, 1), (await sink.LoadCheckpointAsync(PostgresTestDb.Materializer, CancellationToken.None))[Change.DefaultTopic]);
        Assert.Equal(2, Volatile.Read(ref signals));

        Task UntilSignalledAsync(int count) => Poll.UntilAsync(
            () =>
            {
                time.Advance(options.IdleProbeInterval);
                return Volatile.Read(ref signals) == count;
            },
            TimeSpan.FromSeconds(60));
    }

    private static async Task ApplyAsync(PostgresSink sink, TargetSpec target, ChangeEvent change) =>
        await sink.ApplyAsync(new SinkBatch(PostgresTestDb.Materializer, target, [change], new Dictionary<string, StreamPosition> { [change.Origin.Topic] = change.Origin.Position }), CancellationToken.None);
}
