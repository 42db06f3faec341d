using Sync.Sources.Pulsar;
using Sync.Pulsar;
using Sync.Pulsar.Protocol.Proto;

namespace Sync.Engine.Tests.Sources.Pulsar;

/// <summary>
/// An entry that reaches the consumer corrupt (here: a payload byte changed under its CRC-32C)
/// is not dropped quietly, as a client that only acks it with a validation error would: the
/// materializer dead-letters it with the reason and its raw bytes, and goes on.
/// </summary>
public sealed class CorruptEntryTests : PulsarSourceFixture
{
    private static StreamPosition At(MessageId id) => new((long)id.LedgerId, (long)id.EntryId, id.BatchIndex);

    [Fact]
    public async Task A_corrupt_entry_becomes_a_dead_letter_naming_the_checksum_mismatch_and_the_next_ones_are_applied()
    {
        var topic = NewTopic("corrupt");
        MessageId last;
        await using (var producer = await ProducerAsync(topic))
        {
            await PublishAsync(producer, 1, "c", "damaged in transit", 10);
            await PublishAsync(producer, 2, "c", "bob", 11);
            last = await PublishAsync(producer, 3, "c", "cy", 12);
        }
        Broker.Faults.RewriteNextDeliveries(1, bytes =>
        {
            var corrupt = (byte[])bytes.Clone();
            corrupt[^3] ^= 0x20;
            return corrupt;
        });

        var outcome = await RunUntilAsync(Config($"topics: [{topic}]"), () => Sink.Checkpoint("users").GetValueOrDefault(topic) == At(last));

        Assert.Null(outcome.Failure);
        Assert.Equal(1, outcome.Counters.DeadLettered);
        Assert.Equal(2, Sink.Rows("users").Count);
        var letter = Assert.Single(Broker.FindTopic(topic + PulsarDeadLetterTopic.Suffix)!.Entries);
        var reason = letter.Metadata.Properties.Single(p => p.Key == PulsarDeadLetterTopic.Properties.Reason).Value;
        Assert.Contains("corrupt message from the broker: checksum mismatch: the frame announces CRC-32C 0x", reason, StringComparison.Ordinal);
        Assert.Contains("damaged in transit", Encoding.UTF8.GetString(letter.MessageBytes), StringComparison.Ordinal);
        Assert.Equal(0, Broker.ValidationAcks(CommandAck.Types.ValidationError.ChecksumMismatch));
        Assert.True(Broker.FindTopic(topic)!.FindSubscription("sync-users")!.IsAcknowledged(0), "the corrupt entry was acknowledged once its dead letter was written");
    }
}
