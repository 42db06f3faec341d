namespace Sync.Pulsar.Tests.Client;

public class BatchingProducerTests : ClientTestBase
{
    private static string Text(PulsarMessage message) => Encoding.UTF8.GetString(message.Data.Span);

    private Task<PulsarProducer> BatchingProducerAsync(int maxMessages = 10, CompressionType compression = CompressionType.None, int maxDelayMs = 10) =>
        ProducerAsync(new ProducerOptions
        {
            Topic = Topic,
            BatchingEnabled = true,
            BatchingMaxMessages = maxMessages,
            BatchingMaxDelay = TimeSpan.FromMilliseconds(maxDelayMs),
            Compression = compression,
        });

    [Theory]
    [InlineData(CompressionType.None)]
    [InlineData(CompressionType.Lz4)]
    [InlineData(CompressionType.Zlib)]
    [InlineData(CompressionType.Zstd)]
    [InlineData(CompressionType.Snappy)]
    public async Task Full_batches_become_one_entry_each_and_arrive_intact(CompressionType compression)
    {
        await using var consumer = await ConsumerAsync();
        // Only full batches: a delay no run reaches, so that a slow machine cannot send a part of one.
        await using var producer = await BatchingProducerAsync(10, compression, maxDelayMs: 60_000);

        var ids = await Task.WhenAll(Enumerable.Range(0, 100).Select(i => producer.SendAsync(new OutgoingMessage
        {
            Key = $"k{i % 7}",
            Data = Encoding.UTF8.GetBytes($"message {i} {new string('z', i)}"),
            Properties = new Dictionary<string, string> { ["i"] = $"{i}" },
        }).AsTask()));
        var received = await ReceiveAsync(consumer, 100);

        Assert.Equal(10, Broker.FindTopic(Topic)!.Entries.Count);
        Assert.All(Broker.FindTopic(Topic)!.Entries, e => Assert.Equal(10, e.MessageCount));
        Assert.Equal(ids, received.Select(m => m.Id));
        Assert.Equal(Enumerable.Range(0, 100).Select(i => $"message {i} {new string('z', i)}"), received.Select(Text));
        Assert.Equal(Enumerable.Range(0, 100).Select(i => $"k{i % 7}"), received.Select(m => m.Key));
        Assert.Equal(Enumerable.Range(0, 100).Select(i => (ulong)i), received.Select(m => m.SequenceId));
        Assert.Equal(Enumerable.Range(0, 10), ids.Take(10).Select(id => id.BatchIndex));
    }

    [Fact]
    public async Task A_partial_batch_leaves_after_the_delay()
    {
        await using var producer = await BatchingProducerAsync(maxMessages: 1000, maxDelayMs: 20);

        var id = await producer.SendAsync(new OutgoingMessage { Data = "lonely"u8.ToArray() }).AsTask().WaitAsync(Patience);

        Assert.Equal(0, id.BatchIndex);
        Assert.Equal(1, Assert.Single(Broker.FindTopic(Topic)!.Entries).MessageCount);
    }

    [Fact]
    public async Task Flush_sends_the_open_batch_at_once()
    {
        await using var producer = await BatchingProducerAsync(maxMessages: 1000, maxDelayMs: 60_000);
        var sends = Enumerable.Range(0, 3).Select(i => producer.SendAsync(new OutgoingMessage { Data = new[] { (byte)i } }).AsTask()).ToList();

        await producer.FlushAsync().WaitAsync(Patience);

        // Settled by the flush, not by the 60 s batch delay.
        await Task.WhenAll(sends).WaitAsync(TimeSpan.FromSeconds(5));
        Assert.Equal(3, Assert.Single(Broker.FindTopic(Topic)!.Entries).MessageCount);
    }

    [Fact]
    public async Task Tombstones_and_binary_keys_survive_batching()
    {
        await using var consumer = await ConsumerAsync();
        await using var producer = await BatchingProducerAsync(maxMessages: 2);

        await Task.WhenAll(
            producer.SendAsync(OutgoingMessage.Tombstone("gone")).AsTask(),
            producer.SendAsync(new OutgoingMessage { KeyBytes = new byte[] { 1, 2, 3 }, Data = "v"u8.ToArray() }).AsTask());
        var received = await ReceiveAsync(consumer, 2);

        Assert.True(received[0].IsNullValue);
        Assert.Equal("gone", received[0].Key);
        Assert.True(received[1].KeyIsBase64);
        Assert.Equal([1, 2, 3], received[1].KeyBytes);
    }

    [Fact]
    public async Task Batches_are_resent_whole_after_a_reconnect()
    {
        await using var consumer = await ConsumerAsync();
        await using var producer = await BatchingProducerAsync(maxMessages: 5);
        await Task.WhenAll(Enumerable.Range(0, 5).Select(i => producer.SendAsync(new OutgoingMessage { Data = Encoding.UTF8.GetBytes($"a{i}") }).AsTask()));

        Broker.DropAllConnections();
        await Task.WhenAll(Enumerable.Range(0, 5).Select(i => producer.SendAsync(new OutgoingMessage { Data = Encoding.UTF8.GetBytes($"b{i}") }).AsTask())).WaitAsync(Patience);

        var received = await ReceiveDistinctAsync(consumer, 10);
        Assert.Equal([.. Enumerable.Range(0, 5).Select(i => $"a{i}"), .. Enumerable.Range(0, 5).Select(i => $"b{i}")], received);
    }
}
