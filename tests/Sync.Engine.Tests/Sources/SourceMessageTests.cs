namespace Sync.Engine.Tests.Sources;

/// <summary>A message holds the origin its changes carry instead of a copy of each part of it.</summary>
public class SourceMessageTests
{
    private static readonly Origin Received = new()
    {
        Topic = "persistent://public/default/orders",
        Position = new StreamPosition(7, 3, 1),
        Key = new MessageKey("eyJpZCI6MX0=", IsBase64: true),
        PublishTime = DateTimeOffset.FromUnixTimeMilliseconds(1_700_000_000_000),
        Properties = new Dictionary<string, string> { ["p"] = "1" },
    };

    [Fact]
    public void A_message_built_from_an_origin_reads_its_parts_from_it_and_hands_the_same_origin_on()
    {
        var message = new SourceMessage(Received) { Value = "{}"u8.ToArray() };

        Assert.Equal(Received.Topic, message.Topic);
        Assert.Equal(Received.Position, message.Position);
        Assert.Equal(Received.Key, message.Key);
        Assert.Equal(Received.PublishTime, message.PublishTime);
        Assert.Null(message.EventTime);
        Assert.Same(Received.Properties, message.Properties);
        Assert.Same(Received, message.ToOrigin());
    }

    [Fact]
    public void Changing_a_part_in_the_initialiser_leaves_the_given_origin_as_it_was()
    {
        var message = new SourceMessage(Received) { Topic = "persistent://public/default/other", Position = new StreamPosition(9, 0) };

        Assert.Equal("persistent://public/default/orders", Received.Topic);
        Assert.Equal(new StreamPosition(7, 3, 1), Received.Position);
        Assert.Equal(Received with { Topic = "persistent://public/default/other", Position = new StreamPosition(9, 0) }, message.ToOrigin());
    }

    [Fact]
    public void A_message_built_part_by_part_gives_an_origin_equal_to_its_parts()
    {
        var message = new SourceMessage { Topic = Received.Topic, Position = Received.Position, Key = Received.Key, PublishTime = Received.PublishTime, Properties = Received.Properties };

        Assert.Equal(Received, message.ToOrigin());
        Assert.Same(message.ToOrigin(), message.WithKeyValueEncoding(KeyValueEncoding.Separated).ToOrigin());
    }
}
