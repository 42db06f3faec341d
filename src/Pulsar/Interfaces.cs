namespace Sync.Pulsar;

/// <summary>Publishes to a topic, partitioned or not.</summary>
public interface IPulsarProducer : IAsyncDisposable
{
    /// <summary>The topic as given (the base name for a partitioned topic).</summary>
    string Topic { get; }

    /// <summary>The producer name (the same on every partition).</summary>
    string Name { get; }

    PulsarObjectState State { get; }

    /// <summary>Sends one message; completes with its id once the broker has persisted it.</summary>
    ValueTask<MessageId> SendAsync(OutgoingMessage message, CancellationToken cancellationToken = default);

    /// <summary>Waits until every message sent so far has its receipt (or failed).</summary>
    Task FlushAsync(CancellationToken cancellationToken = default);
}

/// <summary>Receives from a topic, partitioned or not, through one subscription.</summary>
public interface IPulsarConsumer : IAsyncDisposable
{
    string Topic { get; }

    string SubscriptionName { get; }

    PulsarObjectState State { get; }

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

    ValueTask RedeliverAsync(IEnumerable<MessageId> ids, CancellationToken cancellationToken = default);

    /// <summary>Moves the subscription to the first message published at or after the time.</summary>
    Task SeekAsync(DateTimeOffset publishTime, CancellationToken cancellationToken = default);
}
