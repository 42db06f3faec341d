using System.Text;
using DotNet.Testcontainers.Builders;
using Sync.Pulsar.Admin;
using Sync.Testing.Docker;

namespace Sync.Pulsar.Tests.RealBroker;

/// <summary>The client against a real Apache Pulsar standalone in a container (Testcontainers):
/// the behaviours the fake broker models, checked against the real broker where Docker runs.
/// Skipped elsewhere with the reason printed; it has not run on a machine without Docker.</summary>
public sealed class RealPulsarTests
{
    private const string Image = "apachepulsar/pulsar:4.0.4";

    [DockerFact]
    public async Task Produce_consume_compaction_and_read_compacted_work_against_a_real_broker()
    {
        await using var container = new ContainerBuilder(Image)
            .WithCommand("bin/pulsar", "standalone", "--no-functions-worker", "--no-stream-storage")
            .WithPortBinding(6650, true)
            .WithPortBinding(8080, true)
            .WithWaitStrategy(Wait.ForUnixContainer().UntilHttpRequestIsSucceeded(r => r.ForPort(8080).ForPath("/admin/v2/clusters")))
            .Build();
        await container.StartAsync();
        var serviceUrl = new Uri($"pulsar://{container.Hostname}:{container.GetMappedPublicPort(6650)}");
        var adminUrl = new Uri($"http://{container.Hostname}:{container.GetMappedPublicPort(8080)}");
        const string topic = "persistent://public/default/real-compaction";

        await using var client = new PulsarClient(new PulsarClientOptions { ServiceUrl = serviceUrl });
        using var admin = new PulsarAdminClient(new PulsarAdminOptions { ServiceUrl = adminUrl });
        await using (var producer = await client.CreateProducerAsync(new ProducerOptions { Topic = topic }))
        {
            await producer.SendAsync(new OutgoingMessage { Key = "a", Data = "a1"u8.ToArray() });
            await producer.SendAsync(new OutgoingMessage { Key = "b", Data = "b1"u8.ToArray() });
            await producer.SendAsync(new OutgoingMessage { Key = "a", Data = "a2"u8.ToArray() });
            await producer.SendAsync(new OutgoingMessage { KeyBytes = "{\"id\":1}"u8.ToArray(), Data = "c1"u8.ToArray() });
            await producer.SendAsync(OutgoingMessage.Tombstone("b"));
        }

        await admin.CompactAndWaitAsync(topic, TimeSpan.FromMilliseconds(500));

        await using var reader = await client.SubscribeAsync(new ConsumerOptions
        {
            Topic = topic,
            SubscriptionName = "real-reader",
            InitialPosition = SubscriptionInitialPosition.Earliest,
            ReadCompacted = true,
        });
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var seen = new List<(string? Key, bool KeyIsBase64, string Data)>();
        await foreach (var message in reader.ReceiveAllAsync(timeout.Token))
        {
            seen.Add((message.Key, message.KeyIsBase64, Encoding.UTF8.GetString(message.Data.Span)));
            await reader.AcknowledgeAsync(message, timeout.Token);
            if (seen.Count == 2)
            {
                break;
            }
        }

        Assert.Equal([("a", false, "a2"), (Convert.ToBase64String("{\"id\":1}"u8), true, "c1")], seen);
    }
}
