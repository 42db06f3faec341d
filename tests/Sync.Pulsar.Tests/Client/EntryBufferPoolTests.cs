namespace Sync.Pulsar.Tests.Client;

/// <summary>Entries read into pooled buffers (<see cref="PulsarClientOptions.EntryBufferPool"/>): an
/// entry's buffer goes back only when every message delivered from it was released. The pool poisons
/// what comes back and hands it out first, so a buffer returned too early shows as wrong bytes.</summary>
public class EntryBufferPoolTests : ClientTestBase
{
    private readonly PoisoningArrayPool _pool = new();

    protected override PulsarClientOptions ClientOptions(Uri serviceUrl) => base.ClientOptions(serviceUrl) with { EntryBufferPool = _pool };

    private MessageId PublishBatch(string prefix, int count, CompressionType compression = CompressionType.None)
    {
        var batch = BatchPayload.Encode(Enumerable.Range(0, count).Select(i => (new SingleMessageMetadata(), (ReadOnlyMemory<byte>)Encoding.UTF8.GetBytes($"{prefix}{i}"))));
        var metadata = new MessageMetadata { ProducerName = "p", SequenceId = 0, PublishTime = 1, NumMessagesInBatch = count };
        if (compression != CompressionType.None)
        {
            metadata.Compression = compression;
            metadata.UncompressedSize = (uint)batch.Length;
            return Broker.Publish(Topic, metadata, PayloadCompression.Compress(compression, batch));
        }

        return Broker.Publish(Topic, metadata, batch);
    }

    private static string Text(PulsarMessage message) => Encoding.UTF8.GetString(message.Data.Span);

    [Fact]
    public async Task An_entry_keeps_its_bytes_until_every_message_delivered_from_it_is_released()
    {
        PublishBatch("a", 3);
        PublishBatch("b", 3);
        await using var consumer = await ConsumerAsync();
        var received = await ReceiveAsync(consumer, 6);
        var (a, b) = (received.GetRange(0, 3), received.GetRange(3, 3));
        Assert.Equal(["a0", "a1", "a2", "b0", "b1", "b2"], received.Select(Text));

        a[0].ReleaseBuffer();
        a[1].ReleaseBuffer();
        a[1].ReleaseBuffer(); // twice counts once
        Assert.Empty(_pool.Returned);

        // A new entry now takes a buffer from the pool: it must not be the one a[2] still reads.
        PublishBatch("c", 3);
        var c = await ReceiveAsync(consumer, 3);
        Assert.Equal(["c0", "c1", "c2"], c.Select(Text));
        Assert.Equal("a2", Text(a[2]));
        Assert.Equal(["b0", "b1", "b2"], b.Select(Text));

        a[2].ReleaseBuffer();
        var returned = Assert.Single(_pool.Returned);
        // The proof that the checks above could fail: a released message's bytes are gone.
        Assert.True(System.Runtime.InteropServices.MemoryMarshal.TryGetArray(a[2].Data, out var segment));
        Assert.Same(returned, segment.Array);
        Assert.NotEqual("a2", Text(a[2]));

        // The next entry reuses it, and the unreleased entries still read their own bytes.
        PublishBatch("d", 2);
        var d = await ReceiveAsync(consumer, 2);
        Assert.Equal(["d0", "d1"], d.Select(Text));
        Assert.True(System.Runtime.InteropServices.MemoryMarshal.TryGetArray(d[0].Data, out var reused));
        Assert.Same(returned, reused.Array);
        Assert.Equal(["b0", "b1", "b2"], b.Select(Text));
        Assert.Equal(["c0", "c1", "c2"], c.Select(Text));
    }

    [Fact]
    public async Task A_compressed_entry_gives_its_buffer_back_at_once_and_its_messages_keep_their_own_bytes()
    {
        PublishBatch("z", 3, CompressionType.Lz4);
        await using var consumer = await ConsumerAsync();
        var received = await ReceiveAsync(consumer, 3);

        // The frame's buffer went back after dispatch: the messages read the decompressed array.
        Assert.Single(_pool.Returned);
        Assert.Equal(["z0", "z1", "z2"], received.Select(Text));
        PublishBatch("y", 1);
        Assert.Equal("y0", Text(Assert.Single(await ReceiveAsync(consumer, 1))));
        Assert.Equal(["z0", "z1", "z2"], received.Select(Text));
    }

    [Fact]
    public async Task Messages_never_released_keep_their_entry_out_of_the_pool()
    {
        PublishBatch("k", 2);
        await using var consumer = await ConsumerAsync();
        var kept = await ReceiveAsync(consumer, 2);
        await consumer.AcknowledgeAsync(kept);

        // Acknowledging is not releasing: an application that never releases only forgoes the reuse.
        PublishBatch("n", 2);
        Assert.Equal(["n0", "n1"], (await ReceiveAsync(consumer, 2)).Select(Text));
        Assert.Empty(_pool.Returned);
        Assert.Equal(["k0", "k1"], kept.Select(Text));
    }
}
