using System.Diagnostics;
using System.Text.Json;

namespace Sync.Pulsar.Tests.Client;

/// <summary>
/// Installs pulsar-flex (an independent, pure-JavaScript Pulsar client) once per run, from the
/// lock file in tests/Sync.Pulsar.Tests/Interop.
/// </summary>
public sealed class PulsarFlexInstall
{
    // A class fixture is built once per test class, and xunit runs classes in parallel: two
    // `npm ci` at once each empty node_modules under the other. One install per test process.
    private static readonly Lazy<string> Installed = new(Install, LazyThreadSafetyMode.ExecutionAndPublication);

    public string Directory => Installed.Value;

    private static string Install()
    {
        var directory = FindInteropDirectory();
        // npm writes node_modules/.package-lock.json last, so an install cut short is redone.
        if (!File.Exists(Path.Combine(directory, "node_modules", ".package-lock.json"))
            || !File.Exists(Path.Combine(directory, "node_modules", "pulsar-flex", "package.json")))
        {
            var (exit, output) = Run("npm", ["ci", "--no-audit", "--no-fund"], directory, TimeSpan.FromMinutes(3));
            if (exit != 0)
            {
                throw new InvalidOperationException($"npm ci of pulsar-flex failed ({exit}):\n{output}");
            }
        }

        return directory;
    }

    private static string FindInteropDirectory()
    {
        var recorded = typeof(PulsarFlexInstall).Assembly
            .GetCustomAttributes(typeof(System.Reflection.AssemblyMetadataAttribute), false)
            .Cast<System.Reflection.AssemblyMetadataAttribute>()
            .FirstOrDefault(a => a.Key == "InteropDirectory")?.Value;
        if (recorded is not null && File.Exists(Path.Combine(recorded, "flex-client.js")))
        {
            return recorded;
        }
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "tests", "Sync.Pulsar.Tests", "Interop");
            if (File.Exists(Path.Combine(candidate, "flex-client.js")))
            {
                return candidate;
            }
        }
        throw new InvalidOperationException($"tests/Sync.Pulsar.Tests/Interop not found above {AppContext.BaseDirectory}");
    }

    internal static (int Exit, string Output) Run(string file, string[] arguments, string workingDirectory, TimeSpan timeout)
    {
        var start = new ProcessStartInfo(file)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"{file} did not start");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(timeout))
        {
            process.Kill(entireProcessTree: true);
            return (-1, $"{file} timed out after {timeout}\n{stderr.Result}");
        }
        process.WaitForExit();
        return (process.ExitCode, stdout.Result + stderr.Result);
    }
}

/// <summary>
/// Our client and our fake broker checked against an implementation written by other people:
/// pulsar-flex produces to the fake and our client consumes, and the other way round. If our
/// codec and our fake agreed on a mistake, pulsar-flex would not. pulsar-flex cannot set keys
/// or use compression, so those are covered by golden frames instead.
/// </summary>
public class PulsarFlexCrossCheckTests(PulsarFlexInstall flex) : ClientTestBase, IClassFixture<PulsarFlexInstall>
{
    private string Server => $"{Broker.ServiceUrl.Host}:{Broker.ServiceUrl.Port}";

    private (int Exit, string Output) Flex(params string[] arguments) =>
        PulsarFlexInstall.Run("node", ["flex-client.js", .. arguments], flex.Directory, TimeSpan.FromSeconds(60));

    [Fact]
    public async Task Messages_produced_by_pulsar_flex_are_consumed_by_our_client()
    {
        await using var consumer = await ConsumerAsync();

        var (exit, output) = await Task.Run(() => Flex("produce", Server, Topic, "20"));
        Assert.True(exit == 0, output);
        var messages = await ReceiveAsync(consumer, 20);

        Assert.Equal(Enumerable.Range(0, 20).Select(i => $"flex-{i}"), messages.Select(m => Encoding.UTF8.GetString(m.Data.Span)));
        Assert.Equal(Enumerable.Range(0, 20).Select(i => $"{i}"), messages.Select(m => Assert.Single(m.Properties, p => p.Key == "i").Value));
        Assert.All(Broker.FindTopic(Topic)!.Entries, entry => Assert.Equal(1, entry.MessageCount));
    }

    [Fact]
    public async Task A_batch_produced_by_pulsar_flex_is_split_by_our_client()
    {
        await using var consumer = await ConsumerAsync(ackReceipts: true);

        var (exit, output) = await Task.Run(() => Flex("produce", Server, Topic, "7", "batch"));
        Assert.True(exit == 0, output);
        var messages = await ReceiveAsync(consumer, 7);

        var entry = Assert.Single(Broker.FindTopic(Topic)!.Entries);
        Assert.Equal(7, entry.MessageCount);
        Assert.Equal(Enumerable.Range(0, 7), messages.Select(m => m.Id.BatchIndex));
        Assert.Equal(Enumerable.Range(0, 7).Select(i => $"flex-{i}"), messages.Select(m => Encoding.UTF8.GetString(m.Data.Span)));
        foreach (var message in messages)
        {
            await consumer.AcknowledgeAsync(message.Id);
        }
        Assert.True(Broker.FindTopic(Topic)!.FindSubscription("sub")!.IsAcknowledged(entry.EntryId));
    }

