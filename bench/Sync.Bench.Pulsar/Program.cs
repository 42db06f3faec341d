using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using System.Reflection;
using System.Text.Json;
using Sync.Pulsar;
using Sync.Pulsar.Protocol;
using Sync.Pulsar.Protocol.Proto;

// Consume throughput of our Pulsar client (src/Pulsar) from the fake broker (tests/FakePulsar,
// run as its own process so that broker CPU and client CPU are measured apart), 1 KB messages,
// not batched and batched, against pulsar-flex (an independent pure-JavaScript client) consuming
// the same messages from the same fake in the same run. Each run reads its own subscription of
// the same topic, one after the other (never two at once on this 2-core machine):
//   drain         a minimal single-loop client: read the socket, decode frames (CRC included),
//                 FLOW and one ACK per half queue, no message objects; a reference, not a ceiling
//                 (it does not overlap reading with its own work, our client does)
//   ours          ReceiveAllAsync + AcknowledgeAsync(id) awaited per message (the headline)
//   ours-block    the same, acknowledging each 1000 messages with one ACK (what the engine does)
//   ours-receipt  AckReceiptEnabled, each ack's receipt awaited: pulsar-flex's ack pattern
//   flex          pulsar-flex 1.1.1, autoAck (awaits each ACK_RESPONSE), see flex-consume.js
// Prints a markdown table (CPU per message of client and fake from /proc, machine busy cores)
// and one JSON object per figure for bench/run.sh. Results: docs/_pending/pulsar-bench.md.
// Usage: dotnet run -c Release --project bench/Sync.Bench.Pulsar [-- --quick] [--flex-ack await|nowait]
//        [--count N] [--flex-count N] [--flex-count-batched N] [--json FILE (the figures as one array)]
var quick = args.Contains("--quick");
var flexAck = ArgValue("--flex-ack") ?? "await";
var oursCount = int.Parse(ArgValue("--count") ?? (quick ? "200000" : "1000000"), CultureInfo.InvariantCulture);
// --only drain,ours,ours-block,ours-receipt,flex picks runs; --mode single|batched picks one mode; --trace DIR
// records a CPU-sampling trace (dotnet-trace, speedscope format) of the client and of the fake
// during each picked run, for --trace-seconds (default 5).
var only = ArgValue("--only")?.Split(',') ?? ["drain", "ours", "ours-block", "ours-receipt", "flex"];
var modes = ArgValue("--mode") is { } pickedMode ? [pickedMode == "batched"] : new[] { false, true };
var traceDirectory = ArgValue("--trace");
var traceSeconds = int.Parse(ArgValue("--trace-seconds") ?? "5", CultureInfo.InvariantCulture);
const int MessageSize = 1024;
const int ReceiverQueueSize = 1000;

var benchDirectory = Metadata("BenchDirectory");
var fakeDll = FindFakePulsar();
var flexReady = EnsurePulsarFlex(benchDirectory);

Console.WriteLine($"machine: {Environment.ProcessorCount} cores, {Environment.OSVersion}, .NET {Environment.Version}, load {LoadAverage()}");
Console.WriteLine($"date: {DateTimeOffset.UtcNow:yyyy-MM-dd HH:mm} UTC; messages: {MessageSize} B payload, ours {oursCount:N0} per mode, receiver queue {ReceiverQueueSize}, pulsar-flex ack mode '{flexAck}'");

