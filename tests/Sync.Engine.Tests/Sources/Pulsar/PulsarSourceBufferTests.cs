using Sync.Pulsar;
using Sync.Pulsar.Protocol;
using Sync.Pulsar.Protocol.Proto;
using Sync.Sources.Pulsar;
using Sync.Testing.Pulsar;

namespace Sync.Engine.Tests.Sources.Pulsar;

/// <summary>The reader gives each entry's buffer back to the pool once the batches holding its
/// messages are acknowledged, and not before. The pool poisons what comes back and hands it out
/// first, so a buffer returned too early shows as wrong bytes in a record still being applied.</summary>
public sealed class PulsarSourceBufferTests : PulsarSourceFixture
{
    private void PublishBatch(string topic, string prefix, int count)
    {
        var batch = BatchPayload.Encode(Enumerable.Range(0, count).Select(i => (new SingleMessageMetadata(), (ReadOnlyMemory<byte>)Encoding.UTF8.GetBytes($"{prefix}{i}"))));
        Broker.Publish(topic, new MessageMetadata { ProducerName = "p", SequenceId = 0, PublishTime = 1, NumMessagesInBatch = count }, batch);
    }

    private static string Text(SourceRecord record) => Encoding.UTF8.GetString(record.Message!.Value.Span);

    [Fact]
    public async Task A_batch_read_ahead_keeps_its_bytes_while_the_batch_before_it_is_acknowledged()
    {
        var topic = NewTopic("pooled");
        PublishBatch(topic, "a", 4);
        PublishBatch(topic, "b", 4);
        var pool = new PoisoningArrayPool();
        var options = (PulsarSourceOptions)Config($"topics: [{topic}]").Sources["broker"].Options;
        var request = new SourceReadRequest("pooled", _ => true, new Dictionary<string, StreamPosition>(), false) { Topics = [topic] };
        using var timeout = new CancellationTokenSource(Patience);
        await using var reader = new PulsarSourceReader("broker", options, request, entryBuffers: pool);

        // Six of the eight messages, then the rest: entry b is split between the two batches, as a
        // batch read ahead while the one before it is applied splits entries.
        var first = (await reader.ReadBatchAsync(6, Patience, timeout.Token))!;
        var second = (await reader.ReadBatchAsync(6, TimeSpan.Zero, timeout.Token))!;
        Assert.Equal(["a0", "a1", "a2", "a3", "b0", "b1"], first.Select(Text));
        Assert.Equal(["b2", "b3"], second.Select(Text));

        await reader.AcknowledgeOldestBatchAsync(timeout.Token);

        // Entry a is wholly acknowledged and back in the pool; b is not: b2 and b3 are still read.
        Assert.Single(pool.Returned);
        PublishBatch(topic, "c", 2);
        var third = (await reader.ReadBatchAsync(6, TimeSpan.Zero, timeout.Token))!;
        Assert.Equal(["c0", "c1"], third.Select(Text));
        Assert.Equal(["b2", "b3"], second.Select(Text));
        // The proof that the checks above could fail: entry c took a's buffer, so a's records read c's bytes now.
        Assert.NotEqual("a0", Text(first[0]));

        await reader.AcknowledgeOldestBatchAsync(timeout.Token);
        Assert.Equal(2, pool.Returned.Count);
        Assert.Equal(["c0", "c1"], third.Select(Text));
    }
}
