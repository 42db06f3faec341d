namespace Sync.Pulsar;

/// <summary>Topic name rules shared by the client and anyone naming topics.</summary>
public static class TopicName
{
    private const string PartitionSuffix = "-partition-";

    /// <summary>
    /// Completes a short name the way Pulsar clients do: <c>orders</c> becomes
    /// <c>persistent://public/default/orders</c>, <c>t/ns/orders</c> becomes
    /// <c>persistent://t/ns/orders</c>; a full name is returned as given.
    /// </summary>
    public static string Normalize(string topic)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(topic);
        if (topic.Contains("://", StringComparison.Ordinal))
        {
            return topic;
        }
        return topic.Count(c => c == '/') switch
        {
            0 => $"persistent://public/default/{topic}",
            2 => $"persistent://{topic}",
            _ => throw new ArgumentException($"topic ({topic}) must be a short name, tenant/namespace/name or a full persistent:// name", nameof(topic)),
        };
    }

    /// <summary>Name of partition <paramref name="index"/> of a partitioned topic.</summary>
    public static string Partition(string topic, int index) => $"{Normalize(topic)}{PartitionSuffix}{index}";

    /// <summary>The topic a partition belongs to (the name itself when it is no partition).</summary>
    public static string BaseName(string topic)
    {
        ArgumentNullException.ThrowIfNull(topic);
        var at = topic.LastIndexOf(PartitionSuffix, StringComparison.Ordinal);
        return at >= 0 && PartitionIndex(topic) >= 0 ? topic[..at] : topic;
    }

    /// <summary>The partition index encoded in a topic name, or -1 for a non-partition name.</summary>
    public static int PartitionIndex(string topic)
    {
        ArgumentNullException.ThrowIfNull(topic);
        var at = topic.LastIndexOf(PartitionSuffix, StringComparison.Ordinal);
        return at >= 0 && int.TryParse(topic.AsSpan(at + PartitionSuffix.Length), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var index)
            ? index
            : -1;
    }
}
