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

public class KeySharedHashRangeTests : ClientTestBase
{
    private async Task<PulsarConsumer> KeySharedAsync(string name, KeySharedPolicy? policy = null) =>
        (PulsarConsumer)await Client.SubscribeAsync(new ConsumerOptions
        {
            Topic = Topic,
            SubscriptionName = "ks",
            SubscriptionType = SubscriptionType.KeyShared,
            InitialPosition = SubscriptionInitialPosition.Earliest,
            ConsumerName = name,
            KeyShared = policy,
        });

    private static int Slot(string key) => KeyHashing.StickyKeyHash(Encoding.UTF8.GetBytes(key));

    private static bool Owns(IReadOnlyList<HashRange> ranges, int slot) => ranges.Any(r => slot >= r.Start && slot <= r.End);

    private async Task ProduceKeysAsync(IEnumerable<string> keys)
    {
        await using var producer = await ProducerAsync();
        foreach (var key in keys)
        {
            await producer.SendAsync(new OutgoingMessage { Key = key, Data = Encoding.UTF8.GetBytes(key) });
        }
    }

    /// <summary>Receives until <paramref name="total"/> messages arrived over all consumers; returns key -> consumer names that got it.</summary>
    private static async Task<Dictionary<string, HashSet<string>>> CollectAsync(IReadOnlyList<PulsarConsumer> consumers, int total)
    {
        var owners = new Dictionary<string, HashSet<string>>(StringComparer.Ordinal);
        var received = 0;
        using var timeout = new CancellationTokenSource(Patience);
        while (received < total)
        {
            foreach (var consumer in consumers)
            {
                while (consumer.QueuedMessages > 0 && received < total)
                {
                    var message = await consumer.ReceiveAsync(timeout.Token);
                    await consumer.AcknowledgeAsync(message.Id, timeout.Token);
                    (owners.TryGetValue(message.Key!, out var set) ? set : owners[message.Key!] = []).Add(consumer.ConsumerName);
                    received++;
                }
            }
            await Task.Delay(5, timeout.Token);
        }
        return owners;
    }

    [Fact]
    public async Task Auto_split_halves_the_hash_space_and_sends_each_key_to_the_owner_of_its_slot()
    {
        await using var first = await KeySharedAsync("first");
        await using var second = await KeySharedAsync("second");
        var keys = Enumerable.Range(0, 40).Select(i => $"customer-{i}").ToList();

        await ProduceKeysAsync(keys);
        var owners = await CollectAsync([first, second], keys.Count);

        var ranges = Broker.FindTopic(Topic)!.FindSubscription("ks")!.KeySharedRanges;
        // The newcomer takes the lower half of the largest range (HashRangeAutoSplitStickyKeyConsumerSelector).
        Assert.Equal([new HashRange(0, 32768)], ranges["second"]);
        Assert.Equal([new HashRange(32769, 65536)], ranges["first"]);
        foreach (var key in keys)
        {
            Assert.Equal(Slot(key) <= 32768 ? "second" : "first", Assert.Single(owners[key]));
        }
    }

    [Fact]
    public async Task When_a_consumer_leaves_only_its_keys_move()
    {
        var consumers = new List<PulsarConsumer> { await KeySharedAsync("a"), await KeySharedAsync("b"), await KeySharedAsync("c") };
        var keys = Enumerable.Range(0, 60).Select(i => $"order-{i}").ToList();
        await ProduceKeysAsync(keys);
        var before = await CollectAsync(consumers, keys.Count);

        var leaving = consumers[1];
        consumers.Remove(leaving);
        await leaving.DisposeAsync();
        await ProduceKeysAsync(keys);
        var after = await CollectAsync(consumers, keys.Count);

        foreach (var key in keys)
        {
            var was = Assert.Single(before[key]);
            var now = Assert.Single(after[key]);
            if (was != "b")
            {
                Assert.Equal(was, now);
            }
            else
            {
                Assert.NotEqual("b", now);
            }
        }
        Assert.Contains(keys, key => before[key].Contains("b"));
        foreach (var consumer in consumers)
        {
            await consumer.DisposeAsync();
        }
    }

    [Fact]
    public async Task Sticky_consumers_receive_exactly_the_keys_of_their_ranges()
    {
        await using var low = await KeySharedAsync("low", KeySharedPolicy.Sticky(new HashRange(0, 32767)));
        await using var high = await KeySharedAsync("high", KeySharedPolicy.Sticky(new HashRange(32768, 65535)));
        var keys = Enumerable.Range(0, 40).Select(i => $"k{i}").ToList();

        await ProduceKeysAsync(keys);
        var owners = await CollectAsync([low, high], keys.Count);

        foreach (var key in keys)
        {
            Assert.Equal(Slot(key) <= 32767 ? "low" : "high", Assert.Single(owners[key]));
        }
        Assert.True(Owns(Broker.FindTopic(Topic)!.FindSubscription("ks")!.KeySharedRanges["low"], 100));
    }

    [Fact]
    public async Task A_key_nobody_owns_waits_while_the_other_keys_flow()
    {
        var keys = Enumerable.Range(0, 40).Select(i => $"k{i}").ToList();
        var lowKeys = keys.Where(k => Slot(k) <= 32767).ToList();
        await using var low = await KeySharedAsync("low", KeySharedPolicy.Sticky(new HashRange(0, 32767)));

        await ProduceKeysAsync(keys);
        var owners = await CollectAsync([low], lowKeys.Count);
        await AssertOnlyAMarkerComesNextAsync(low, key: lowKeys[0]);
        await using var high = await KeySharedAsync("high", KeySharedPolicy.Sticky(new HashRange(32768, 65535)));
        var late = await CollectAsync([high], keys.Count - lowKeys.Count);

        Assert.Equal(lowKeys.Order(), owners.Keys.Order());
        Assert.Equal(keys.Except(lowKeys).Order(), late.Keys.Order());
    }

    [Fact]
    public async Task Overlapping_sticky_ranges_are_refused_by_the_broker()
    {
        await using var first = await KeySharedAsync("first", KeySharedPolicy.Sticky(new HashRange(0, 1000)));

        var refused = await Assert.ThrowsAsync<ConsumerAssignException>(() => KeySharedAsync("second", KeySharedPolicy.Sticky(new HashRange(1000, 2000))));

        Assert.Contains("first", refused.ServerMessage, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_consumer_of_the_other_key_shared_mode_is_refused_as_busy()
    {
        await using var sticky = await KeySharedAsync("sticky", KeySharedPolicy.Sticky(new HashRange(0, 65535)));

        await Assert.ThrowsAsync<ConsumerBusyException>(() => KeySharedAsync("auto"));
    }

    [Fact]
    public void Overlapping_own_ranges_are_refused_before_anything_is_sent()
    {
        var options = new ConsumerOptions
        {
            Topic = Topic,
            SubscriptionName = "ks",
            SubscriptionType = SubscriptionType.KeyShared,
            KeyShared = KeySharedPolicy.Sticky(new HashRange(0, 10), new HashRange(5, 20)),
        };

        var error = Assert.Throws<ArgumentException>(options.Validate);

        Assert.Contains("[0, 10] and [5, 20]", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("hello", 0xFA47)] // Murmur3_32("hello") = 0x248bfa47, a reference vector: its low 16 bits
    [InlineData("", 1)] // Murmur3_32("") = 0: slot 0 moves to 1, as the broker does
    public void The_sticky_slot_of_a_key_is_murmur3_modulo_65536(string key, int slot) =>
        Assert.Equal(slot, KeyHashing.StickyKeyHash(Encoding.UTF8.GetBytes(key)));
}