using var broker = StartFake(fakeDll, out var serviceUrl, out var adminUrl);
var hostPort = $"{serviceUrl.Host}:{serviceUrl.Port}";
var rows = new List<Row>();
var figures = new List<string>();
try
{
    foreach (var batched in modes)
    {
        var mode = batched ? "batched" : "not batched";
        var topic = $"persistent://public/default/bench-{(batched ? "batched" : "single")}-{Guid.NewGuid():N}";
        // pulsar-flex is slower; its share is sized so that it runs for roughly 10-20 s.
        var flexCount = int.Parse(
            ArgValue(batched ? "--flex-count-batched" : "--flex-count") ?? (batched ? (quick ? "120000" : "200000") : (quick ? "60000" : "100000")),
            CultureInfo.InvariantCulture);
        var produced = await ProduceAsync(serviceUrl, topic, oursCount, batched);
        Console.Error.WriteLine($"[{mode}] produced {oursCount:N0} in {produced:0.0} s");

        Row? drain = null, ours = null, oursBlock = null, oursReceipt = null, flex = null;
        if (only.Contains("drain"))
        {
            drain = await MeasureAsync(broker, $"drain, {mode}", Traced("drain", batched, () => DrainAsync(serviceUrl, topic, "drain", oursCount)));
        }
        if (only.Contains("ours"))
        {
            ours = await MeasureAsync(broker, $"ours, {mode}", Traced("ours", batched, () => ConsumeOursAsync(serviceUrl, topic, "ours", oursCount, ackPerBlock: false)));
        }
        if (only.Contains("ours-block"))
        {
            oursBlock = await MeasureAsync(broker, $"ours (ack per 1000), {mode}", Traced("ours-block", batched, () => ConsumeOursAsync(serviceUrl, topic, "ours-block", oursCount, ackPerBlock: true)));
        }
        if (only.Contains("ours-receipt"))
        {
            // pulsar-flex's ACK carries a request id and it awaits the broker's ACK_RESPONSE per
            // message; this is ours doing the same (AckReceiptEnabled, each ack awaited), on as
            // many messages as pulsar-flex gets.
            oursReceipt = await MeasureAsync(broker, $"ours (awaited ack receipts), {mode}", Traced("ours-receipt", batched, () => ConsumeOursAsync(serviceUrl, topic, "ours-receipt", flexCount, ackPerBlock: false, receipts: true)));
        }
        if (only.Contains("flex") && flexReady)
        {
            flex = await MeasureAsync(broker, $"pulsar-flex, {mode}", () => ConsumeFlexAsync(benchDirectory, hostPort, topic, "flex", flexCount, flexAck));
        }
        rows.AddRange(new[] { drain, ours, oursBlock, oursReceipt, flex }.OfType<Row>());
        await DeleteTopicAsync(adminUrl, topic);

        if (ours is not null && flex is not null)
        {
            figures.Add(Figure($"pulsar consume 1 KB, {mode}, ours", ours.MessagesPerSecond, "msgs/s", flex.MessagesPerSecond));
            figures.Add(Figure($"pulsar consume 1 KB, {mode}, ours", ours.MegabytesPerSecond, "MB/s", flex.MegabytesPerSecond));
        }
        if (oursReceipt is not null && flex is not null)
        {
            figures.Add(Figure($"pulsar consume 1 KB, {mode}, ours awaiting each ack receipt", oursReceipt.MessagesPerSecond, "msgs/s", flex.MessagesPerSecond, goal: null));
        }
        if (oursBlock is not null && flex is not null)
        {
            figures.Add(Figure($"pulsar consume 1 KB, {mode}, ours acking per 1000", oursBlock.MessagesPerSecond, "msgs/s", flex.MessagesPerSecond));
        }
    }
}
finally
{
    broker.StandardInput.Close();
    if (!broker.WaitForExit(5000))
    {
        broker.Kill();
    }
}

Console.WriteLine();
Console.WriteLine("| run | messages | seconds | msgs/s | MB/s | client CPU µs/msg | fake CPU µs/msg | client cores | fake cores | machine busy cores | client alloc B/msg | gen0/1/2 |");
Console.WriteLine("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |");
foreach (var r in rows)
{
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"| {r.Name} | {r.Messages:N0} | {r.Seconds:0.00} | {r.MessagesPerSecond:N0} | {r.MegabytesPerSecond:0.0} | {r.ClientCpu * 1e6 / r.Messages:0.0} | {r.BrokerCpu * 1e6 / r.Messages:0.0} | {r.ClientCpu / r.Seconds:0.00} | {r.BrokerCpu / r.Seconds:0.00} | {r.MachineBusy / r.Seconds:0.00} | {(r.AllocatedBytes == 0 ? "-" : (r.AllocatedBytes / r.Messages).ToString("N0", CultureInfo.InvariantCulture))} | {r.Gcs} |"));
}
Console.WriteLine();
foreach (var figure in figures)
{
    Console.WriteLine(figure);
}
if (ArgValue("--json") is { } jsonPath)
{
    // bench/run.sh collects the figures of every benchmark as one JSON array per program.
    await File.WriteAllTextAsync(jsonPath, "[\n" + string.Join(",\n", figures) + "\n]\n");
}
return 0;

