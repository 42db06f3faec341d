namespace Sync.Pulsar;

/// <summary>
/// A consumer of a partitioned topic: one <see cref="PulsarConsumer"/> per partition on the same
/// subscription, their messages merged into one bounded queue. Acknowledgements go to the
/// partition named in the message id. Order holds per partition (and so per key), not across.
/// Its state is the worst state of the partitions' consumers, and Closed once disposed.
/// </summary>
public sealed class PartitionedConsumer : PulsarStatefulObject, IPulsarConsumer
{
    private readonly PulsarConsumer[] _partitions;
    private readonly ConsumerFanIn _fanIn;
    private readonly Task[] _pumps;
    private readonly AggregateState _aggregate;
    private int _disposed;

    internal PartitionedConsumer(string topic, string subscriptionName, PulsarConsumer[] partitions, int receiverQueueSize)
        : base(PulsarObjectState.Connected)
    {
        Topic = topic;
        SubscriptionName = subscriptionName;
        _partitions = partitions;
        // Bounded: with the per-partition queues this keeps memory at (partitions + 1) queue sizes.
        _fanIn = new ConsumerFanIn(receiverQueueSize, () => $"consumer of {Topic}/{SubscriptionName}", childMayClose: false);
        _pumps = [.. partitions.Select(_fanIn.Start)];
        _aggregate = new AggregateState(Monitor, () => _partitions);
        foreach (var partition in partitions)
        {
            _aggregate.Watch(partition);
        }
    }

    public string Topic { get; }

    public string SubscriptionName { get; }

    public IReadOnlyList<PulsarConsumer> Partitions => _partitions;

    public int QueuedMessages => _fanIn.Queue.Count + _partitions.Sum(p => p.QueuedMessages);

    /// <summary>Active when the broker dispatches any partition to this consumer.</summary>
    public bool? IsActive => IPulsarConsumer.AnyActive(_partitions);

    public ValueTask<PulsarMessage> ReceiveAsync(CancellationToken cancellationToken = default) => _fanIn.Queue.ReceiveAsync(cancellationToken);

    public bool TryReceive([System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out PulsarMessage? message) => _fanIn.Queue.TryReceive(out message);

    public IAsyncEnumerable<PulsarMessage> ReceiveAllAsync(CancellationToken cancellationToken = default) => _fanIn.Queue.ReceiveAllAsync(cancellationToken);

    private PulsarConsumer PartitionOf(MessageId id) =>
        id.Partition >= 0 && id.Partition < _partitions.Length
            ? _partitions[id.Partition]
            : throw new ArgumentException($"message id {id} names no partition of {Topic} (0..{_partitions.Length - 1})", nameof(id));

    public ValueTask AcknowledgeAsync(MessageId id, CancellationToken cancellationToken = default) =>
        PartitionOf(id).AcknowledgeAsync(id, cancellationToken);

    public ValueTask AcknowledgeCumulativeAsync(MessageId id, CancellationToken cancellationToken = default) =>
        PartitionOf(id).AcknowledgeCumulativeAsync(id, cancellationToken);

    /// <summary>One ACK command per partition for the whole list.</summary>
    public async ValueTask AcknowledgeAsync(IReadOnlyList<PulsarMessage> messages, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(messages);
        foreach (var partition in messages.GroupBy(m => m.Id.Partition))
        {
            await PartitionOf(partition.First().Id).AcknowledgeAsync(partition.Select(m => m.Id), cancellationToken);
        }
    }

    public Task<MessageId> GetLastMessageIdAsync(string topic, CancellationToken cancellationToken = default) =>
        _partitions.FirstOrDefault(p => string.Equals(p.Topic, topic, StringComparison.Ordinal)) is { } partition
            ? partition.GetLastMessageIdAsync(cancellationToken)
            : throw new ArgumentException($"consumer of {Topic} does not read {topic}", nameof(topic));

    public Task<MessageId?> GetMarkDeletePositionAsync(string topic, CancellationToken cancellationToken = default) =>
        _partitions.FirstOrDefault(p => string.Equals(p.Topic, topic, StringComparison.Ordinal)) is { } partition
            ? partition.GetMarkDeletePositionAsync(topic, cancellationToken)
            : throw new ArgumentException($"consumer of {Topic} does not read {topic}", nameof(topic));

    public async ValueTask RedeliverUnacknowledgedMessagesAsync(CancellationToken cancellationToken = default)
    {
        // Dropped: the children's redelivery brings them again.
        _fanIn.Queue.Clear();
        foreach (var partition in _partitions)
        {
            await partition.RedeliverUnacknowledgedMessagesAsync(cancellationToken);
        }
    }

    public async ValueTask RedeliverAsync(IEnumerable<MessageId> ids, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(ids);
        foreach (var group in ids.GroupBy(id => id.Partition))
        {
            await PartitionOf(group.First()).RedeliverAsync(group, cancellationToken);
        }
    }

    public Task SeekAsync(DateTimeOffset publishTime, CancellationToken cancellationToken = default) =>
        Task.WhenAll(_partitions.Select(p => p.SeekAsync(publishTime, cancellationToken)));

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }
        _aggregate.Close();
        await _fanIn.StopAsync();
        await Task.WhenAll(_pumps);
        foreach (var partition in _partitions)
        {
            await partition.DisposeAsync();
        }
        _fanIn.Close();
    }
}
