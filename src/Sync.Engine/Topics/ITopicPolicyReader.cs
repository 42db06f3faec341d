namespace Sync.Engine.Topics;

/// <summary>Reads the broker settings that decide how long erased data can linger on a topic:
/// raw retention and automatic compaction. For <c>sync audit topics</c>.</summary>
public interface ITopicPolicyReader
{
    ValueTask<TopicPolicies> ReadPoliciesAsync(string topic, CancellationToken cancellationToken);
}

/// <summary>A topic's effective retention and compaction threshold, and where each is set.</summary>
/// <param name="RetentionMinutes">-1 unlimited, 0 none; null when the broker default applies (unknown here).</param>
/// <param name="RetentionSizeMb">-1 unlimited, 0 none; null when the broker default applies.</param>
/// <param name="RetentionSetOn">topic, namespace or broker default.</param>
/// <param name="CompactionThresholdBytes">Backlog bytes that trigger compaction; 0 off; null when the broker default applies.</param>
/// <param name="CompactionThresholdSetOn">topic, namespace or broker default.</param>
public sealed record TopicPolicies(int? RetentionMinutes, long? RetentionSizeMb, string RetentionSetOn, long? CompactionThresholdBytes, string CompactionThresholdSetOn);
