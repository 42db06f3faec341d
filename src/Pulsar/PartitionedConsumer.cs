using Sync.Pulsar.Internal;

namespace Sync.Pulsar;

/// <summary>
/// A consumer of a partitioned topic: one <see cref="PulsarConsumer"/> per partition on the same
/// subscription, their messages merged into one bounded queue. Acknowledgements go to the
/// partition named in the message id. Order holds per partition (and so per key), not across.
/// </summary>
public sealed class PartitionedConsumer : IPulsarConsumer
{
    private readonly PulsarConsumer[] _partitions;
    private readonly MergedQueue _merged;
    private readonly CancellationTokenSource _shutdown = new();
    private readonly Task[] _pumps;
    private readonly AggregateState _aggregate;
    private int _disposed;

    internal PartitionedConsumer(string topic, string subscriptionName, PulsarConsumer[] partitions, int receiverQueueSize)
    {
        Topic = topic;
        SubscriptionName = subscriptionName;
        _partitions = partitions;
        // Bounded: with the per-partition queues this keeps memory at (partitions + 1) queue sizes.
        _merged = new MergedQueue(receiverQueueSize, () => $"consumer of {Topic}/{SubscriptionName}");
        _pumps = [.. partitions.Select(p => Task.Run(() => PumpAsync(p)))];
        _aggregate = new AggregateState(this, () => _partitions);
        foreach (var partition in partitions)
        {
            _aggregate.Watch(partition);
        }
    }

    public string Topic { get; }

    public string SubscriptionName { get; }

    public IReadOnlyList<PulsarConsumer> Partitions => _partitions;

    /// <summary>The worst state of the partitions' consumers; Closed once disposed.</summary>
    public PulsarObjectState State => _aggregate.Monitor.Current;

    public event EventHandler<PulsarStateChangedEventArgs>? StateChanged
    {
        add => _aggregate.Monitor.Changed += value;
        remove => _aggregate.Monitor.Changed -= value;
    }

    public ValueTask<PulsarObjectState> OnStateChangeTo(PulsarObjectState state, CancellationToken cancellationToken = default) =>
        _aggregate.Monitor.WaitAsync(current => current == state, cancellationToken);

    public ValueTask<PulsarObjectState> OnStateChangeFrom(PulsarObjectState state, CancellationToken cancellationToken = default) =>
        _aggregate.Monitor.WaitAsync(current => current != state, cancellationToken);

    public int QueuedMessages => _merged.Count + _partitions.Sum(p => p.QueuedMessages);

    /// <summary>Active when the broker dispatches any partition to this consumer.</summary>
    public bool? IsActive => IPulsarConsumer.AnyActive(_partitions);

    private async Task PumpAsync(PulsarConsumer partition)
    {
        try
        {
            while (true)
            {
                var message = await partition.ReceiveAsync(_shutdown.Token);
                await _merged.WriteAsync(message, _shutdown.Token);
            }
        }
        catch (OperationCanceledException)
        {
        }
        catch (PulsarException e)
        {
            // A partition that fails for good fails the whole consumer: silently reading the
            // other partitions would hide that a part of the topic is no longer consumed.
            _merged.Fail(e);
        }
    }

    public ValueTask<PulsarMessage> ReceiveAsync(CancellationToken cancellationToken = default) => _merged.ReceiveAsync(cancellationToken);

    public bool TryReceive([System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out PulsarMessage? message) => _merged.TryReceive(out message);

    public IAsyncEnumerable<PulsarMessage> ReceiveAllAsync(CancellationToken cancellationToken = default) => _merged.ReceiveAllAsync(cancellationToken);

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
        _merged.Clear();
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
        await _shutdown.CancelAsync();
        await Task.WhenAll(_pumps);
        foreach (var partition in _partitions)
        {
            await partition.DisposeAsync();
        }
        _merged.Close();
        _shutdown.Dispose();
    }
}
