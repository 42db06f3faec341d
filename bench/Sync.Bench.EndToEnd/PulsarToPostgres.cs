using System.Diagnostics;
using System.Globalization;
using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using Sync.Engine.Config;
using Sync.Engine.Formats;
using Sync.Engine.Runtime;
using Sync.Pulsar;
using Sync.Sinks;
using Sync.Sinks.Postgres;
using Sync.Sources;

namespace Sync.Bench.EndToEnd;

/// <summary>Debezium events published the way Pulsar IO writes them (base64 JSON keys, bare
/// envelopes, deletes as op=d only) to the fake broker, materialized into PostgreSQL by the real
/// runtime.</summary>
internal sealed class PulsarToPostgres(Uri serviceUrl, Uri adminUrl, string postgres, string work, string? linger = null, string? readAhead = null)
{
    private const string LastKeyId = "-1";

    /// <param name="GcPauseMs">Time the runtime held the process's threads for collections while the events were sent and applied.</param>
    /// <param name="Gen2Collections">Full collections in that time (blocking ones without background collection).</param>
    public sealed record Latency(double P50Ms, double P99Ms, double MaxMs, int Count, double GcPauseMs = 0, int Gen2Collections = 0);

    /// <param name="BytesPerEvent">Managed bytes allocated by the whole process while draining, per event.</param>
    /// <param name="Gen0Collections">Garbage collections while draining (of any generation).</param>
    /// <param name="SwitchesPerThousand">Voluntary context switches of the process's threads (a
    /// thread going to sleep: waits for work or I/O) per 1,000 events.</param>
    public sealed record Throughput(double EventsPerSecond, double CpuSecondsPerMillion, double BytesPerEvent = 0, int Gen0Collections = 0, double SwitchesPerThousand = 0);

    public sealed record Footprint(double PeakRssMb, double EventsPerSecond, double CpuSecondsPerMillion);

    /// <summary>Publishes at <paramref name="rate"/> events/s for <paramref name="seconds"/> into a
    /// running materializer, and returns the publish-to-commit percentiles.</summary>
    public async Task<Latency> LatencyAsync(int rate, int seconds)
    {
        var run = Guid.NewGuid().ToString("N")[..8];
        var topic = $"persistent://public/default/latency-{rate}-{run}";
        var recorder = new LatencyRecorder();
        await using var runtime = Start(recorder, [(topic, $"latency_{rate}_{run}")]);
        await using var client = new PulsarClient(new PulsarClientOptions { ServiceUrl = serviceUrl });
        await using var producer = await client.CreateProducerAsync(new ProducerOptions { Topic = topic, BatchingEnabled = false });

        // One event first, unmeasured: the materializer has subscribed and its sink is open.
        await producer.SendAsync(Event(0, 0, 'c', sent: false));
        await WaitAsync(recorder, () => recorder.Applied >= 1, TimeSpan.FromSeconds(60), runtime);

        var total = rate * seconds;
        var paused = GC.GetTotalPauseDuration();
        var gen2 = GC.CollectionCount(2);
        var pending = new List<ValueTask<MessageId>>(total);
        var interval = Stopwatch.Frequency / (double)rate;
        var start = Stopwatch.GetTimestamp();
        for (var i = 1; i <= total; i++)
        {
            var due = start + (long)(i * interval);
            while (Stopwatch.GetTimestamp() < due)
            {
                // No spinning on a 2-core machine: sleep to the next millisecond and send what is due.
                await Task.Delay(1);
            }

            pending.Add(producer.SendAsync(Event(i, i, 'c', sent: true)));
        }

        foreach (var send in pending)
        {
            await send;
        }

        await WaitAsync(recorder, () => recorder.Applied >= total + 1, TimeSpan.FromSeconds(120), runtime);
        var (p50, p99, max, count) = recorder.Percentiles();
        return new Latency(p50, p99, max, count, (GC.GetTotalPauseDuration() - paused).TotalMilliseconds, GC.CollectionCount(2) - gen2);
    }

