namespace Sync.Pulsar.Tests.Client;

/// <summary>Readers: non-durable subscriptions from a start position.</summary>
public class ReaderTests : ClientTestBase
{
    private async Task<IPulsarConsumer> ReaderAsync(MessageId start, string name = "reader") =>
        await Client.SubscribeAsync(new ConsumerOptions { Topic = Topic, SubscriptionName = name, StartMessageId = start });

    private static string Text(PulsarMessage message) => Encoding.UTF8.GetString(message.Data.Span);

    [Fact]
    public async Task Reader_from_earliest_sees_every_message()
    {
        await ProduceNumberedAsync(5);

        await using var reader = await ReaderAsync(MessageId.Earliest);

        Assert.Equal(["m0", "m1", "m2", "m3", "m4"], (await ReceiveAsync(reader, 5)).Select(Text));
    }

    [Fact]
    public async Task Reader_from_a_position_starts_after_it()
    {
        var ids = await ProduceNumberedAsync(5);

        await using var reader = await ReaderAsync(ids[1]);

        Assert.Equal(["m2", "m3", "m4"], (await ReceiveAsync(reader, 3)).Select(Text));
        await AssertOnlyAMarkerComesNextAsync(reader);
    }

    [Fact]
    public async Task Reader_from_latest_sees_only_new_messages()
    {
        await ProduceNumberedAsync(3);
        await using var reader = await ReaderAsync(MessageId.Latest);

        await ProduceNumberedAsync(1);

        Assert.Equal(["m0"], (await ReceiveAsync(reader, 1)).Select(Text));
    }

    [Fact]
    public async Task Reader_leaves_no_subscription_behind()
    {
        await ProduceNumberedAsync(1);
        await using (var reader = await ReaderAsync(MessageId.Earliest, "temporary"))
        {
            await ReceiveAsync(reader, 1);
            Assert.NotNull(Broker.FindTopic(Topic)!.FindSubscription("temporary"));
        }

        Assert.Null(Broker.FindTopic(Topic)!.FindSubscription("temporary"));
    }

    [Fact]
    public async Task Reader_resumes_after_the_last_received_message_when_reconnected()
    {
        await ProduceNumberedAsync(6);
        await using var reader = await ReaderAsync(MessageId.Earliest);
        var first = await ReceiveAsync(reader, 3);

        Broker.DropAllConnections();
        var rest = await ReceiveAsync(reader, 3);

        Assert.Equal(["m0", "m1", "m2"], first.Select(Text));
        Assert.Equal(["m3", "m4", "m5"], rest.Select(Text));
        await AssertOnlyAMarkerComesNextAsync(reader);
    }

    [Fact]
    public async Task Reader_on_a_shared_subscription_is_refused()
    {
        var error = await Assert.ThrowsAsync<ArgumentException>(() => Client.SubscribeAsync(new ConsumerOptions
        {
            Topic = Topic,
            SubscriptionName = "r",
            SubscriptionType = SubscriptionType.Shared,
            StartMessageId = MessageId.Earliest,
        }));

        Assert.Contains("needs an Exclusive subscription", error.Message, StringComparison.Ordinal);
    }
}
