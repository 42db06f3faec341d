using Sync.Sources.Pulsar;
using Sync.Pulsar;

namespace Sync.Engine.Tests.Sources.Pulsar;

/// <summary>The sink's checkpoint is the truth: a subscription that acknowledged past it is moved
/// back, one behind it is left alone (the reader skips what the sink holds).</summary>
public sealed class CheckpointRewindTests : PulsarSourceFixture
{
    private static StreamPosition At(MessageId id) => new((long)id.LedgerId, (long)id.EntryId, id.BatchIndex);

    private async Task<List<MessageId>> PublishFiveAsync(string topic)
    {
        await using var producer = await ProducerAsync(topic);
        var ids = new List<MessageId>();
        for (var i = 1; i <= 5; i++)
        {
            ids.Add(await PublishAsync(producer, i, "c", $"n{i}", i));
        }

        return ids;
    }

    private static async Task<List<StreamPosition>> ReadAsync(PulsarSourceReader reader, int count, CancellationToken cancellationToken)
    {
        var read = new List<StreamPosition>();
        while (read.Count < count)
        {
            read.AddRange((await reader.ReadBatchAsync(10, TimeSpan.FromMilliseconds(20), cancellationToken))!.Select(r => r.Message!.Position));
        }

        return read;
    }

    private async Task ConsumeAndAcknowledgeAllAsync(string topic, int count, CancellationToken cancellationToken)
    {
        await using var reader = Reader(topic);
        await ReadAsync(reader, count, cancellationToken);
        await reader.AcknowledgeAsync(cancellationToken);
    }

    [Fact]
    public async Task A_subscription_that_acknowledged_past_the_sink_checkpoint_is_rewound_to_it()
    {
        var topic = NewTopic("rewind");
        var ids = await PublishFiveAsync(topic);
        using var timeout = new CancellationTokenSource(Patience);
        await ConsumeAndAcknowledgeAllAsync(topic, 5, timeout.Token);

        // The sink was restored from a backup taken after the second message.
        await using var reader = Reader(topic, new Dictionary<string, StreamPosition> { [topic] = At(ids[1]) });
        var read = await ReadAsync(reader, 3, timeout.Token);

        Assert.Equal(ids.Skip(2).Select(At), read);
        Assert.Equal([topic], reader.Rewound);
        Assert.Equal(1, Broker.CursorResets);
    }

    [Fact]
    public async Task A_subscription_behind_the_sink_checkpoint_is_not_rewound()
    {
        var topic = NewTopic("behind");
        var ids = await PublishFiveAsync(topic);
        using var timeout = new CancellationTokenSource(Patience);

        // The sink committed four messages, then the process died before acknowledging them.
        await using var reader = Reader(topic, new Dictionary<string, StreamPosition> { [topic] = At(ids[3]) });
        var read = await ReadAsync(reader, 1, timeout.Token);

        Assert.Equal([At(ids[4])], read);
        Assert.Empty(reader.Rewound);
        Assert.Equal(0, Broker.CursorResets);
        Assert.Equal(4, reader.Skipped);
    }

    [Fact]
    public async Task Without_an_admin_url_the_subscription_position_is_kept()
    {
        var topic = NewTopic("no-admin");
        var ids = await PublishFiveAsync(topic);
        using var timeout = new CancellationTokenSource(Patience);
        await ConsumeAndAcknowledgeAllAsync(topic, 5, timeout.Token);

        await using var reader = Reader(topic, new Dictionary<string, StreamPosition> { [topic] = At(ids[1]) }, adjust: options => options.AdminUrl = null);

        // Nothing of the five comes again: the first read waits, and returns the next message published.
        var waiting = reader.ReadBatchAsync(10, TimeSpan.Zero, timeout.Token).AsTask();
        MessageId sixth;
        await using (var producer = await ProducerAsync(topic))
        {
            sixth = await PublishAsync(producer, 6, "c", "n6", 6);
        }

        Assert.Equal([At(sixth)], (await waiting)!.Select(r => r.Message!.Position));
        Assert.Empty(reader.Rewound);
        Assert.Equal(0, Broker.CursorResets);
    }
}
