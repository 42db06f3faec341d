namespace Sync.Engine.Topics;

/// <summary>Publishes messages of a changelog file to their topics (<c>sync publish</c>), with their
/// key and its encoding, payload (a null value as a tombstone), properties and event time.</summary>
public interface IChangelogPublisher : IAsyncDisposable
{
    /// <summary>Why the message cannot be published exactly as it is, or null when it can.</summary>
    string? Check(SourceMessage message);

    /// <summary>Sends the message; returns once it is handed over (the broker's receipt may still
    /// be outstanding, a bounded number at a time).</summary>
    ValueTask PublishAsync(SourceMessage message, CancellationToken cancellationToken);

    /// <summary>Waits until the broker has persisted every message published so far.</summary>
    ValueTask FlushAsync(CancellationToken cancellationToken);
}
