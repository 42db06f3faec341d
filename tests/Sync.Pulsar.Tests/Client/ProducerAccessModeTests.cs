using Sync.Pulsar.Internal;
using Sync.Pulsar.Protocol.Proto;
using Xunit;
using AccessMode = Sync.Pulsar.Protocol.Proto.CommandProducer.Types.ProducerAccessMode;

namespace Sync.Pulsar.Tests.Client;

/// <summary>
/// PRODUCER with producer_access_mode, as the Java client sends it (our client always asks for
/// Shared). The broker (apache/pulsar AbstractTopic.incrementTopicEpochIfNeeded and
/// handleProducerRemoved) fences a second Exclusive producer, refuses a Shared one next to an
/// exclusive one as busy, queues WaitForExclusive (answered producer_ready=false, then ready with
/// the next topic epoch when the topic is free), and fences a producer whose epoch is behind.
/// </summary>
public sealed class ProducerAccessModeTests : ClientTestBase
{
    private PulsarConnection _connection = null!;

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        _connection = await Client.GetConnectionAsync(Broker.ServiceUrl, null, CancellationToken.None);
    }

    private async Task<CommandProducerSuccess> OpenAsync(ulong producerId, AccessMode mode, ulong? epoch = null)
    {
        var requestId = _connection.NextRequestId();
        var request = new CommandProducer { Topic = Topic, ProducerId = producerId, RequestId = requestId, ProducerAccessMode = mode, UserProvidedProducerName = false };
        if (epoch is { } topicEpoch)
        {
            request.TopicEpoch = topicEpoch;
        }

        var answer = await _connection.RequestAsync(new BaseCommand { Type = BaseCommand.Types.Type.Producer, Producer = request }, requestId, "PRODUCER", CancellationToken.None);
        return answer.ProducerSuccess;
    }

    private async Task CloseAsync(ulong producerId)
    {
        var requestId = _connection.NextRequestId();
        await _connection.RequestAsync(
            new BaseCommand { Type = BaseCommand.Types.Type.CloseProducer, CloseProducer = new CommandCloseProducer { ProducerId = producerId, RequestId = requestId } },
            requestId,
            "CLOSE_PRODUCER",
            CancellationToken.None);
    }

    [Fact]
    public async Task An_exclusive_producer_fences_a_second_exclusive_one_and_makes_a_shared_one_busy()
    {
        var first = await OpenAsync(1, AccessMode.Exclusive);

        var fenced = await Assert.ThrowsAsync<ProducerFencedException>(() => OpenAsync(2, AccessMode.Exclusive));
        var busy = await Assert.ThrowsAsync<ProducerBusyException>(() => OpenAsync(3, AccessMode.Shared));

        Assert.Equal(0ul, first.TopicEpoch);
        Assert.Contains("existing exclusive producer", fenced.Message, StringComparison.Ordinal);
        Assert.Contains("existing exclusive producer", busy.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_exclusive_producer_is_fenced_while_a_shared_one_is_connected()
    {
        await OpenAsync(1, AccessMode.Shared);

        var fenced = await Assert.ThrowsAsync<ProducerFencedException>(() => OpenAsync(2, AccessMode.Exclusive));

        Assert.Contains("existing shared producers", fenced.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_waiting_producer_gets_the_topic_with_the_next_epoch_when_the_exclusive_one_closes()
    {
        var first = await OpenAsync(1, AccessMode.Exclusive);
        var waiting = OpenAsync(2, AccessMode.WaitForExclusive);
        await EventuallyQueuedAsync();

        await CloseAsync(1);
        var second = await waiting.WaitAsync(Patience);

        Assert.Equal(0ul, first.TopicEpoch);
        Assert.True(second.ProducerReady);
        Assert.Equal(1ul, second.TopicEpoch);
    }

    [Fact]
    public async Task A_producer_coming_back_with_an_epoch_the_topic_has_moved_past_is_fenced()
    {
        var first = await OpenAsync(1, AccessMode.Exclusive);
        await CloseAsync(1);
        await OpenAsync(2, AccessMode.Exclusive);
        await CloseAsync(2);

        var fenced = await Assert.ThrowsAsync<ProducerFencedException>(() => OpenAsync(3, AccessMode.Exclusive, first.TopicEpoch));

        Assert.Contains("Topic epoch has already moved", fenced.Message, StringComparison.Ordinal);
    }

    /// <summary>The queued producer's not-ready answer is not a response the client waits for, so
    /// the test waits for the broker to hold it in its queue before freeing the topic.</summary>
    private async Task EventuallyQueuedAsync()
    {
        var deadline = DateTime.UtcNow + Patience;
        while (Broker.FindTopic(Topic)?.WaitingExclusiveCount is not 1)
        {
            Assert.True(DateTime.UtcNow < deadline, "the WaitForExclusive producer was not queued");
            await Task.Delay(10);
        }
    }
}
