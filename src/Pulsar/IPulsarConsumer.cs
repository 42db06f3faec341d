namespace Sync.Pulsar;

/// <summary>Receives from a topic, partitioned or not, through one subscription.</summary>
public interface IPulsarConsumer : IPulsarStateful, IAsyncDisposable
{
    string Topic { get; }

    string SubscriptionName { get; }

    /// <summary>Messages received from the broker and not yet taken by the application.</summary>
    int QueuedMessages { get; }

    ValueTask<PulsarMessage> ReceiveAsync(CancellationToken cancellationToken = default);

    /// <summary>Takes a message that is already queued, without waiting; false when none is.</summary>
    bool TryReceive([System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out PulsarMessage? message);

    IAsyncEnumerable<PulsarMessage> ReceiveAllAsync(CancellationToken cancellationToken = default);

    ValueTask AcknowledgeAsync(MessageId id, CancellationToken cancellationToken = default);

    /// <summary>Acknowledges this message and every earlier one of the same partition.</summary>
    ValueTask AcknowledgeCumulativeAsync(MessageId id, CancellationToken cancellationToken = default);

    /// <summary>Acknowledges a received message; works for every kind of consumer, multi-topic ones included.</summary>
    ValueTask AcknowledgeAsync(PulsarMessage message, CancellationToken cancellationToken = default) =>
        AcknowledgeAsync((message ?? throw new ArgumentNullException(nameof(message))).Id, cancellationToken);

    /// <summary>Acknowledges many received messages, with as few ACK commands as the consumer can.</summary>
    async ValueTask AcknowledgeAsync(IReadOnlyList<PulsarMessage> messages, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(messages);
        foreach (var message in messages)
        {
            await AcknowledgeAsync(message, cancellationToken);
        }
    }

    /// <summary>Cumulative acknowledgement by message; works for every kind of consumer.</summary>
    ValueTask AcknowledgeCumulativeAsync(PulsarMessage message, CancellationToken cancellationToken = default) =>
        AcknowledgeCumulativeAsync((message ?? throw new ArgumentNullException(nameof(message))).Id, cancellationToken);

    ValueTask RedeliverUnacknowledgedMessagesAsync(CancellationToken cancellationToken = default);

    /// <summary>
    /// The id of the last message now on <paramref name="topic"/>, one of the topics this consumer
    /// reads (a partition's own name for a partitioned topic, as <see cref="PulsarMessage.Topic"/>
    /// names it): one GET_LAST_MESSAGE_ID round trip. The entry id is <see cref="ulong.MaxValue"/>
    /// (the broker's -1) on an empty topic.
    /// </summary>
    Task<MessageId> GetLastMessageIdAsync(string topic, CancellationToken cancellationToken = default);

    /// <summary>
    /// The subscription's mark-delete position on <paramref name="topic"/> (one of the topics this
    /// consumer reads, named as <see cref="GetLastMessageIdAsync(string, CancellationToken)"/> names
    /// it): every message at or before it is acknowledged by the subscription, whichever consumer
    /// acknowledged it. Null when nothing is acknowledged yet or the broker does not say. One
    /// GET_LAST_MESSAGE_ID round trip (the broker answers with consumer_mark_delete_position).
    /// </summary>
    Task<MessageId?> GetMarkDeletePositionAsync(string topic, CancellationToken cancellationToken = default);

    ValueTask RedeliverAsync(IEnumerable<MessageId> ids, CancellationToken cancellationToken = default);

    /// <summary>Moves the subscription to the first message published at or after the time.</summary>
    Task SeekAsync(DateTimeOffset publishTime, CancellationToken cancellationToken = default);

    /// <summary>On a Failover subscription: true when the broker dispatches at least one of this
    /// consumer's topics to it, false when it stands by on all of those it was told about, null
    /// before the broker said anything (and always on Exclusive, Shared and Key_Shared).</summary>
    bool? IsActive => null;

    /// <summary>The <see cref="IsActive"/> of several topic consumers taken together.</summary>
    internal static bool? AnyActive(IEnumerable<IPulsarConsumer> consumers)
    {
        ArgumentNullException.ThrowIfNull(consumers);
        bool? result = null;
        foreach (var consumer in consumers)
        {
            switch (consumer.IsActive)
            {
                case true:
                    return true;
                case false:
                    result = false;
                    break;
            }
        }
        return result;
    }
}
