namespace Sync.Engine.Topics;

/// <summary>How a source names its streams. A materializer that reads a topic reads each of its
/// partitions too, and a topic a person names may be a short form of the name the source reports.</summary>
public interface ITopicNaming
{
    /// <summary>The topic a stream belongs to: the partitioned topic of a partition, else the stream itself.</summary>
    string TopicOf(string stream);

    /// <summary>The name the source reports for a topic a person named (a short name completed), or
    /// null when <paramref name="topic"/> cannot be a topic name.</summary>
    string? FullName(string topic);
}