    [Fact]
    public async Task Messages_produced_by_our_client_are_consumed_and_acked_by_pulsar_flex()
    {
        using var flexConsumer = FlexProcess.Start(flex.Directory, "consume", Server, Topic, "flex-sub", "15");
        await flexConsumer.WaitForLineAsync(line => line.TryGetProperty("subscribed", out _), Patience);

        await using (var producer = await ProducerAsync())
        {
            for (var i = 0; i < 15; i++)
            {
                await producer.SendAsync(new OutgoingMessage
                {
                    Data = Encoding.UTF8.GetBytes($"ours-{i}"),
                    Properties = new Dictionary<string, string> { ["n"] = $"{i}" },
                });
            }
        }
        var exit = await flexConsumer.WaitForExitAsync(TimeSpan.FromSeconds(45));

        Assert.True(exit == 0, flexConsumer.Output);
        var messages = flexConsumer.Lines.Where(l => l.TryGetProperty("payload", out _)).ToList();
        Assert.Equal(
            Enumerable.Range(0, 15).Select(i => $"ours-{i}"),
            messages.Select(m => Encoding.UTF8.GetString(Convert.FromBase64String(m.GetProperty("payload").GetString()!))));
        Assert.Equal(Enumerable.Range(0, 15).Select(i => $"{i}"), messages.Select(m => m.GetProperty("properties").GetProperty("n").GetString()));
        // pulsar-flex acks each message; the fake must have seen every ack.
        await EventuallyAsync(() => Broker.FindTopic(Topic)!.FindSubscription("flex-sub")!.AckedBefore == 15, "pulsar-flex's acks moved the cursor");
    }

    [Fact]
    public async Task Messages_pulsar_flex_did_not_acknowledge_are_redelivered_to_our_client()
    {
        using (var flexConsumer = FlexProcess.Start(flex.Directory, "consume", Server, Topic, "handover", "5", "noack"))
        {
            await flexConsumer.WaitForLineAsync(line => line.TryGetProperty("subscribed", out _), Patience);
            await using (var producer = await ProducerAsync())
            {
                for (var i = 0; i < 5; i++)
                {
                    await producer.SendAsync(new OutgoingMessage { Data = Encoding.UTF8.GetBytes($"handover-{i}") });
                }
            }
            Assert.Equal(0, await flexConsumer.WaitForExitAsync(TimeSpan.FromSeconds(45)));
        }

        // pulsar-flex exited without acknowledging: the broker must hand everything to the next consumer.
        await EventuallyAsync(() => Broker.FindTopic(Topic)!.FindSubscription("handover")!.PendingCount == 0, "pulsar-flex's connection was released");
        await using var ours = await ConsumerAsync(subscription: "handover");
        var redelivered = await ReceiveAsync(ours, 5);

        Assert.Equal(Enumerable.Range(0, 5).Select(i => $"handover-{i}"), redelivered.Select(m => Encoding.UTF8.GetString(m.Data.Span)));
    }

