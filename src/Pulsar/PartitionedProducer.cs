namespace Sync.Pulsar;

/// <summary>
/// A producer on a partitioned topic: one <see cref="PulsarProducer"/> per partition
/// (<c>TOPIC-partition-i</c>). A keyed message goes to the partition the Java client would pick
/// for that key (so that compaction sees all of a key's messages, tombstone included, in one
/// partition); keyless messages go round robin.
/// </summary>
public sealed class PartitionedProducer : IPulsarProducer
{
    private readonly PulsarProducer[] _partitions;
    private readonly HashingScheme _scheme;
    private int _nextRoundRobin;

    internal PartitionedProducer(string topic, PulsarProducer[] partitions, HashingScheme scheme)
    {
        Topic = topic;
        _partitions = partitions;
        _scheme = scheme;
    }

    public string Topic { get; }

    public string Name => _partitions[0].Name;

    public IReadOnlyList<PulsarProducer> Partitions => _partitions;

    /// <summary>The worst state of the partitions' producers.</summary>
    public PulsarObjectState State => _partitions.Max(p => p.State);

    public ValueTask<MessageId> SendAsync(OutgoingMessage message, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(message);
        var key = message.Key ?? (message.KeyBytes is { } bytes ? Convert.ToBase64String(bytes.Span) : null);
        var partition = key is null
            ? (int)((uint)Interlocked.Increment(ref _nextRoundRobin) % (uint)_partitions.Length)
            : KeyHashing.PartitionFor(key, _partitions.Length, _scheme);
        return WithPartition(_partitions[partition].SendAsync(message, cancellationToken), partition);
    }

    private static async ValueTask<MessageId> WithPartition(ValueTask<MessageId> send, int partition) =>
        (await send) with { Partition = partition };

    public Task FlushAsync(CancellationToken cancellationToken = default) =>
        Task.WhenAll(_partitions.Select(p => p.FlushAsync(cancellationToken)));

    public async ValueTask DisposeAsync()
    {
        // Each partition's producer ignores a second dispose, so disposing twice is harmless.
        foreach (var partition in _partitions)
        {
            await partition.DisposeAsync();
        }
    }
}
