namespace Sync.Pulsar;

/// <summary>Publishes to a topic, partitioned or not.</summary>
public interface IPulsarProducer : IPulsarStateful, IAsyncDisposable
{
    /// <summary>The topic as given (the base name for a partitioned topic).</summary>
    string Topic { get; }

    /// <summary>The producer name (the same on every partition).</summary>
    string Name { get; }

    /// <summary>Sends one message; completes with its id once the broker has persisted it.</summary>
    ValueTask<MessageId> SendAsync(OutgoingMessage message, CancellationToken cancellationToken = default);

    /// <summary>Waits until every message sent so far has its receipt (or failed).</summary>
    Task FlushAsync(CancellationToken cancellationToken = default);
}
