using Google.Protobuf.Collections;

namespace Sync.Pulsar.Protocol.Proto;

/// <summary>What a message says of itself (key, properties, event time, null value), carried alike by
/// the metadata of a whole message and by that of one entry of a batch, so that a producer fills
/// both in one way.</summary>
internal interface IMessageAttributes
{
    string PartitionKey { get; set; }

    bool PartitionKeyB64Encoded { get; set; }

    RepeatedField<KeyValue> Properties { get; }

    ulong EventTime { get; set; }

    bool NullValue { get; set; }
}

public sealed partial class MessageMetadata : IMessageAttributes;

public sealed partial class SingleMessageMetadata : IMessageAttributes;