    /// <summary>Publishes a backlog of <paramref name="events"/> over as many topics as
    /// materializers, then starts them and measures how fast they drain it.</summary>
    public async Task<Throughput> SaturationAsync(int topics, int events)
    {
        var run = Guid.NewGuid().ToString("N")[..8];
        var targets = Enumerable.Range(0, topics).Select(t => ($"persistent://public/default/saturation-{run}-{t}", $"saturation_{run}_{t}")).ToList();
        foreach (var (topic, _) in targets)
        {
            await PublishBacklogAsync(topic, events / topics);
        }

        var recorder = new LatencyRecorder();
        // These two lines mark the measured window for a profiler attached from outside
        // (bench/profile-saturation.sh starts `perf record` on the first and stops it on the second).
        Console.Error.WriteLine($"saturation: draining, pid {Environment.ProcessId}");
        var cpu = Process.GetCurrentProcess().TotalProcessorTime;
        using var ticks = AllocationTicks.StartIfAsked();
        var allocated = GC.GetTotalAllocatedBytes(precise: true);
        var collections = GC.CollectionCount(0);
        var switches = ResourceUsage.VoluntarySwitches();
        var clock = Stopwatch.StartNew();
        await using (var runtime = Start(recorder, targets))
        {
            await WaitAsync(recorder, () => recorder.LastSeen >= topics, TimeSpan.FromMinutes(10), runtime);
        }

        Console.Error.WriteLine("saturation: drained");
        ticks?.Report(Console.Error);

        var elapsed = clock.Elapsed.TotalSeconds;
        var cpuSeconds = (Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalSeconds;
        var bytesPerEvent = (GC.GetTotalAllocatedBytes(precise: true) - allocated) / (double)events;
        var switchesPerThousand = (ResourceUsage.VoluntarySwitches() - switches) / (events / 1e3);
        return new Throughput(events / elapsed, cpuSeconds / (events / 1e6), bytesPerEvent, GC.CollectionCount(0) - collections, switchesPerThousand);
    }

    /// <summary>Runs the real CLI's <c>sync backfill</c> over a backlog and samples its memory and CPU.</summary>
    public async Task<Footprint> BackfillFootprintAsync(string cliDll, int events)
    {
        var run = Guid.NewGuid().ToString("N")[..8];
        var topic = $"persistent://public/default/backfill-{run}";
        await PublishBacklogAsync(topic, events);
        var config = WriteConfig($"backfill-{run}.yaml", "postgres", [(topic, $"backfill_{run}")]);
        var start = new ProcessStartInfo("dotnet", [cliDll, "backfill", "--config", config, "--materializer", "m0"])
        {
            WorkingDirectory = work,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        var clock = Stopwatch.StartNew();
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        long peakKb = 0;
        double cpuSeconds = 0;
        var ticksPerSecond = 100.0; // USER_HZ, 100 on Linux
        while (!process.HasExited)
        {
            try
            {
                foreach (var line in await File.ReadAllLinesAsync($"/proc/{process.Id}/status"))
                {
                    if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
                    {
                        peakKb = Math.Max(peakKb, long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture));
                    }
                }

                var stat = (await File.ReadAllTextAsync($"/proc/{process.Id}/stat")).Split(')')[1].Split(' ', StringSplitOptions.RemoveEmptyEntries);
                // Fields after the command: state is [0], utime is field 14 of stat -> [11], stime [12].
                cpuSeconds = (long.Parse(stat[11], CultureInfo.InvariantCulture) + long.Parse(stat[12], CultureInfo.InvariantCulture)) / ticksPerSecond;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException)
            {
                // The process ended between the check and the read.
            }

            await Task.Delay(100);
        }

        var elapsed = clock.Elapsed.TotalSeconds;
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"sync backfill exited {process.ExitCode}: {await error}{await output}");
        }