// Wraps a run so that, with --trace, dotnet-trace samples this process and the fake meanwhile.
Func<Task<(long Messages, long Bytes)>> Traced(string run, bool batched, Func<Task<(long Messages, long Bytes)>> body) => async () =>
{
    if (traceDirectory is null)
    {
        return await body();
    }
    Directory.CreateDirectory(traceDirectory);
    var name = $"{run}-{(batched ? "batched" : "single")}";
    using var client = StartTrace(Environment.ProcessId, Path.Combine(traceDirectory, $"{name}-client.nettrace"), traceSeconds);
    using var fake = StartTrace(broker.Id, Path.Combine(traceDirectory, $"{name}-fake.nettrace"), traceSeconds);
    // Let both sessions start before the run does.
    await Task.Delay(1500);
    var result = await body();
    await client.WaitForExitAsync();
    await fake.WaitForExitAsync();
    return result;
};

static Process StartTrace(int pid, string output, int seconds)
{
    var tool = Environment.GetEnvironmentVariable("DOTNET_TRACE") ?? "dotnet-trace";
    var start = new ProcessStartInfo(tool, ["collect", "-p", pid.ToString(CultureInfo.InvariantCulture), "--profile", "dotnet-sampled-thread-time", "--format", "speedscope", "-o", output, "--duration", $"00:00:00:{seconds:00}"])
    {
        RedirectStandardOutput = true,
        RedirectStandardInput = true,
        UseShellExecute = false,
    };
    var process = Process.Start(start) ?? throw new InvalidOperationException("dotnet-trace did not start");
    _ = process.StandardOutput.ReadToEndAsync();
    return process;
}

string? ArgValue(string name)
{
    var index = Array.IndexOf(args, name);
    return index >= 0 && index + 1 < args.Length ? args[index + 1] : null;
}

static string Figure(string name, double value, string unit, double limit, string limitName = "pulsar-flex on the same fake", double? goal = 3.0) =>
    JsonSerializer.Serialize(new Dictionary<string, object?>
    {
        ["name"] = name,
        ["value"] = Math.Round(value, 1),
        ["unit"] = unit,
        ["limit_name"] = limitName,
        ["limit"] = Math.Round(limit, 1),
        ["ratio"] = Math.Round(value / limit, 2),
        ["goal_ratio"] = goal,
    });

static string Metadata(string key) =>
    typeof(Row).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().First(a => a.Key == key).Value
    ?? throw new InvalidOperationException($"assembly metadata {key} missing");

static string FindFakePulsar()
{
    var recorded = Metadata("FakePulsarDll");
    if (File.Exists(recorded))
    {
        return recorded;
    }
    // Same artifacts layout: bin/Sync.Bench.Pulsar/release -> bin/FakePulsar/release.
    var sibling = Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, "..", "..", "FakePulsar", "release", "FakePulsar.dll"));
    return File.Exists(sibling) ? sibling : throw new FileNotFoundException($"FakePulsar.dll not found ({recorded}, {sibling})");
}

static bool EnsurePulsarFlex(string directory)
{
    if (File.Exists(Path.Combine(directory, "node_modules", "pulsar-flex", "package.json")))
    {
        return true;
    }
    Console.Error.WriteLine("installing pulsar-flex (npm ci) ...");
    using var npm = Process.Start(new ProcessStartInfo("npm", ["ci", "--no-audit", "--no-fund"]) { WorkingDirectory = directory });
    if (npm is null || !npm.WaitForExit(180_000) || npm.ExitCode != 0)
    {
        Console.Error.WriteLine("npm ci failed: pulsar-flex figures are skipped");
        return false;
    }
    return true;
}

static Process StartFake(string dll, out Uri serviceUrl, out Uri adminUrl)
{
    var start = new ProcessStartInfo("dotnet", [dll])
    {
        RedirectStandardInput = true,
        RedirectStandardOutput = true,
        UseShellExecute = false,
    };
    var process = Process.Start(start) ?? throw new InvalidOperationException("FakePulsar did not start");
    var line = process.StandardOutput.ReadLine() ?? throw new InvalidOperationException("FakePulsar printed nothing");
    var parts = line.Split(' ');
    serviceUrl = new Uri(parts[0]);
    adminUrl = new Uri(parts[1]);
    return process;
}

