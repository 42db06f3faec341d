using System.Buffers.Binary;

namespace Sync.Engine.Sources;

/// <summary>How a message of a Pulsar KeyValue schema carries its key and value.</summary>
public enum KeyValueEncoding
{
    /// <summary>Not a KeyValue message (or not known to be one): payload = value, key = message key.</summary>
    None,

    /// <summary>KeyValue SEPARATED: payload = value, key in the message key (base64, partition_key_b64_encoded).</summary>
    Separated,

    /// <summary>KeyValue INLINE: key and value both in the payload (<see cref="KeyValuePayload"/>).</summary>
    Inline,
}
