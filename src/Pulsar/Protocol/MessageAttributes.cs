using Google.Protobuf.Collections;

namespace Sync.Pulsar.Protocol.Proto;

/// <summary>What a message says about itself beyond its payload (key, properties, event time,
/// null value), in the fields that a message's metadata and an entry of a batch both carry.</summary>
internal interface IMessageAttributes
{
    string PartitionKey { get; set; }

    bool PartitionKeyB64Encoded { get; set; }

    RepeatedField<KeyValue> Properties { get; }

    ulong EventTime { get; set; }

    bool NullValue { get; set; }
}

public sealed partial class MessageMetadata : IMessageAttributes
{
}

public sealed partial class SingleMessageMetadata : IMessageAttributes
{
}

internal static class MessageAttributes
{
    /// <summary>Sets the attributes <paramref name="message"/> has; a key of bytes goes as base64.</summary>
    public static void SetFrom(this IMessageAttributes target, OutgoingMessage message)
    {
        if (message.Key is not null)
        {
            target.PartitionKey = message.Key;
        }
        else if (message.KeyBytes is { } keyBytes)
        {
            target.PartitionKey = Convert.ToBase64String(keyBytes.Span);
            target.PartitionKeyB64Encoded = true;
        }
        if (message.Properties is not null)
        {
            foreach (var (key, value) in message.Properties)
            {
                target.Properties.Add(new KeyValue { Key = key, Value = value });
            }
        }
        if (message.EventTimeMs is { } eventTime)
        {
            target.EventTime = eventTime;
        }
        if (message.IsNullValue)
        {
            target.NullValue = true;
        }
    }
}