static async Task<double> ProduceAsync(Uri serviceUrl, string topic, int count, bool batched)
{
    var clock = Stopwatch.StartNew();
    await using var client = new PulsarClient(new PulsarClientOptions { ServiceUrl = serviceUrl });
    // The subscriptions exist before the first message, so each one reads all of them
    // (pulsar-flex cannot ask for Earliest itself: it never puts initialPosition on the wire).
    foreach (var subscription in new[] { "drain", "ours", "ours-block", "ours-receipt", "flex" })
    {
        await using var consumer = await client.SubscribeAsync(new ConsumerOptions
        {
            Topic = topic,
            SubscriptionName = subscription,
            InitialPosition = SubscriptionInitialPosition.Earliest,
        });
    }
    await using (var producer = await client.CreateProducerAsync(new ProducerOptions { Topic = topic, BatchingEnabled = batched }))
    {
        var payload = new byte[MessageSize];
        new Random(42).NextBytes(payload);
        var pending = new List<ValueTask<MessageId>>(1000);
        for (var i = 0; i < count; i++)
        {
            pending.Add(producer.SendAsync(new OutgoingMessage { Data = payload }));
            if (pending.Count == 1000 || i == count - 1)
            {
                foreach (var send in pending)
                {
                    await send;
                }
                pending.Clear();
            }
        }
        await producer.FlushAsync();
    }
    return clock.Elapsed.TotalSeconds;
}

static async Task<(long Messages, long Bytes)> ConsumeOursAsync(Uri serviceUrl, string topic, string subscription, int count, bool ackPerBlock, bool receipts = false)
{
    await using var client = new PulsarClient(new PulsarClientOptions { ServiceUrl = serviceUrl });
    await using var consumer = await client.SubscribeAsync(new ConsumerOptions
    {
        Topic = topic,
        SubscriptionName = subscription,
        ReceiverQueueSize = ReceiverQueueSize,
        AckReceiptEnabled = receipts,
    });
    long bytes = 0;
    var seen = 0;
    var block = new List<PulsarMessage>(1000);
    using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
    await foreach (var message in consumer.ReceiveAllAsync(timeout.Token))
    {
        bytes += message.Data.Length;
        if (ackPerBlock)
        {
            block.Add(message);
            if (block.Count == 1000)
            {
                await consumer.AcknowledgeAsync(block);
                block.Clear();
            }
        }
        else
        {
            await consumer.AcknowledgeAsync(message.Id);
        }
        if (++seen == count)
        {
            break;
        }
    }
    if (block.Count > 0)
    {
        await consumer.AcknowledgeAsync(block);
    }
    return (seen, bytes);
}

