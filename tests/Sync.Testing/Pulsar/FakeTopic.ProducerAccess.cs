using Sync.Pulsar.Protocol.Proto;

namespace Sync.Testing.Pulsar;

/// <summary>
/// Producer access modes, as apache/pulsar pulsar-broker/src/main/java/org/apache/pulsar/broker/
/// service/AbstractTopic.java keeps them (incrementTopicEpochIfNeeded, handleProducerRemoved): at
/// most one exclusive producer, a queue of WaitForExclusive producers that get the topic in turn,
/// and a topic epoch that grows each time an exclusive producer takes the topic.
/// </summary>
public sealed partial class FakeTopic
{
    /// <summary>A WaitForExclusive producer answered "not ready", waiting for the topic.</summary>
    internal sealed record WaitingProducer(FakeBrokerConnection Connection, CommandProducer Request, string Name, Google.Protobuf.ByteString? SchemaVersion);

    internal bool HasExclusiveProducer { get; set; }

    internal string? ExclusiveProducerName { get; set; }

    internal Queue<WaitingProducer> WaitingExclusiveProducers { get; } = new();

    /// <summary>The topic epoch: none until an exclusive producer first takes the topic, then 0, 1, …</summary>
    public ulong? TopicEpoch { get; internal set; }

    /// <summary>An exclusive producer takes the topic: the epoch it asked for (a producer that
    /// reconnects keeps its epoch), else the next one (PersistentTopic.incrementTopicEpoch).</summary>
    internal ulong TakeExclusiveLocked(CommandProducer request, string name)
    {
        HasExclusiveProducer = true;
        ExclusiveProducerName = name;
        TopicEpoch = request.HasTopicEpoch ? request.TopicEpoch : TopicEpoch is { } epoch ? epoch + 1 : 0;
        return TopicEpoch.Value;
    }

    /// <summary>A producer asking with an epoch older than the topic's was replaced meanwhile: fenced.</summary>
    internal bool IsBehindLocked(CommandProducer request) =>
        request.HasTopicEpoch && TopicEpoch is { } current && request.TopicEpoch < current;
}
