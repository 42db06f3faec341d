using Sync.Engine.Formats;

namespace Sync.Compliance.Audit;

/// <summary>One topic (or partition) as <c>sync audit topics</c> found it.</summary>
/// <param name="DeletesWithBeforeImage">Keys whose compacted state is a delete event (<c>op=d</c>) that still carries a before-image.</param>
/// <param name="DeletePositions">Where those delete events are (first <see cref="TopicAuditor.MaxPositions"/>); positions, not keys, so the output holds no key.</param>
/// <param name="KeylessMessages">Raw messages without a key: compaction drops them, and erasure cannot find them by key.</param>
public sealed record TopicAudit(
    string Source,
    string Topic,
    string Materializers,
    long Messages,
    long CompactedKeys,
    long DeletesWithBeforeImage,
    IReadOnlyList<string> DeletePositions,
    long KeylessMessages,
    string Retention,
    string Compaction,
    IReadOnlyList<string> Advice);

/// <summary>What <c>sync audit topics</c> found; <see cref="Findings"/> counts the messages that keep
/// personal data out of erasure's reach (deletes with a before-image, keyless messages).</summary>
public sealed record TopicAuditReport(IReadOnlyList<TopicAudit> Topics)
{
    public long Findings => Topics.Sum(t => t.DeletesWithBeforeImage + t.KeylessMessages);
}

/// <summary>Scans every configured source's topics for what erasure cannot reach or what the
/// compacted view keeps, and reads the settings that decide how long raw data lingers.</summary>
public sealed class TopicAuditor(SyncConfig config, SyncComponents components)
{
    public const int MaxPositions = 20;

    public async Task<TopicAuditReport> AuditAsync(CancellationToken cancellationToken)
    {
        var topics = new List<TopicAudit>();
        foreach (var group in config.Materializers.GroupBy(m => m.Value.Source, StringComparer.Ordinal))
        {
            var source = config.Sources[group.Key];
            await using var log = components.Sources[source.Type].OpenLog(source);
            var readers = group.Select(m => MaterializerReading.Of(config, components, m.Key, m.Value)).ToList();
            bool Accepted(string topic) => readers.Any(r => r.Reads(topic));

            var stats = new SortedDictionary<string, Stats>(StringComparer.Ordinal);
            Stats Of(string topic) => stats.TryGetValue(topic, out var s) ? s : stats[topic] = new Stats();
            await foreach (var message in log.ScanRawAsync(Accepted, cancellationToken))
            {
                var s = Of(message.Topic);
                s.Messages++;
                s.Keyless += message.Key.IsPresent ? 0 : 1;
            }

            await foreach (var message in log.ReadCompactedAsync(Accepted, cancellationToken))
            {
                var s = Of(message.Topic);
                s.CompactedKeys++;
                if (IsDeleteWithBeforeImage(message, readers.First(r => r.Reads(message.Topic)).Decoder))
                {
                    s.Deletes++;
                    if (s.Positions.Count < MaxPositions)
                    {
                        s.Positions.Add(message.Position.ToString());
                    }
                }
            }

            foreach (var (topic, s) in stats)
            {
                var names = readers.Where(r => r.Reads(topic)).Select(r => r.Name).ToList();
                var repairing = readers.Where(r => names.Contains(r.Name) && r.Options.RepairTombstones).Select(r => r.Name).ToList();
                var (retention, compaction, settingsAdvice) = await SettingsAsync(log, topic, cancellationToken);
                var advice = new List<string>();
                if (s.Deletes > 0)
                {
                    advice.Add(repairing.Count > 0
                        ? $"{s.Deletes} deleted key(s) still show their before-image in the compacted view although {string.Join(", ", repairing)} repairs tombstones: these deletes predate the repair; publish tombstones for them (`sync erase` of their subjects does) and compact"
                        : $"{s.Deletes} deleted key(s) still show their before-image in the compacted view (Pulsar IO drops Debezium's tombstones): set `repairTombstones: true` on {string.Join(", ", names)} for future deletes, and publish tombstones for these (`sync erase` of their subjects does), then compact");
                }

                if (s.Keyless > 0)
                {
                    advice.Add($"{s.Keyless} message(s) without a key: compaction drops them from the compacted view but not from the raw backlog, and erasure cannot find them by key; give the table a primary key so that the connector keys its messages");
                }

                advice.AddRange(settingsAdvice);
                topics.Add(new TopicAudit(source.Name, topic, string.Join(", ", names), s.Messages, s.CompactedKeys, s.Deletes, s.Positions, s.Keyless, retention, compaction, advice));
            }
        }

        return new TopicAuditReport(topics);
    }

    private static bool IsDeleteWithBeforeImage(SourceMessage message, IMessageDecoder decoder)
    {
        try
        {
            var change = decoder.Decode(message);
            return change.Op == ChangeOp.Delete && change.Before is { } before && before.Count > 0;
        }
        catch (DecodeException)
        {
            // An undecodable message is the runtime's dead letter, not this audit's finding.
            return false;
        }
    }

    private static async Task<(string Retention, string Compaction, IReadOnlyList<string> Advice)> SettingsAsync(ITopicLog log, string topic, CancellationToken cancellationToken)
    {
        if (log is not ITopicPolicyReader reader)
        {
            return ("none (a changelog file)", "by `sync erase` only (in place)", ["a changelog file keeps every line until `sync erase` blanks an erased key's lines; copies of the file are outside its reach"]);
        }

        TopicPolicies policies;
        try
        {
            policies = await reader.ReadPoliciesAsync(topic, cancellationToken);
        }
        catch (Exception e) when (e is HttpRequestException or SourceException or TaskCanceledException)
        {
            return ("unknown", "unknown", [$"the topic's settings could not be read through the admin API ({e.Message})"]);
        }

        var described = TopicPolicyAdvice.Of(policies);
        return (described.Retention, described.Compaction, described.Advice);
    }

    private sealed class Stats
    {
        public long Messages { get; set; }

        public long Keyless { get; set; }

        public long CompactedKeys { get; set; }

        public long Deletes { get; set; }

        public List<string> Positions { get; } = [];
    }
}