// The minimum any client does: CONNECT, SUBSCRIBE, FLOW, read and decode every frame (with its
// CRC), top permits up by half the queue as ours does, one ACK listing the entries of each half
// queue. No message
// objects, no channel, no batch splitting beyond reading num_messages_in_batch.
static async Task<(long Messages, long Bytes)> DrainAsync(Uri serviceUrl, string topic, string subscription, int count)
{
    using var tcp = new TcpClient { NoDelay = true };
    await tcp.ConnectAsync(serviceUrl.Host, serviceUrl.Port);
    var stream = tcp.GetStream();
    using var reader = new FrameStreamReader(stream, FrameFormat.DefaultMaxMessageSize + FrameFormat.FramePadding);
    var output = new System.Buffers.ArrayBufferWriter<byte>(64 * 1024);
    async Task WriteAsync(BaseCommand command)
    {
        FrameEncoder.WriteCommand(output, command);
        await stream.WriteAsync(output.WrittenMemory);
        output.ResetWrittenCount();
    }
    async Task<BaseCommand> ExpectAsync(BaseCommand.Types.Type type)
    {
        while (true)
        {
            var frame = await reader.ReadFrameAsync(CancellationToken.None) ?? throw new IOException("fake closed the connection");
            if (frame.Command.Type == type)
            {
                return frame.Command;
            }
            if (frame.Command.Type == BaseCommand.Types.Type.Error)
            {
                throw new InvalidOperationException(frame.Command.Error.Message);
            }
        }
    }
    await WriteAsync(new BaseCommand { Type = BaseCommand.Types.Type.Connect, Connect = new CommandConnect { ClientVersion = "drain", ProtocolVersion = 21 } });
    await ExpectAsync(BaseCommand.Types.Type.Connected);
    await WriteAsync(new BaseCommand
    {
        Type = BaseCommand.Types.Type.Subscribe,
        Subscribe = new CommandSubscribe
        {
            Topic = topic,
            Subscription = subscription,
            SubType = CommandSubscribe.Types.SubType.Exclusive,
            ConsumerId = 1,
            RequestId = 1,
            ConsumerName = "drain",
            InitialPosition = CommandSubscribe.Types.InitialPosition.Earliest,
        },
    });
    await ExpectAsync(BaseCommand.Types.Type.Success);
    await WriteAsync(new BaseCommand { Type = BaseCommand.Types.Type.Flow, Flow = new CommandFlow { ConsumerId = 1, MessagePermits = ReceiverQueueSize } });
    long messages = 0;
    long bytes = 0;
    long entries = 0;
    var taken = 0;
    var acks = new CommandAck { ConsumerId = 1, AckType = CommandAck.Types.AckType.Individual };
    while (messages < count)
    {
        var frame = await reader.ReadFrameAsync(CancellationToken.None) ?? throw new IOException("fake closed the connection");
        if (frame.Command.Type != BaseCommand.Types.Type.Message || frame.Metadata is null)
        {
            continue;
        }
        var inEntry = frame.Metadata.HasNumMessagesInBatch ? frame.Metadata.NumMessagesInBatch : 1;
        messages += inEntry;
        entries++;
        bytes += inEntry == 1 ? frame.Payload.Length : inEntry * MessageSize;
        taken += inEntry;
        acks.MessageId.Add(new MessageIdData { LedgerId = frame.Command.Message.MessageId.LedgerId, EntryId = frame.Command.Message.MessageId.EntryId });
        if (taken >= ReceiverQueueSize / 2 || messages >= count)
        {
            // One ACK listing every entry since the last one, then the permits: the cheapest
            // pattern for the broker too (one lock, one command per half queue).
            FrameEncoder.WriteCommand(output, new BaseCommand { Type = BaseCommand.Types.Type.Ack, Ack = acks });
            FrameEncoder.WriteCommand(output, new BaseCommand { Type = BaseCommand.Types.Type.Flow, Flow = new CommandFlow { ConsumerId = 1, MessagePermits = (uint)taken } });
            await stream.WriteAsync(output.WrittenMemory);
            output.ResetWrittenCount();
            acks = new CommandAck { ConsumerId = 1, AckType = CommandAck.Types.AckType.Individual };
            taken = 0;
        }
    }
    Console.Error.WriteLine($"  drain: {entries:N0} entries, {messages / (double)entries:0.0} messages per entry");
    return (messages, bytes);
}

static async Task<(long Messages, long Bytes)> ConsumeFlexAsync(string directory, string hostPort, string topic, string subscription, int count, string ackMode)
{
    // BENCH_NODE_ARGS, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof", profiles pulsar-flex.
    var nodeArgs = (Environment.GetEnvironmentVariable("BENCH_NODE_ARGS") ?? "").Split(' ', StringSplitOptions.RemoveEmptyEntries);
    var start = new ProcessStartInfo("node", [.. nodeArgs, "flex-consume.js", hostPort, topic, subscription, count.ToString(CultureInfo.InvariantCulture), ReceiverQueueSize.ToString(CultureInfo.InvariantCulture), ackMode])
    {
        WorkingDirectory = directory,
        RedirectStandardOutput = true,
        RedirectStandardError = true,
        UseShellExecute = false,
    };
    using var node = Process.Start(start) ?? throw new InvalidOperationException("node did not start");
    var stdout = node.StandardOutput.ReadToEndAsync();
    var stderr = node.StandardError.ReadToEndAsync();
    await node.WaitForExitAsync();
    if (node.ExitCode != 0)
    {
        throw new InvalidOperationException($"pulsar-flex consumer failed ({node.ExitCode}): {await stderr}");
    }
    var result = JsonDocument.Parse((await stdout).Trim()).RootElement;
    FlexResult.Last = new FlexResult(
        result.GetProperty("seconds").GetDouble(),
        (result.GetProperty("cpuUserMs").GetDouble() + result.GetProperty("cpuSystemMs").GetDouble()) / 1000);
    return (result.GetProperty("count").GetInt64(), result.GetProperty("bytes").GetInt64());
}