        return new Footprint(peakKb / 1024.0, events / elapsed, cpuSeconds / (events / 1e6));
    }

    /// <summary>Runs <paramref name="processes"/> real <c>sync run</c> CLI processes on one config
    /// whose materializer reads one topic through a Key_Shared subscription (as
    /// tests/Sync.Cli.Tests/ScaleOutTests.cs does), and measures from their start until the table
    /// holds the last change of every key. Process start-up is part of the time.</summary>
    /// <param name="sinkConnection">The connection string the processes write through (a
    /// <see cref="LatencyProxy"/> in front of the server); the server's own by default.</param>
    /// <param name="batchSize">The materializer's batchSize.</param>
    public async Task<double> KeySharedProcessesAsync(string cliDll, int processes, int events, string? sinkConnection = null, int batchSize = 5000)
    {
        var run = Guid.NewGuid().ToString("N")[..8];
        var topic = $"persistent://public/default/keyshared-{run}";
        var table = $"keyshared_{run}";
        // Behind the latency proxy each message is its own entry, so that Key_Shared hands every key
        // to one process only: a batched entry goes whole to the consumer of its first key, and keys
        // of one table written by two processes wait for each other's key locks (held across the
        // delayed round trips), which would measure lock waits instead of scale-out.
        var expected = await PublishBacklogAsync(topic, events, batching: sinkConnection is null);
        var config = WriteConfig($"keyshared-{run}.yaml", "postgres", [(topic, table)], "key-shared", sinkConnection, batchSize);
        var clock = Stopwatch.StartNew();
        var started = new List<Process>();
        try
        {
            for (var i = 0; i < processes; i++)
            {
                var start = new ProcessStartInfo("dotnet", [cliDll, "run", "--config", config])
                {
                    WorkingDirectory = work,
                    RedirectStandardOutput = true,
                    RedirectStandardError = true,
                };
                var process = Process.Start(start)!;
                started.Add(process);
                _ = process.StandardOutput.ReadToEndAsync();
                _ = process.StandardError.ReadToEndAsync();
            }

            await using var connection = new Npgsql.NpgsqlConnection(postgres);
            await connection.OpenAsync();
            while (await TableStateAsync(connection, table) != expected)
            {
                if (started.FirstOrDefault(p => p.HasExited) is { } ended)
                {
                    throw new InvalidOperationException($"sync run exited with {ended.ExitCode} before the table was complete");
                }

                if (clock.Elapsed > TimeSpan.FromMinutes(10))
                {
                    throw new TimeoutException("the table was not complete within 10 minutes");
                }

                await Task.Delay(50);
            }

            return events / clock.Elapsed.TotalSeconds;
        }
        finally
        {
            foreach (var process in started)
            {
                if (!process.HasExited)
                {
                    process.Kill(entireProcessTree: true);
                }

                await process.WaitForExitAsync();
                process.Dispose();
            }
        }
    }

    /// <summary>Rows and the sum of the LSNs their notes carry: equal to the expected pair only
    /// once every key holds its last change.</summary>
    private static async Task<(int Rows, long LsnSum)> TableStateAsync(Npgsql.NpgsqlConnection connection, string table)
    {
        try
        {
            await using var query = new Npgsql.NpgsqlCommand($"SELECT count(*)::int, coalesce(sum(substring(note from 8)::bigint), 0)::bigint FROM {table}", connection);
            await using var reader = await query.ExecuteReaderAsync();
            await reader.ReadAsync();
            return (reader.GetInt32(0), reader.GetInt64(1));
        }
        catch (Npgsql.PostgresException e) when (e.SqlState == "42P01")
        {
            return (-1, -1); // the sink has not created the table yet
        }
    }

    /// <summary>Publishes the backlog and returns what the table holds once it is applied: the
    /// rows left and the sum of the LSNs of their last changes.</summary>
    private async Task<(int Rows, long LsnSum)> PublishBacklogAsync(string topic, int events, bool batching = true)
    {
        var last = new Dictionary<long, long?>();
        await using var client = new PulsarClient(new PulsarClientOptions { ServiceUrl = serviceUrl });
        await using var producer = await client.CreateProducerAsync(new ProducerOptions { Topic = topic, BatchingEnabled = batching });
        var random = new Random(42);
        var keys = Math.Max(1, events / 10);
        var pending = new List<ValueTask<MessageId>>(1000);
        for (var i = 1; i <= events; i++)
        {
            var roll = random.Next(10);
            var op = i == events ? 'c' : roll < 6 ? 'u' : roll < 9 ? 'c' : 'd';
            var id = i == events ? -1 : random.Next(keys);
            last[id] = op == 'd' ? null : i;
            pending.Add(producer.SendAsync(Event(id, i, op, sent: false)));
            if (pending.Count == 1000 || i == events)
            {
                foreach (var send in pending)
                {
                    await send;
                }

                pending.Clear();
            }
        }

        var live = last.Values.Where(lsn => lsn is not null).ToList();
        return (live.Count, live.Sum(lsn => lsn!.Value));
    }

    /// <summary>A Debezium change as Pulsar IO publishes it: the key is the JSON key's bytes (sent
    /// base64-flagged), the value a bare envelope.</summary>
    private static OutgoingMessage Event(long id, long lsn, char op, bool sent)
    {
        var key = Encoding.UTF8.GetBytes($"{{\"id\":{id}}}");
        var image = $"{{\"id\":{id},\"name\":\"item {id}\",\"price\":{lsn % 1000}.25,\"qty\":{lsn % 17},\"note\":\"change {lsn}\"}}";
        var value = op == 'd'
            ? $"{{\"before\":{{\"id\":{id}}},\"after\":null,\"source\":{{\"connector\":\"postgresql\",\"db\":\"app\",\"schema\":\"public\",\"table\":\"items\",\"lsn\":{1000 + lsn}}},\"op\":\"d\",\"ts_ms\":1748854800000}}"
            : $"{{\"before\":null,\"after\":{image},\"source\":{{\"connector\":\"postgresql\",\"db\":\"app\",\"schema\":\"public\",\"table\":\"items\",\"lsn\":{1000 + lsn}}},\"op\":\"{op}\",\"ts_ms\":1748854800000}}";
        var properties = new Dictionary<string, string>(StringComparer.Ordinal);
        if (sent)
        {
            properties["sent"] = Stopwatch.GetTimestamp().ToString(CultureInfo.InvariantCulture);
        }

        if (id.ToString(CultureInfo.InvariantCulture) == LastKeyId)
        {
            properties["last"] = "1";
        }

        return new OutgoingMessage { KeyBytes = key, Data = Encoding.UTF8.GetBytes(value), Properties = properties.Count == 0 ? null : properties };
    }

    private RunningRuntime Start(LatencyRecorder recorder, IReadOnlyList<(string Topic, string Table)> targets)
    {
        var config = WriteConfig($"run-{Guid.NewGuid():N}.yaml", TimedSinkFactory.TypeName, targets);
        var components = new SyncComponents(
            SourceCatalog.All,
            [.. SinkCatalog.All, new TimedSinkFactory(new PostgresSinkFactory(), recorder)],
            MessageFormats.Names,
            MessageFormats.Create);
        var loaded = ConfigLoader.Load(config, components.Types);
        var stop = new CancellationTokenSource();
        var task = Task.Run(() => new SyncRuntime(loaded, components, NullLoggerFactory.Instance).RunAsync([], RunMode.Resume, stop.Token));
        return new RunningRuntime(task, stop);
    }

    private string WriteConfig(string name, string sinkType, IReadOnlyList<(string Topic, string Table)> targets, string? subscriptionType = null, string? sinkConnection = null, int batchSize = 5000)
    {
        var subscription = subscriptionType is null ? "" : $", subscriptionType: {subscriptionType}";
        var yaml = new StringBuilder()
            .AppendLine("sources:")
            .AppendLine($"  broker: {{ type: pulsar, serviceUrl: '{serviceUrl}', adminUrl: '{adminUrl}', initialPosition: earliest{subscription} }}")
            .AppendLine("sinks:")
            .AppendLine($"  pg: {{ type: {sinkType}, connectionString: '{sinkConnection ?? postgres}', tls: disable }}")
            .AppendLine("materializers:");
        for (var i = 0; i < targets.Count; i++)
        {
            yaml.AppendLine($"  m{i}: {{ source: broker, topics: ['{targets[i].Topic}'], sink: pg, table: {targets[i].Table}, batchSize: {batchSize}{(linger is null ? "" : $", linger: {linger}")}{(readAhead is null ? "" : $", readAhead: {readAhead}")} }}");
        }

        var path = Path.Combine(work, name);
        File.WriteAllText(path, yaml.ToString());
        return path;
    }

    /// <summary>Waits until <paramref name="done"/>, checked after each batch the recorder sees (no
    /// polling timer: its wakes would be charged to the process whose CPU is measured).</summary>
    private static async Task WaitAsync(LatencyRecorder recorder, Func<bool> done, TimeSpan timeout, RunningRuntime runtime)
    {
        var expired = Task.Delay(timeout);
        while (true)
        {
            // Taken before the check, so that a batch recorded in between completes it.
            var next = recorder.NextRecord;
            if (done())
            {
                return;
            }

            if (runtime.Task.IsCompleted)
            {
                var outcomes = await runtime.Task;
                throw new InvalidOperationException($"the runtime stopped: {string.Join("; ", outcomes.Select(o => $"{o.Name}: {o.Failure?.Message ?? "ended"}"))}");
            }

            if (expired.IsCompleted)
            {
                throw new TimeoutException($"not done within {timeout}");
            }

            await Task.WhenAny(next, runtime.Task, expired);
        }
    }

    private sealed class RunningRuntime(Task<IReadOnlyList<MaterializerOutcome>> task, CancellationTokenSource stop) : IAsyncDisposable
    {
        public Task<IReadOnlyList<MaterializerOutcome>> Task => task;

        public async ValueTask DisposeAsync()
        {
            await stop.CancelAsync();
            var outcomes = await task;
            stop.Dispose();
            if (outcomes.FirstOrDefault(o => o.Failure is not null) is { } failed)
            {
                throw new InvalidOperationException($"materializer {failed.Name} failed: {failed.Failure!.Message}", failed.Failure);
            }
        }
    }
}
