namespace Sync.Pulsar.Tests.Client;

/// <summary>
/// A producer name belongs to one connected producer of a topic: apache/pulsar
/// AbstractTopic.internalAddProducer / tryOverwriteOldProducer refuse a second producer of the same
/// name while the first one's connection lives (NamingException, answered as ProducerBusy), and take
/// it once the first has gone.
/// </summary>
public sealed class ProducerNameTests : ClientTestBase
{
    [Fact]
    public async Task A_second_producer_with_the_name_of_a_connected_one_is_refused_as_busy_until_the_first_closes()
    {
        await using var other = new PulsarClient(ClientOptions(Broker.ServiceUrl));
        var first = await ProducerAsync(new ProducerOptions { Topic = Topic, ProducerName = "tombstones" });

        var refused = await Assert.ThrowsAsync<ProducerBusyException>(async () =>
            await other.CreateProducerAsync(new ProducerOptions { Topic = Topic, ProducerName = "tombstones" }));
        await first.DisposeAsync();
        await using var second = await other.CreateProducerAsync(new ProducerOptions { Topic = Topic, ProducerName = "tombstones" });

        Assert.Contains("'tombstones' is already connected", refused.Message, StringComparison.Ordinal);
        Assert.Equal(PulsarObjectState.Connected, second.State);
    }
}
