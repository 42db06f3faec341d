namespace Sync.Engine.Sources;

/// <summary>What a reader is opened for.</summary>
/// <param name="Materializer">The reading materializer's name.</param>
/// <param name="TopicFilter">Which topics it reads.</param>
/// <param name="Checkpoint">The positions stored with the sink; ignored when <paramref name="FromBeginning"/>.</param>
/// <param name="FromBeginning">Read from the first message (backfill).</param>
public sealed record SourceReadRequest(
    string Materializer,
    Func<string, bool> TopicFilter,
    IReadOnlyDictionary<string, StreamPosition> Checkpoint,
    bool FromBeginning)
{
    /// <summary>The materializer's <c>topics</c>, for sources that subscribe by name (Pulsar); null when it has a pattern.</summary>
    public IReadOnlyList<string>? Topics { get; init; }

    /// <summary>The materializer's <c>topicPattern</c>, for sources that subscribe by pattern (Pulsar); null when it lists topics.</summary>
    public string? TopicPattern { get; init; }

    /// <summary>With <see cref="FromBeginning"/> (<c>backfill --from</c>): the first position to read
    /// per topic stream (a Pulsar partition is a stream of its own), inclusive; streams not named
    /// start at their earliest message.</summary>
    public IReadOnlyDictionary<string, StreamPosition> StartAt { get; init; } = new Dictionary<string, StreamPosition>();

    /// <summary>The materializer's logger, for what a reader has to say while it runs (a start
    /// that waits for its broker).</summary>
    public Microsoft.Extensions.Logging.ILogger Log { get; init; } = Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;
}
