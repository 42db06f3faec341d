namespace Sync.Pulsar.Tests.Client;

public class EndOfTopicAndFailoverTests : ClientTestBase
{
    private static string Text(PulsarMessage message) => Encoding.UTF8.GetString(message.Data.Span);

    [Fact]
    public async Task Terminated_topic_ends_the_stream_after_the_last_message()
    {
        await using var consumer = await ConsumerAsync();
        await using (var producer = await ProducerAsync())
        {
            await producer.SendAsync(new OutgoingMessage { Data = "last"u8.ToArray() });
        }

        Broker.Terminate(Topic);
        var last = (await ReceiveAsync(consumer, 1))[0];

        Assert.Equal("last", Text(last));
        await Assert.ThrowsAsync<TopicTerminatedException>(async () => await consumer.ReceiveAsync().AsTask().WaitAsync(Patience));
        Assert.True(consumer.HasReachedEndOfTopic);
    }

    [Fact]
    public async Task Sending_to_a_terminated_topic_fails_with_its_own_exception()
    {
        await using var producer = await ProducerAsync();
        Broker.Terminate(Topic);

        var error = await Assert.ThrowsAsync<TopicTerminatedException>(async () => await producer.SendAsync(new OutgoingMessage { Data = "late"u8.ToArray() }));

        Assert.Equal(ServerError.TopicTerminatedError, error.Error);
    }

    [Fact]
    public async Task Failover_standby_takes_over_the_unacknowledged_messages()
    {
        var active = await ConsumerAsync(type: SubscriptionType.Failover);
        await using var standby = await ConsumerAsync(type: SubscriptionType.Failover);
        await using (var producer = await ProducerAsync())
        {
            for (var i = 0; i < 4; i++)
            {
                await producer.SendAsync(new OutgoingMessage { Data = Encoding.UTF8.GetBytes($"m{i}") });
            }
        }
        var first = await ReceiveAsync(active, 4);
        Assert.Equal(0, standby.QueuedMessages);
        await active.AcknowledgeAsync(first[0].Id);
        await active.AcknowledgeAsync(first[1].Id);

        await active.DisposeAsync();
        var takenOver = await ReceiveAsync(standby, 2);

        Assert.Equal(["m2", "m3"], takenOver.Select(Text));
    }

    [Fact]
    public async Task A_hundred_thousand_batched_compressed_messages_arrive_byte_for_byte()
    {
        const int count = 100_000;
        await using var consumer = await ConsumerAsync(receiverQueueSize: 1000);
        await using var producer = await ProducerAsync(new ProducerOptions
        {
            Topic = Topic,
            BatchingEnabled = true,
            BatchingMaxMessages = 500,
            Compression = CompressionType.Lz4,
        });
        static byte[] Payload(int i) => Encoding.UTF8.GetBytes($"{{\"id\":{i},\"v\":\"{i * 7919 % 10007}\"}}");

        var sending = Task.Run(async () =>
        {
            var pending = new List<Task<MessageId>>(1000);
            for (var i = 0; i < count; i++)
            {
                pending.Add(producer.SendAsync(new OutgoingMessage { Key = $"k{i % 100}", Data = Payload(i) }).AsTask());
                if (pending.Count == 1000)
                {
                    // Await per block, as an application bounding its memory would.
                    await Task.WhenAll(pending);
                    pending.Clear();
                }
            }
            await Task.WhenAll(pending);
        });
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        var peakQueue = 0;
        for (var i = 0; i < count; i++)
        {
            peakQueue = Math.Max(peakQueue, consumer.QueuedMessages);
            var message = await consumer.ReceiveAsync(timeout.Token);
            Assert.True(message.Data.Span.SequenceEqual(Payload(i)), $"message {i} differs");
            if (i % 500 == 499)
            {
                await consumer.AcknowledgeCumulativeAsync(message.Id);
            }
        }
        await sending;

        // Batches leave when full or after 10 ms, so a slow moment makes smaller ones: count messages.
        var entries = Broker.FindTopic(Topic)!.Entries;
        Assert.Equal(count, entries.Sum(e => e.MessageCount));
        Assert.True(entries.Count < count / 10, $"{entries.Count} entries: batching did not happen");
        Assert.True(peakQueue <= 1000 + 500, $"queue peaked at {peakQueue}: above the queue size plus one batch");
    }
}
