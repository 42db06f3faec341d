using System.Globalization;

namespace Sync.Compliance;

/// <summary>Topic names as logs report them: a partition is <c>&lt;topic&gt;-partition-N</c>.</summary>
internal static class TopicNames
{
    private const string PartitionSuffix = "-partition-";

    /// <summary>The partitioned topic's name for a partition, else the name itself.</summary>
    public static string BaseName(string topic)
    {
        var at = topic.LastIndexOf(PartitionSuffix, StringComparison.Ordinal);
        return at > 0 && int.TryParse(topic.AsSpan(at + PartitionSuffix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out _) ? topic[..at] : topic;
    }
}
