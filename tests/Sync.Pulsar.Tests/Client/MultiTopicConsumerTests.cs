namespace Sync.Pulsar.Tests.Client;

public class MultiTopicConsumerTests : ClientTestBase
{
    private readonly string _namespace = $"t{Guid.NewGuid():N}"[..12] + "/ns";

    private string Name(string topic) => $"persistent://{_namespace}/{topic}";

    private async Task ProduceAsync(string topic, string text)
    {
        await using var producer = await Client.CreateProducerAsync(new ProducerOptions { Topic = topic });
        await producer.SendAsync(new OutgoingMessage { Data = Encoding.UTF8.GetBytes(text) });
    }

    private async Task<MultiTopicConsumer> PatternAsync(string regex, TimeSpan? period = null) =>
        (MultiTopicConsumer)await Client.SubscribeAsync(new ConsumerOptions
        {
            Topic = $"persistent://{_namespace}/{regex}",
            TopicIsPattern = true,
            SubscriptionName = "pattern-sub",
            InitialPosition = SubscriptionInitialPosition.Earliest,
            PatternDiscoveryPeriod = period ?? TimeSpan.FromMinutes(10),
            AckReceiptEnabled = true,
        });

    [Fact]
    public async Task Pattern_consumes_every_matching_topic_and_nothing_else()
    {
        await ProduceAsync(Name("orders-eu"), "eu");
        await ProduceAsync(Name("orders-us"), "us");
        await ProduceAsync(Name("invoices"), "invoice");

        await using var consumer = await PatternAsync("orders-.*");
        var messages = await ReceiveAsync(consumer, 2);

        Assert.Equal([Name("orders-eu"), Name("orders-us")], consumer.Topics);
        Assert.Equal(["eu", "us"], messages.Select(m => Encoding.UTF8.GetString(m.Data.Span)).Order());
        await AssertOnlyMarkersComeNextAsync(consumer, [Name("orders-eu"), Name("orders-us")]);
    }

    [Fact]
    public async Task A_topic_created_later_is_picked_up_by_discovery()
    {
        await ProduceAsync(Name("orders-1"), "first");
        await using var consumer = await PatternAsync("orders-.*", TimeSpan.FromMilliseconds(50));
        Assert.Equal("first", Encoding.UTF8.GetString((await ReceiveAsync(consumer, 1))[0].Data.Span));

        await ProduceAsync(Name("orders-2"), "later");
        var later = (await ReceiveAsync(consumer, 1))[0];

        Assert.Equal("later", Encoding.UTF8.GetString(later.Data.Span));
        Assert.Equal(Name("orders-2"), later.Topic);
        Assert.Contains(Name("orders-2"), consumer.Topics);
    }

    [Fact]
    public async Task Unchanged_namespace_is_not_listed_again()
    {
        await ProduceAsync(Name("orders-1"), "x");
        await using var consumer = await PatternAsync("orders-.*");

        await consumer.DiscoverAsync();
        await consumer.DiscoverAsync();

        Assert.Equal(3, Broker.Received(BaseCommand.Types.Type.GetTopicsOfNamespace));
        Assert.Single(consumer.Topics);
    }

    [Fact]
    public async Task Partitioned_topics_are_consumed_under_their_base_name()
    {
        Broker.CreatePartitionedTopic(Name("orders-split"), 2);
        await using (var producer = await Client.CreateProducerAsync(new ProducerOptions { Topic = Name("orders-split") }))
        {
            await producer.SendAsync(new OutgoingMessage { Key = "a", Data = "a"u8.ToArray() });
            await producer.SendAsync(new OutgoingMessage { Key = "b", Data = "b"u8.ToArray() });
        }

        await using var consumer = await PatternAsync("orders-.*");
        var messages = await ReceiveAsync(consumer, 2);
        foreach (var message in messages)
        {
            await ((IPulsarConsumer)consumer).AcknowledgeAsync(message);
        }

        Assert.Equal([Name("orders-split")], consumer.Topics);
        Assert.Equal(2, messages.Select(m => m.Id.Partition).Count());
    }

    [Fact]
    public async Task Acknowledging_by_message_routes_to_the_right_topic()
    {
        await ProduceAsync(Name("orders-a"), "a");
        await ProduceAsync(Name("orders-b"), "b");
        await using var consumer = await PatternAsync("orders-.*");

        foreach (var message in await ReceiveAsync(consumer, 2))
        {
            await consumer.AcknowledgeAsync(message);
        }

        Assert.True(Broker.FindTopic(Name("orders-a"))!.FindSubscription("pattern-sub")!.IsAcknowledged(0));
        Assert.True(Broker.FindTopic(Name("orders-b"))!.FindSubscription("pattern-sub")!.IsAcknowledged(0));
        await Assert.ThrowsAsync<NotSupportedException>(async () => await consumer.AcknowledgeAsync(new MessageId(1, 0)));
    }

    [Fact]
    public void Topic_list_hash_is_crc32c_of_the_sorted_names_little_endian_hex()
    {
        // crc32c("123456789") = 0xE3069283; as little-endian bytes: 83 92 06 e3.
        Assert.Equal("839206e3", TopicListHash.Compute(["123456789"]));
        Assert.Equal(TopicListHash.Compute(["b", "a"]), TopicListHash.Compute(["a", "b"]));
    }

    [Theory]
    [InlineData("persistent://public/default/.*")]
    [InlineData("public/default/orders-[0-9]+")]
    public void Pattern_names_its_namespace(string pattern)
    {
        Assert.Equal("public/default", MultiTopicConsumer.Parse(pattern).Namespace);
    }

    [Fact]
    public void Pattern_with_a_regex_in_the_namespace_is_refused()
    {
        Assert.Throws<ArgumentException>(() => MultiTopicConsumer.Parse("persistent://public/.*/orders"));
    }

    [Fact]
    public async Task A_fixed_list_of_topics_across_namespaces_is_consumed_as_one()
    {
        var other = $"persistent://public/default/other-{Guid.NewGuid():N}";
        await ProduceAsync(Name("listed"), "one");
        await ProduceAsync(other, "two");
        await ProduceAsync(Name("not-listed"), "three");

        await using var consumer = await Client.SubscribeAsync(
            [Name("listed"), other],
            new ConsumerOptions { Topic = "ignored", SubscriptionName = "list-sub", InitialPosition = SubscriptionInitialPosition.Earliest, AckReceiptEnabled = true });
        var messages = await ReceiveAsync(consumer, 2);
        foreach (var message in messages)
        {
            await consumer.AcknowledgeAsync(message);
        }

        Assert.Equal(["one", "two"], messages.Select(m => Encoding.UTF8.GetString(m.Data.Span)).Order());
        Assert.True(Broker.FindTopic(other)!.FindSubscription("list-sub")!.IsAcknowledged(0));
        await AssertOnlyMarkersComeNextAsync(consumer, [Name("listed"), other]);
    }
}
