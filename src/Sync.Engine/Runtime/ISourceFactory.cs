namespace Sync.Engine.Runtime;

/// <summary>Opens readers of one source type.</summary>
public interface ISourceFactory
{
    string Type { get; }

    /// <summary>The type the source's config block binds to.</summary>
    Type OptionsType { get; }

    /// <summary>How the source names its streams: the topic a partition belongs to, a topic's full name.</summary>
    ITopicNaming Naming { get; }

    ISourceReader Open(ComponentConfig source, SourceReadRequest request);

    /// <summary>The source's topics as erasure sees them (scan, tombstone, compact).</summary>
    ITopicLog OpenLog(ComponentConfig source);

    /// <summary>True when a reader of <paramref name="source"/> never reports an end (a followed
    /// file, a subscription that waits for new messages), so that only a stop request ends the run.
    /// False by default: the reader ends at the source's end, and a stop before it interrupts the run.</summary>
    /// <param name="fromBeginning">The read is a backfill.</param>
    bool HasNoEnd(ComponentConfig source, bool fromBeginning) => false;

    /// <summary>The checkpoint streams that hold the reader's own cursor (<see cref="ISourceReader.Cursor"/>)
    /// for <paramref name="sourceName"/>; none for sources that keep their cursor on the broker.</summary>
    IReadOnlyList<string> CursorStreams(string sourceName) => [];

    /// <summary>The dead-letter topics of a materializer on this source, or null when the source
    /// has no topics to publish them to (a changelog file).</summary>
    IDeadLetterTarget? OpenDeadLetterTopic(ComponentConfig source, string materializer) => null;

    /// <summary>The dead-letter topics of a materializer on <paramref name="sourceName"/>, for people,
    /// without opening them; null when the source has no topics to publish them to.</summary>
    string? DescribeDeadLetterTopics(string sourceName) => null;

    /// <summary>Reads a materializer's dead-letter topics again (<c>sync dlq</c>), or null when the
    /// source has none. A dry run acknowledges nothing.</summary>
    IDeadLetterReader? OpenDeadLetterReader(ComponentConfig source, SourceReadRequest request, bool dryRun) => null;

    /// <summary>Opens a suppression ledger kept on a topic of the source's cluster, or null when
    /// the source has no topics (<c>erasure.ledger: { topic: TOPIC }</c>).</summary>
    ISuppressionLedger? OpenLedger(ComponentConfig source, string topic) => null;

    /// <summary>Publishes changelog messages to the source's topics (<c>sync publish</c>), or null
    /// when the source cannot be published to (a changelog file).</summary>
    IChangelogPublisher? OpenPublisher(ComponentConfig source) => null;
}
