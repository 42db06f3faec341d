using Sync.Pulsar;
using Sync.Testing.Fixtures;
using Sync.Testing.Pulsar;

namespace Sync.Cli.Tests;

/// <summary>A fake broker in the test process, a producer client on it, and a workspace whose
/// config points the real CLI process at the broker.</summary>
public abstract class PulsarCliFixture : FakeBrokerTest
{
    protected Workspace Workspace { get; } = new();

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        Workspace.Dispose();
    }

    /// <summary>Writes <c>sync.yaml</c>: a pulsar source <c>broker</c>, a SQLite sink <c>local</c>
    /// (<c>users.db</c>) and the materializers given.</summary>
    protected string WriteConfig(string materializers) => Workspace.Write("sync.yaml", $"""
        sources:
          broker: {Broker.SourceYaml()}
        sinks:
          local: {"{"} type: sqlite, path: users.db {"}"}
        materializers:
        {materializers}
        """);

    protected string Database => Workspace.File("users.db");

    /// <summary>Publishes a Debezium change the way Pulsar IO's Debezium source writes it: the key
    /// as base64 of the JSON key bytes, the envelope without schema.</summary>
    protected static async Task<MessageId> PublishAsync(IPulsarProducer producer, string id, string op, string? name, long lsn)
    {
        var key = Encoding.UTF8.GetBytes($"{{\"id\":{id}}}");
        var after = op == "d" ? "null" : name is null ? "null" : $"{{\"id\":{id},\"name\":\"{name}\"}}";
        var value = string.Create(
            CultureInfo.InvariantCulture,
            $"{{\"before\":null,\"after\":{after},\"source\":{{\"connector\":\"postgresql\",\"db\":\"shop\",\"schema\":\"public\",\"table\":\"users\",\"lsn\":{lsn}}},\"op\":\"{op}\",\"ts_ms\":{1_700_000_000_000 + lsn}}}");
        return await producer.SendAsync(new OutgoingMessage
        {
            KeyBytes = key,
            Data = Encoding.UTF8.GetBytes(value),
            Properties = new Dictionary<string, string> { ["origin"] = "test" },
            EventTimeMs = (ulong)(1_700_000_000_000 + lsn),
        });
    }

    /// <summary>A config with two materializers on one SQLite sink: <c>users</c> follows a new Pulsar
    /// topic holding one create (and would run for ever), <c>orders</c> reads a changelog file that
    /// does not exist (a fatal error at start).</summary>
    protected async Task<(string Topic, string Config)> OneRunningAndOneFailingMaterializerAsync(string name)
    {
        var topic = NewTopic(name);
        await using var producer = await Client.CreateProducerAsync(new ProducerOptions { Topic = topic });
        await PublishAsync(producer, "1", "c", "a", 10);
        var config = Workspace.Write("sync.yaml", $"""
            sources:
              broker: {"{"} type: pulsar, serviceUrl: '{Broker.ServiceUrl}' {"}"}
              changelog: {"{"} type: file, path: data/none.jsonl {"}"}
            sinks:
              local: {"{"} type: sqlite, path: users.db {"}"}
            materializers:
              users: {"{"} source: broker, topics: ['{topic}'], sink: local, table: users, linger: 0ms {"}"}
              orders: {"{"} source: changelog, topics: [t], sink: local, table: orders {"}"}
            """);
        return (topic, config);
    }

    /// <summary>Starts <c>sync ARGS</c>, waits for <paramref name="until"/>, stops it with SIGTERM
    /// and returns what it printed.</summary>
    protected Task<ProcessResult> RunUntilAsync(Func<bool> until, params string[] args) => RunUntilAsync(_ => until(), args);

    /// <summary><see cref="RunUntilAsync(Func{bool}, string[])"/> with <c>--metrics-port 0</c>:
    /// <paramref name="until"/> is asked once the run named the port it serves on, and gets it.</summary>
    protected Task<ProcessResult> RunServingMetricsUntilAsync(Func<int, bool> until, params string[] args)
    {
        int? port = null;
        return RunUntilAsync(error => (port ??= ServedPort(error)) is { } served && until(served), [.. args, "--metrics-port", "0"]);
    }

    private static int? ServedPort(string error)
    {
        var match = System.Text.RegularExpressions.Regex.Match(error, @"serving /metrics, /healthz and /readyz on port (?<port>\d+)");
        return match.Success ? int.Parse(match.Groups["port"].Value, CultureInfo.InvariantCulture) : null;
    }

    /// <param name="until">Gets what the run wrote to standard error so far.</param>
    private async Task<ProcessResult> RunUntilAsync(Func<string, bool> until, string[] args)
    {
        using var process = SyncProcess.Start(Workspace.Directory, args);
        var output = process.StandardOutput.ReadToEndAsync();
        var error = new StringBuilder();
        var reading = Task.Run(async () =>
        {
            var buffer = new char[4096];
            while (await process.StandardError.ReadAsync(buffer) is > 0 and var read)
            {
                lock (error)
                {
                    error.Append(buffer, 0, read);
                }
            }
        });
        string ErrorSoFar()
        {
            lock (error)
            {
                return error.ToString();
            }
        }

        try
        {
            await Poll.UntilAsync(() => process.HasExited || until(ErrorSoFar()));
        }
        catch (TimeoutException)
        {
            process.Kill(entireProcessTree: true);
            await reading;
            throw new TimeoutException($"sync {string.Join(' ', args)} did not get there: {await output}{ErrorSoFar()}");
        }

        if (!process.HasExited)
        {
            await StopAsync(process);
        }

        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await process.WaitForExitAsync(timeout.Token);
        await reading;
        return new ProcessResult(process.ExitCode, await output, ErrorSoFar());
    }

    protected static async Task StopAsync(System.Diagnostics.Process process)
    {
        using var kill = System.Diagnostics.Process.Start("kill", ["-TERM", process.Id.ToString(CultureInfo.InvariantCulture)]);
        await kill!.WaitForExitAsync();
    }

    /// <summary>Whether the subscription has acknowledged every entry of the topic.</summary>
    protected bool AllAcknowledged(string topic, string subscription)
    {
        var fake = Broker.FindTopic(topic);
        var sub = fake?.FindSubscription(subscription);
        return fake is not null && sub is not null && fake.Entries.All(e => sub.IsAcknowledged(e.EntryId));
    }

    /// <summary>The messages stored on a topic, decoded.</summary>
    protected Task<IReadOnlyList<PulsarMessage>> ReadAllAsync(string topic) => ReadAllAsync(Client, topic);

    /// <summary>The messages stored on a topic, decoded, read through the given client.</summary>
    protected static async Task<IReadOnlyList<PulsarMessage>> ReadAllAsync(PulsarClient client, string topic)
    {
        await using var reader = (PulsarConsumer)await client.SubscribeAsync(new ConsumerOptions
        {
            Topic = topic,
            SubscriptionName = $"test-read-{Guid.NewGuid():N}",
            SubscriptionType = SubscriptionType.Exclusive,
            StartMessageId = MessageId.Earliest,
        });
        var last = await reader.GetLastMessageIdAsync();
        var messages = new List<PulsarMessage>();
        if ((long)last.EntryId < 0)
        {
            return messages;
        }

        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (messages.Count == 0 || messages[^1].Id.CompareTo(last) < 0)
        {
            messages.Add(await reader.ReceiveAsync(timeout.Token));
        }

        return messages;
    }
}