static async Task<Row> MeasureAsync(Process broker, string name, Func<Task<(long Messages, long Bytes)>> run)
{
    GC.Collect();
    GC.WaitForPendingFinalizers();
    var self = Process.GetCurrentProcess();
    broker.Refresh();
    var brokerBefore = broker.TotalProcessorTime;
    var selfBefore = self.TotalProcessorTime;
    var machineBefore = MachineBusySeconds();
    var allocatedBefore = GC.GetTotalAllocatedBytes(precise: false);
    var gcBefore = (GC.CollectionCount(0), GC.CollectionCount(1), GC.CollectionCount(2));
    FlexResult.Last = null;
    var clock = Stopwatch.StartNew();
    var (messages, bytes) = await run();
    var seconds = clock.Elapsed.TotalSeconds;
    broker.Refresh();
    self.Refresh();
    var brokerCpu = (broker.TotalProcessorTime - brokerBefore).TotalSeconds;
    var clientCpu = (self.TotalProcessorTime - selfBefore).TotalSeconds;
    var machine = MachineBusySeconds() - machineBefore;
    var allocated = GC.GetTotalAllocatedBytes(precise: false) - allocatedBefore;
    var gcs = $"{GC.CollectionCount(0) - gcBefore.Item1}/{GC.CollectionCount(1) - gcBefore.Item2}/{GC.CollectionCount(2) - gcBefore.Item3}";
    if (FlexResult.Last is { } flex)
    {
        // node measured its own consume window (subscribe and start-up excluded). The machine's
        // busy time over node's whole life is scaled to that window's share of it.
        // Not scaled: the fake does next to nothing while node starts and subscribes.
        machine *= flex.Seconds / seconds;
        seconds = flex.Seconds;
        clientCpu = flex.CpuSeconds;
        allocated = 0;
        gcs = "(node)";
    }
    var row = new Row(name, messages, bytes, seconds, clientCpu, brokerCpu, machine, allocated, gcs);
    Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"  {name}: {messages:N0} msgs in {seconds:0.00} s = {row.MessagesPerSecond:N0} msgs/s, {row.MegabytesPerSecond:0.0} MB/s; client CPU {clientCpu:0.00} s, fake CPU {brokerCpu:0.00} s, machine busy {machine:0.00} core-s"));
    return row;
}

// Busy CPU seconds of the whole machine (every core, every process) from /proc/stat.
static double MachineBusySeconds()
{
    var first = File.ReadLines("/proc/stat").First().Split(' ', StringSplitOptions.RemoveEmptyEntries);
    var values = first.Skip(1).Select(v => long.Parse(v, CultureInfo.InvariantCulture)).ToArray();
    // user nice system idle iowait irq softirq steal ...
    var busy = values[0] + values[1] + values[2] + values[5] + values[6] + (values.Length > 7 ? values[7] : 0);
    return busy / 100.0;
}

static string LoadAverage() => File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "n/a";

static async Task DeleteTopicAsync(Uri adminUrl, string topic)
{
    using var http = new HttpClient { BaseAddress = adminUrl };
    var path = "admin/v2/" + topic.Replace("://", "/", StringComparison.Ordinal) + "?force=true";
    using var response = await http.DeleteAsync(new Uri(path, UriKind.Relative));
    if (!response.IsSuccessStatusCode)
    {
        Console.Error.WriteLine($"delete {topic}: {(int)response.StatusCode}");
    }
}

internal sealed record Row(string Name, long Messages, long Bytes, double Seconds, double ClientCpu, double BrokerCpu, double MachineBusy, long AllocatedBytes, string Gcs)
{
    public double MessagesPerSecond => Messages / Seconds;

    public double MegabytesPerSecond => Bytes / Seconds / 1e6;
}

internal sealed record FlexResult(double Seconds, double CpuSeconds)
{
    public static FlexResult? Last { get; set; }
}
