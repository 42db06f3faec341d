using System.Text;
using Xunit;

namespace Sync.Pulsar.Tests.Client;

public class KeySharedTests : ClientTestBase
{
    [Fact]
    public async Task Each_key_goes_to_one_of_three_consumers_in_order()
    {
        var consumers = new List<PulsarConsumer>();
        for (var i = 0; i < 3; i++)
        {
            consumers.Add(await ConsumerAsync(type: SubscriptionType.KeyShared));
        }
        await using (var producer = await ProducerAsync())
        {
            await Task.WhenAll(Enumerable.Range(0, 300).Select(i =>
                producer.SendAsync(new OutgoingMessage { Key = $"key-{i % 12}", Data = Encoding.UTF8.GetBytes($"{i}") }).AsTask()));
        }

        var perConsumer = consumers.Select(_ => new List<(int Consumer, string Key, int Sequence)>()).ToArray();
        using var timeout = new CancellationTokenSource(Patience);
        var total = 0;
        await Task.WhenAll(consumers.Select((consumer, index) => Task.Run(async () =>
        {
            while (Volatile.Read(ref total) < 300)
            {
                using var poll = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token);
                poll.CancelAfter(TimeSpan.FromMilliseconds(200));
                try
                {
                    var message = await consumer.ReceiveAsync(poll.Token);
                    perConsumer[index].Add((index, message.Key!, int.Parse(Encoding.UTF8.GetString(message.Data.Span), System.Globalization.CultureInfo.InvariantCulture)));
                    Interlocked.Increment(ref total);
                }
                catch (OperationCanceledException) when (!timeout.IsCancellationRequested)
                {
                }
            }
        })));
        var seen = perConsumer.SelectMany(list => list).ToList();

        Assert.Equal(300, seen.Count);
        foreach (var key in seen.GroupBy(s => s.Key))
        {
            Assert.Single(key.Select(s => s.Consumer).Distinct());
        }
        foreach (var consumer in seen.GroupBy(s => s.Consumer))
        {
            // Within one consumer, the messages of each key keep the produced order.
            foreach (var key in consumer.GroupBy(s => s.Key))
            {
                var order = key.Select(s => s.Sequence).ToList();
                Assert.Equal(order.Order(), order);
            }
        }
        Assert.True(seen.Select(s => s.Consumer).Distinct().Count() > 1, "keys should spread over more than one consumer");
        foreach (var consumer in consumers)
        {
            await consumer.DisposeAsync();
        }
    }
}
