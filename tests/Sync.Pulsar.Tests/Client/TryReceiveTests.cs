namespace Sync.Pulsar.Tests.Client;

public class TryReceiveTests : ClientTestBase
{
    [Fact]
    public async Task TryReceive_takes_queued_messages_in_order_and_then_reports_none()
    {
        await using var consumer = await ConsumerAsync();
        await using (var producer = await ProducerAsync())
        {
            for (var i = 0; i < 5; i++)
            {
                await producer.SendAsync(new OutgoingMessage { Data = Encoding.UTF8.GetBytes($"m{i}") });
            }
        }

        await EventuallyAsync(() => consumer.QueuedMessages == 5, "five messages queued");
        var taken = new List<string>();
        while (consumer.TryReceive(out var message))
        {
            taken.Add(Encoding.UTF8.GetString(message.Data.Span));
        }

        Assert.Equal(["m0", "m1", "m2", "m3", "m4"], taken);
        Assert.Equal(0, consumer.QueuedMessages);
    }

    [Fact]
    public async Task TryReceive_on_an_empty_queue_returns_false_without_waiting()
    {
        await using var consumer = await ConsumerAsync();

        Assert.False(consumer.TryReceive(out var message));
        Assert.Null(message);
    }

    [Fact]
    public async Task Messages_taken_by_TryReceive_are_acknowledged_like_received_ones()
    {
        await using (var producer = await ProducerAsync())
        {
            await producer.SendAsync(new OutgoingMessage { Data = "a"u8.ToArray() });
            await producer.SendAsync(new OutgoingMessage { Data = "b"u8.ToArray() });
        }

        await using (var consumer = await ConsumerAsync(ackReceipts: true))
        {
            await EventuallyAsync(() => consumer.QueuedMessages == 2, "two messages queued");
            Assert.True(consumer.TryReceive(out var first));
            await consumer.AcknowledgeAsync(first.Id);
        }

        await using var again = await ConsumerAsync();
        var redelivered = await ReceiveAsync(again, 1);
        Assert.Equal("b", Encoding.UTF8.GetString(redelivered[0].Data.Span));
        await AssertOnlyAMarkerComesNextAsync(again);
    }
}
