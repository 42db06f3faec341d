using Sync.Pulsar.Protocol.Proto;
using static Google.Protobuf.WireFormat;

namespace Sync.Pulsar.Protocol;

/// <summary>What a consumer reads of one batched message's <c>SingleMessageMetadata</c>, read
/// straight from the wire by <see cref="Read"/>: the generated parser builds a message object, a
/// list for the properties and a set of unknown fields per batched message, then checks the
/// required fields by reflection, which for a batch of hundreds of small messages costs more than
/// the rest of the client's work on them.</summary>
/// <remarks>Field numbers and types: apache/pulsar, pulsar-common/src/main/proto/PulsarApi.proto,
/// message SingleMessageMetadata (properties 1, partition_key 2, payload_size 3 required,
/// compacted_out 4, event_time 5, partition_key_b64_encoded 6, ordering_key 7, sequence_id 8,
/// null_value 9, null_partition_key 10) and message KeyValue (key 1, value 2, both required);
/// the case labels take them from the classes generated from Protocol/PulsarApi.proto here. Fields the consumer does not use
/// (ordering_key, null_partition_key) and fields of later protocol versions are skipped by their
/// wire type, as a protobuf parser skips unknown fields. What it accepts and refuses is what the
/// generated parser (Google.Protobuf) accepts and refuses: a required field that is missing reads as
/// its default, as that parser does not check them, and text that is not UTF-8 is refused.</remarks>
public readonly record struct SingleMessageFields
{
    private static readonly KeyValuePair<string, string>[] NoProperties = [];

    /// <summary>payload_size: how many bytes of the batch follow this metadata.</summary>
    public int PayloadSize { get; init; }

    /// <summary>partition_key; null when absent.</summary>
    public string? PartitionKey { get; init; }

    public bool PartitionKeyB64Encoded { get; init; }

    /// <summary>properties in wire order; empty when there are none.</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Properties { get; init; }

    public bool CompactedOut { get; init; }

    /// <summary>event_time; null when absent (the entry's own then applies).</summary>
    public ulong? EventTime { get; init; }

    /// <summary>sequence_id; null when absent (the entry's sequence id plus the index then applies).</summary>
    public ulong? SequenceId { get; init; }

    public bool NullValue { get; init; }

    /// <summary>Reads a serialized SingleMessageMetadata.</summary>
    /// <exception cref="PulsarProtocolException">The bytes are not a protobuf message, or a text in it is not UTF-8.</exception>
    public static SingleMessageFields Read(ReadOnlySpan<byte> bytes)
    {
        var wire = new ProtoWireReader(bytes, "SingleMessageMetadata");
        var payloadSize = 0;
        string? partitionKey = null;
        var b64 = false;
        List<KeyValuePair<string, string>>? properties = null;
        var compactedOut = false;
        ulong? eventTime = null;
        ulong? sequenceId = null;
        var nullValue = false;
        while (wire.TryReadTag(out var tag))
        {
            switch (tag)
            {
                case (SingleMessageMetadata.PropertiesFieldNumber << 3) | (int)WireType.LengthDelimited:
                    (properties ??= []).Add(ReadKeyValue(wire.ReadLengthDelimited()));
                    break;
                case (SingleMessageMetadata.PartitionKeyFieldNumber << 3) | (int)WireType.LengthDelimited:
                    partitionKey = wire.Text(wire.ReadLengthDelimited());
                    break;
                case (SingleMessageMetadata.PayloadSizeFieldNumber << 3) | (int)WireType.Varint:
                    // int32 travels as a varint of its 64-bit sign extension; the low 32 bits are the value.
                    payloadSize = (int)wire.ReadVarint();
                    break;
                case (SingleMessageMetadata.CompactedOutFieldNumber << 3) | (int)WireType.Varint:
                    compactedOut = wire.ReadVarint() != 0;
                    break;
                case (SingleMessageMetadata.EventTimeFieldNumber << 3) | (int)WireType.Varint:
                    eventTime = wire.ReadVarint();
                    break;
                case (SingleMessageMetadata.PartitionKeyB64EncodedFieldNumber << 3) | (int)WireType.Varint:
                    b64 = wire.ReadVarint() != 0;
                    break;
                case (SingleMessageMetadata.SequenceIdFieldNumber << 3) | (int)WireType.Varint:
                    sequenceId = wire.ReadVarint();
                    break;
                case (SingleMessageMetadata.NullValueFieldNumber << 3) | (int)WireType.Varint:
                    nullValue = wire.ReadVarint() != 0;
                    break;
                default:
                    // A known number with another wire type is an unknown field too, as for the generated parser.
                    wire.Skip(tag);
                    break;
            }
        }

        return new SingleMessageFields
        {
            PayloadSize = payloadSize,
            PartitionKey = partitionKey,
            PartitionKeyB64Encoded = b64,
            Properties = (IReadOnlyList<KeyValuePair<string, string>>?)properties ?? NoProperties,
            CompactedOut = compactedOut,
            EventTime = eventTime,
            SequenceId = sequenceId,
            NullValue = nullValue,
        };
    }

    private static KeyValuePair<string, string> ReadKeyValue(ReadOnlySpan<byte> bytes)
    {
        var wire = new ProtoWireReader(bytes, "KeyValue");
        var key = string.Empty;
        var value = string.Empty;
        while (wire.TryReadTag(out var tag))
        {
            switch (tag)
            {
                case (KeyValue.KeyFieldNumber << 3) | (int)WireType.LengthDelimited:
                    key = wire.Text(wire.ReadLengthDelimited());
                    break;
                case (KeyValue.ValueFieldNumber << 3) | (int)WireType.LengthDelimited:
                    value = wire.Text(wire.ReadLengthDelimited());
                    break;
                default:
                    wire.Skip(tag);
                    break;
            }
        }

        return KeyValuePair.Create(key, value);
    }
}
