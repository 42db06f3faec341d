namespace Sync.Engine.Topics;

/// <summary>A topic's retention and compaction settings in words, with the advice that goes with
/// them: shared by <c>sync audit topics</c> and <c>sync check</c>, so both say the same.</summary>
/// <param name="Retention">The retention, in words.</param>
/// <param name="Compaction">The compaction threshold, in words.</param>
/// <param name="Advice">What to change, one sentence each; empty when nothing.</param>
public sealed record TopicPolicyAdvice(string Retention, string Compaction, IReadOnlyList<string> Advice)
{
    public static TopicPolicyAdvice Of(TopicPolicies policies)
    {
        ArgumentNullException.ThrowIfNull(policies);
        var advice = new List<string>();
        string retention;
        if (policies.RetentionMinutes is not { } minutes)
        {
            retention = "broker default";
            advice.Add("retention comes from the broker default (defaultRetentionTimeInMinutes, 0 unless changed): set it on the namespace so that how long erased data stays in the raw backlog is known and written down");
        }
        else
        {
            var size = policies.RetentionSizeMb switch { < 0 => "unlimited size", 0 => "no size", var mb => $"{mb} MB" };
            retention = minutes switch
            {
                < 0 => $"unlimited time, {size} ({policies.RetentionSetOn})",
                _ => $"{minutes} min, {size} ({policies.RetentionSetOn})",
            };
            if (minutes < 0 || policies.RetentionSizeMb < 0)
            {
                advice.Add("retention is unlimited: an erased subject stays in the raw backlog until the topic is truncated (`sync erase --purge-backlog`) or deleted; set a finite retention, for example 7 days (10080 minutes)");
            }
            else if (minutes > 0)
            {
                advice.Add(string.Create(CultureInfo.InvariantCulture, $"raw messages, erased ones included, stay up to {minutes} minutes after their ledger closes: state this delay in your erasure policy"));
            }
        }

        string compaction;
        if (policies.CompactionThresholdBytes is not { } threshold)
        {
            compaction = "broker default";
            advice.Add("automatic compaction comes from the broker default (brokerServiceCompactionThresholdInBytes, 0 = off unless changed): set a threshold so that superseded data leaves the compacted view without waiting for `sync erase`");
        }
        else if (threshold == 0)
        {
            compaction = $"off ({policies.CompactionThresholdSetOn})";
            advice.Add("automatic compaction is off: superseded rows and delete events stay in the compacted view until compaction is triggered (`sync erase` does so for the topics it erases from); set a threshold, for example 100 MB");
        }
        else
        {
            compaction = string.Create(CultureInfo.InvariantCulture, $"at {threshold} bytes of backlog ({policies.CompactionThresholdSetOn})");
        }

        return new TopicPolicyAdvice(retention, compaction, advice);
    }
}
