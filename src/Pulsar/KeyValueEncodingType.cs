namespace Sync.Pulsar;

/// <summary>How a KEY_VALUE schema lays out a message (apache/pulsar
/// pulsar-client-api/.../common/schema/KeyValueEncodingType.java).</summary>
public enum KeyValueEncodingType
{
    /// <summary>Key and value both in the payload: <c>[int32 key length][key][int32 value length][value]</c>,
    /// big-endian, length -1 for null (KeyValue.encode). The default when the schema does not say.</summary>
    Inline,

    /// <summary>The payload is the value; the key travels as the message key (base64, partition_key_b64_encoded).</summary>
    Separated,
}
