namespace Sync.Pulsar;

/// <summary>
/// A producer on a partitioned topic: one <see cref="PulsarProducer"/> per partition
/// (<c>TOPIC-partition-i</c>). A keyed message goes to the partition the Java client would pick
/// for that key (so that compaction sees all of a key's messages, tombstone included, in one
/// partition); keyless messages go round robin. Its state is the worst state of the partitions' producers.
/// </summary>
public sealed class PartitionedProducer : PulsarStatefulObject, IPulsarProducer
{
    private readonly PulsarProducer[] _partitions;
    private readonly HashingScheme _scheme;
    private readonly AggregateState _aggregate;
    private int _nextRoundRobin;

    internal PartitionedProducer(string topic, PulsarProducer[] partitions, HashingScheme scheme)
        : base(PulsarObjectState.Connected)
    {
        Topic = topic;
        _partitions = partitions;
        _scheme = scheme;
        _aggregate = new AggregateState(Monitor, () => _partitions);
        foreach (var partition in partitions)
        {
            _aggregate.Watch(partition);
        }
    }

    public string Topic { get; }

    public string Name => _partitions[0].Name;

    public IReadOnlyList<PulsarProducer> Partitions => _partitions;

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
