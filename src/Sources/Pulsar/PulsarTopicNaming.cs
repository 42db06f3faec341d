namespace Sync.Sources.Pulsar;

/// <summary>Pulsar's topic names: partition N of a topic is <c>&lt;topic&gt;-partition-N</c>, and a
/// short name <c>orders</c> stands for <c>persistent://public/default/orders</c>.</summary>
public sealed class PulsarTopicNaming : ITopicNaming
{
    public static PulsarTopicNaming Instance { get; } = new();

    /// <summary>A name that is nothing but the partition suffix is no partition: a topic's name is never empty.</summary>
    public string TopicOf(string stream) => TopicName.BaseName(stream) is { Length: > 0 } topic ? topic : stream;

    public string? FullName(string topic)
    {
        try
        {
            return TopicName.Normalize(topic);
        }
        catch (ArgumentException)
        {
            return null;
        }
    }
}
