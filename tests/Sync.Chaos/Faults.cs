using System.Diagnostics;
using Npgsql;
using Sync.Testing.Elasticsearch;
using Sync.Testing.Pulsar;

namespace Sync.Chaos;

/// <summary>
/// The faults a campaign injects, through the fakes' fault APIs (no sleeps standing in for
/// failures) and through restart commands for the real PostgreSQL and Redis. A fault counts as
/// fired only when the fake's own counter shows it happened (or the restart command succeeded).
/// The sink-rollback faults take a copy of a real sink, let sync write on past it, and put the copy
/// back (a Redis restarted from an older dump.rdb; a PostgreSQL target restored to an earlier point):
/// sync must find that the sink went back in time and bring the lost changes back.
/// </summary>
public sealed class FaultInjector(
    FakePulsarBroker broker,
    FakeElasticsearch elasticsearch,
    IReadOnlyList<(string Topic, string Subscription)> subscriptions,
    string? postgresRestart,
    string? redisRestart,
    string? postgresCrash,
    TextWriter log,
    SinkRollbacks? rollbacks = null,
    string? redisClusterCrash = null)
{
    /// <summary>How long sync writes on between a sink's snapshot and its restore: what it loses.</summary>
    public static readonly TimeSpan RollbackLag = TimeSpan.FromSeconds(1.5);

    private readonly Dictionary<string, int> _fired = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _missed = new(StringComparer.Ordinal);

    /// <summary>The faults this campaign can inject (restarts only when their command is given).</summary>
    public IReadOnlyList<string> Names { get; } =
    [
        "broker-drop-connections", "broker-drop-storm", "broker-close-consumers", "broker-send-errors",
        "broker-delayed-responses", "broker-down", "es-429", "es-503-items", "es-slow",
        .. postgresRestart is null ? Array.Empty<string>() : ["postgres-restart"],
        .. redisRestart is null ? Array.Empty<string>() : ["redis-restart"],
        .. postgresCrash is null ? Array.Empty<string>() : ["postgres-crash"],
        .. rollbacks?.RedisSnapshot is null || rollbacks.RedisRollback is null ? Array.Empty<string>() : ["redis-rollback"],
        .. rollbacks is null ? Array.Empty<string>() : ["postgres-rollback"],
        .. redisClusterCrash is null ? Array.Empty<string>() : ["redis-cluster-crash"],
    ];

    public int Fired => _fired.Values.Sum();

    public IReadOnlyDictionary<string, int> FiredByFault => new Dictionary<string, int>(_fired, StringComparer.Ordinal);

    /// <summary>Fired counts by fault, and faults armed that never fired (e.g. sync was down).</summary>
    public string Breakdown => string.Join(", ", Names.Select(n => $"{n} {_fired.GetValueOrDefault(n)}" + (_missed.GetValueOrDefault(n) > 0 ? $" (+{_missed[n]} armed, not fired)" : "")));

    public async Task InjectAsync(string name)
    {
        var fired = name switch
        {
            "broker-drop-connections" => DropConnections(),
            "broker-drop-storm" => await DropStormAsync(),
            "broker-close-consumers" => CloseConsumers(),
            "broker-send-errors" => await ArmAsync(() => broker.Faults.FailNextSends(3), () => broker.Faults.Fired(nameof(FakeBrokerFaults.FailNextSends)), () => broker.Faults.FailNextSends(0)),
            "broker-delayed-responses" => await DelayResponsesAsync(),
            "broker-down" => await BrokerDownAsync(),
            "es-429" => await ArmAsync(() => elasticsearch.Faults.FailNextRequests(4, 429, "_bulk"), () => elasticsearch.Faults.Fired("request"), elasticsearch.Faults.Clear),
            "es-503-items" => await ArmAsync(() => elasticsearch.Faults.FailNextBulkItems(40, 503), () => elasticsearch.Faults.Fired("bulkItem"), elasticsearch.Faults.Clear),
            "es-slow" => await ArmAsync(() => elasticsearch.Faults.DelayNextResponses(TimeSpan.FromSeconds(1.5), 3), () => elasticsearch.Faults.Fired("delay"), elasticsearch.Faults.Clear),
            "postgres-restart" => await RunAsync(postgresRestart!),
            "redis-restart" => await RunAsync(redisRestart!),
            "postgres-crash" => await RunAsync(postgresCrash!),
            "redis-cluster-crash" => await RunAsync(redisClusterCrash!),
            "redis-rollback" => await RollBackAsync("redis", () => RunAsync(rollbacks!.RedisSnapshot!), () => RunAsync(rollbacks!.RedisRollback!)),
            "postgres-rollback" => await RollBackAsync("postgres", rollbacks!.Postgres.SnapshotAsync, rollbacks.Postgres.RestoreAsync),
            _ => throw new ArgumentOutOfRangeException(nameof(name), name, "unknown fault"),
        };
        var counts = fired ? _fired : _missed;
        counts[name] = counts.GetValueOrDefault(name) + 1;
        log.WriteLine($"fault {name}: {(fired ? "fired" : "armed, did not fire")}");
    }

    private bool DropConnections()
    {
        var open = broker.ConnectionCount;
        broker.DropAllConnections();
        return open > 0;
    }

    // Connection drops every few hundred ms: each reconnect is cut again.
    private async Task<bool> DropStormAsync()
    {
        var dropped = false;
        for (var i = 0; i < 8; i++)
        {
            dropped |= DropConnections();
            await Task.Delay(300);
        }

        return dropped;
    }

    // The broker sends CLOSE_CONSUMER, as when it unloads a topic.
    private bool CloseConsumers()
    {
        var open = broker.ConnectionCount;
        foreach (var (topic, subscription) in subscriptions)
        {
            broker.CloseConsumers(topic, subscription);
        }

        return open > 0;
    }

    private async Task<bool> DelayResponsesAsync()
    {
        var open = broker.ConnectionCount;
        broker.Faults.ResponseDelay = TimeSpan.FromMilliseconds(400);
        await Task.Delay(TimeSpan.FromSeconds(3));
        broker.Faults.ResponseDelay = null;
        return open > 0;
    }

    // The broker is down for 2 s: connections cut, reconnects refused before CONNECTED.
    private async Task<bool> BrokerDownAsync()
    {
        var refusedBefore = broker.Faults.Fired(nameof(FakeBrokerFaults.ListenerPaused));
        broker.Faults.ListenerPaused = true;
        broker.DropAllConnections();
        await Task.Delay(TimeSpan.FromSeconds(2));
        broker.Faults.ListenerPaused = false;
        return broker.Faults.Fired(nameof(FakeBrokerFaults.ListenerPaused)) > refusedBefore;
    }

    /// <summary>Arms a counted fault and waits up to 15 s for it to fire; disarms it otherwise.</summary>
    private static async Task<bool> ArmAsync(Action arm, Func<int> firedCount, Action disarm)
    {
        var before = firedCount();
        arm();
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(15))
        {
            if (firedCount() > before)
            {
                return true;
            }

            await Task.Delay(50);
        }

        disarm();
        return firedCount() > before;
    }

    /// <summary>Snapshot, <see cref="RollbackLag"/> (and more until sync wrote past it), restore. The history of the
    /// sink starts again from a reading taken just before the snapshot (a lower bound of what the
    /// snapshot holds, since versions only go up): the sink's own step back is the fault, and what is
    /// checked is that sync never takes a key below what the restored sink held.</summary>
    private async Task<bool> RollBackAsync(string sink, Func<Task<bool>> snapshot, Func<Task<bool>> restore)
    {
        var reader = rollbacks!.Readers.Single(r => r.Name == sink);
        var baseline = await reader.ReadAsync();
        try
        {
            if (baseline is null || !await snapshot())
            {
                return false;
            }

            // Fired only when sync wrote past the copy, so that putting it back loses something: a
            // reading taken after the snapshot (at or above what it holds) must be overtaken.
            var taken = await reader.ReadAsync();
            await Task.Delay(RollbackLag);
            if (taken is null || !await MovedPastAsync(reader, taken))
            {
                return false;
            }

            rollbacks.History.BeginRollback(sink);
            try
            {
                return await restore();
            }
            finally
            {
                rollbacks.History.EndRollback(sink, baseline);
            }
        }
        catch (NpgsqlException e)
        {
            log.WriteLine($"{sink} rollback failed: {e.Message}");
            return false;
        }
    }

    private static async Task<bool> MovedPastAsync(ISinkReader reader, IReadOnlyDictionary<RowKey, long> taken)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(15))
        {
            if (await reader.ReadAsync() is { } rows && rows.Any(r => !taken.TryGetValue(r.Key, out var version) || r.Value > version))
            {
                return true;
            }

            await Task.Delay(100);
        }

        return false;
    }

    private async Task<bool> RunAsync(string command)
    {
        var info = new ProcessStartInfo("/bin/sh") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        info.ArgumentList.Add("-c");
        info.ArgumentList.Add(command);
        using var process = Process.Start(info)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        await process.WaitForExitAsync(timeout.Token);
        if (process.ExitCode != 0)
        {
            log.WriteLine($"restart command failed ({process.ExitCode}): {command}\n{await output}{await error}");
        }

        return process.ExitCode == 0;
    }
}
