using Sync.Pulsar.Admin;

namespace Sync.Pulsar.Tests.Client;

/// <summary>Reading a subscription's mark-delete position and resetting its cursor through the admin API.</summary>
public class CursorAdminTests : AdminClientTestBase
{
    [Fact]
    public async Task The_mark_delete_position_follows_cumulative_acknowledgements()
    {
        var ids = await ProduceNumberedAsync(4);
        await using var consumer = await ConsumerAsync(ackReceipts: true);
        var before = await Admin.GetMarkDeletePositionAsync(Topic, "sub");
        var messages = await ReceiveAsync(consumer, 4);
        await consumer.AcknowledgeCumulativeAsync(messages[2].Id);

        var after = await Admin.GetMarkDeletePositionAsync(Topic, "sub");

        Assert.Equal(-1L, (long)before!.Value.EntryId);
        Assert.Equal((ids[2].LedgerId, ids[2].EntryId), (after!.Value.LedgerId, after.Value.EntryId));
    }

    [Fact]
    public async Task An_unknown_subscription_or_topic_has_no_mark_delete_position()
    {
        await ProduceNumberedAsync(1);

        Assert.Null(await Admin.GetMarkDeletePositionAsync(Topic, "nobody"));
        Assert.Null(await Admin.GetMarkDeletePositionAsync($"{Topic}-missing", "sub"));
    }

    [Fact]
    public async Task Resetting_the_cursor_delivers_from_the_given_message_and_disconnects_consumers()
    {
        var ids = await ProduceNumberedAsync(5);
        await using var consumer = await ConsumerAsync(ackReceipts: true);
        foreach (var message in await ReceiveAsync(consumer, 5))
        {
            await consumer.AcknowledgeAsync(message.Id);
        }

        await Admin.ResetCursorAsync(Topic, "sub", ids[1]);

        // The broker closes the consumer; it resubscribes and receives from the reset position on.
        var again = await ReceiveAsync(consumer, 4);
        Assert.Equal(["m1", "m2", "m3", "m4"], again.Select(m => Encoding.UTF8.GetString(m.Data.Span)));
        Assert.Equal(1, Broker.CursorResets);
    }

    [Fact]
    public async Task Resetting_the_cursor_of_an_unknown_subscription_fails_with_the_brokers_reason()
    {
        var ids = await ProduceNumberedAsync(1);

        var failure = await Assert.ThrowsAsync<PulsarAdminException>(() => Admin.ResetCursorAsync(Topic, "nobody", ids[0]));

        Assert.Contains("Subscription not found", failure.Message, StringComparison.Ordinal);
    }
}