    [Fact]
    public async Task Pulsar_flex_joining_key_shared_gets_a_moved_key_only_after_our_consumer_acknowledged_it()
    {
        // pulsar-flex cannot set keys, but it receives ours. Its Key_Shared SUBSCRIBE carries no
        // KeySharedMeta, so the fake must take it as the broker does: AUTO_SPLIT, ordered. As the
        // second consumer it takes the lower half of the hash space, [0, 32768].
        static int Slot(string key) => KeyHashing.StickyKeyHash(Encoding.UTF8.GetBytes(key));
        var moving = Enumerable.Range(0, 100).Select(i => $"moving-{i}").First(k => Slot(k) <= 32768);
        await using var ours = (PulsarConsumer)await Client.SubscribeAsync(new ConsumerOptions
        {
            Topic = Topic,
            SubscriptionName = "ks",
            SubscriptionType = SubscriptionType.KeyShared,
            InitialPosition = SubscriptionInitialPosition.Earliest,
            ConsumerName = "ours",
            AckReceiptEnabled = true,
        });
        await using var producer = await ProducerAsync();
        async Task PublishAsync(int from, int to)
        {
            for (var n = from; n <= to; n++)
            {
                await producer.SendAsync(new OutgoingMessage { Key = moving, Data = Encoding.UTF8.GetBytes($"{moving}:{n}") });
            }
        }
        await PublishAsync(1, 3);
        var held = await ReceiveAsync(ours, 3);

        using var flexConsumer = FlexProcess.Start(flex.Directory, "consume", Server, Topic, "ks", "3", "ack", "key-shared");
        await flexConsumer.WaitForLineAsync(line => line.TryGetProperty("subscribed", out _), Patience);
        await PublishAsync(4, 6);
        var subscription = Broker.FindTopic(Topic)!.FindSubscription("ks")!;
        // Blocked attempts count only once pulsar-flex has permits: it could take the key and was refused.
        await EventuallyAsync(
            () => subscription.KeySharedDrainingHashes.GetValueOrDefault("ours") is [{ BlockedAttempts: > 0 }],
            "the broker held the key back from pulsar-flex");
        Assert.Equal(0, Broker.DeliveredPerConsumer(Topic, "ks").GetValueOrDefault("pulsar-flex"));

        await ours.AcknowledgeAsync(held);
        var exit = await flexConsumer.WaitForExitAsync(TimeSpan.FromSeconds(45));

        Assert.True(exit == 0, flexConsumer.Output);
        var messages = flexConsumer.Lines.Where(l => l.TryGetProperty("payload", out _)).ToList();
        Assert.Equal(
            Enumerable.Range(4, 3).Select(n => $"{moving}:{n}"),
            messages.Select(m => Encoding.UTF8.GetString(Convert.FromBase64String(m.GetProperty("payload").GetString()!))));
        Assert.All(messages, m => Assert.Equal(moving, m.GetProperty("key").GetString()));
    }

    [Fact]
    public async Task Pulsar_flex_subscription_without_initial_position_starts_at_latest()
    {
        // pulsar-flex never sends initialPosition; the broker's default (Latest) must apply.
        await using (var producer = await ProducerAsync())
        {
            await producer.SendAsync(new OutgoingMessage { Data = "old"u8.ToArray() });
        }
        using var flexConsumer = FlexProcess.Start(flex.Directory, "consume", Server, Topic, "late-sub", "1");
        await flexConsumer.WaitForLineAsync(line => line.TryGetProperty("subscribed", out _), Patience);

        await using (var producer = await ProducerAsync())
        {
            await producer.SendAsync(new OutgoingMessage { Data = "new"u8.ToArray() });
        }
        Assert.Equal(0, await flexConsumer.WaitForExitAsync(TimeSpan.FromSeconds(45)));

        var message = Assert.Single(flexConsumer.Lines, l => l.TryGetProperty("payload", out _));
        Assert.Equal("new", Encoding.UTF8.GetString(Convert.FromBase64String(message.GetProperty("payload").GetString()!)));
    }
}

/// <summary>A running flex-client.js whose JSON output lines are collected as they come.</summary>
internal sealed class FlexProcess : IDisposable
{
    private readonly Process _process;
    private readonly List<JsonElement> _lines = [];
    private readonly StringBuilder _output = new();
    private readonly SemaphoreSlim _lineArrived = new(0);

    private FlexProcess(Process process)
    {
        _process = process;
        _process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null)
            {
                return;
            }
            lock (_output)
            {
                _output.AppendLine(e.Data);
                if (e.Data.StartsWith('{'))
                {
                    _lines.Add(JsonDocument.Parse(e.Data).RootElement.Clone());
                }
            }
            _lineArrived.Release();
        };
        _process.ErrorDataReceived += (_, e) =>
        {
            lock (_output)
            {
                _output.AppendLine(e.Data);
            }
        };
    }

    public static FlexProcess Start(string directory, params string[] arguments)
    {
        var start = new ProcessStartInfo("node")
        {
            WorkingDirectory = directory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add("flex-client.js");
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        var process = Process.Start(start) ?? throw new InvalidOperationException("node did not start");
        var flex = new FlexProcess(process);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return flex;
    }

    public IReadOnlyList<JsonElement> Lines
    {
        get
        {
            lock (_output)
            {
                return [.. _lines];
            }
        }
    }

    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    public async Task WaitForLineAsync(Func<JsonElement, bool> predicate, TimeSpan timeout)
    {
        using var cancel = new CancellationTokenSource(timeout);
        while (!Lines.Any(predicate))
        {
            try
            {
                await _lineArrived.WaitAsync(TimeSpan.FromMilliseconds(100), cancel.Token);
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException($"flex-client printed no matching line within {timeout}:\n{Output}");
            }
            if (_process.HasExited && !Lines.Any(predicate))
            {
                throw new InvalidOperationException($"flex-client exited ({_process.ExitCode}):\n{Output}");
            }
        }
    }

    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        using var cancel = new CancellationTokenSource(timeout);
        await _process.WaitForExitAsync(cancel.Token);
        return _process.ExitCode;
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
        }
        _process.Dispose();
        _lineArrived.Dispose();
    }
}
