using System.Buffers.Binary;

namespace Sync.Engine.Sources;

/// <summary>
/// The INLINE KeyValue payload of apache/pulsar
/// (pulsar-client-api/src/main/java/org/apache/pulsar/common/schema/KeyValue.java, encode/decode):
/// <c>[int32 key length][key bytes][int32 value length][value bytes]</c>, both lengths big-endian,
/// -1 for a null key or value (then no bytes follow). Pulsar IO's KafkaConnectSource writes it
/// with <c>json-with-envelope: true</c> (getKeyValueEncodingType = INLINE); the function runtime's
/// PulsarSink then sets the message key to the base64 text of the key bytes, without the
/// partition_key_b64_encoded flag (TypedMessageBuilderImpl.key).
/// </summary>
public static class KeyValuePayload
{
    /// <summary>The INLINE payload of a key and value (null for a null one).</summary>
    public static byte[] EncodeInline(ReadOnlySpan<byte> key, bool keyIsNull, ReadOnlySpan<byte> value, bool valueIsNull)
    {
        var keyLength = keyIsNull ? 0 : key.Length;
        var valueLength = valueIsNull ? 0 : value.Length;
        var payload = new byte[8 + keyLength + valueLength];
        BinaryPrimitives.WriteInt32BigEndian(payload, keyIsNull ? -1 : keyLength);
        key[..keyLength].CopyTo(payload.AsSpan(4));
        BinaryPrimitives.WriteInt32BigEndian(payload.AsSpan(4 + keyLength), valueIsNull ? -1 : valueLength);
        value[..valueLength].CopyTo(payload.AsSpan(8 + keyLength));
        return payload;
    }

    /// <summary>Splits an INLINE payload; false with the reason when its lengths do not fit it.
    /// A null key or value comes back as null.</summary>
    public static bool TryDecodeInline(ReadOnlyMemory<byte> payload, out ReadOnlyMemory<byte>? key, out ReadOnlyMemory<byte>? value, out string? error)
    {
        key = null;
        value = null;
        if (!TryReadPart(payload, 0, "key", out key, out var next, out error))
        {
            return false;
        }

        if (!TryReadPart(payload, next, "value", out value, out next, out error))
        {
            return false;
        }

        if (next != payload.Length)
        {
            error = $"INLINE KeyValue payload of {payload.Length} bytes has {payload.Length - next} bytes after its value";
            return false;
        }

        return true;
    }

    private static bool TryReadPart(ReadOnlyMemory<byte> payload, int offset, string part, out ReadOnlyMemory<byte>? bytes, out int next, out string? error)
    {
        bytes = null;
        next = offset;
        error = null;
        if (payload.Length - offset < 4)
        {
            error = $"INLINE KeyValue payload of {payload.Length} bytes ends before its {part} length (at byte {offset})";
            return false;
        }

        var length = BinaryPrimitives.ReadInt32BigEndian(payload.Span[offset..]);
        next = offset + 4;
        if (length == -1)
        {
            return true;
        }

        if (length < 0 || length > payload.Length - next)
        {
            error = $"INLINE KeyValue payload of {payload.Length} bytes names a {part} length of {length} at byte {offset}, beyond the {payload.Length - next} bytes after it";
            return false;
        }

        bytes = payload.Slice(next, length);
        next += length;
        return true;
    }

    /// <summary>
    /// The message an INLINE KeyValue message stands for: key and value taken from the payload
    /// (the key as base64-flagged bytes, like a SEPARATED message's key), the wire form kept in
    /// <see cref="SourceMessage.Inline"/>. A tombstone (null or empty payload) stays as it is.
    /// Null with <paramref name="error"/> when the payload is malformed or the message key, when
    /// present, is not the base64 of the payload's key.
    /// </summary>
    public static SourceMessage? UnwrapInline(SourceMessage wire, out string? error)
    {
        ArgumentNullException.ThrowIfNull(wire);
        error = null;
        if (wire.IsTombstone)
        {
            return wire;
        }

        if (!TryDecodeInline(wire.Value, out var keyBytes, out var valueBytes, out error))
        {
            return null;
        }

        var key = keyBytes is { } k ? MessageKey.FromBytesAsBase64(k.Span) : MessageKey.None;
        if (wire.Key.IsPresent && !Agrees(wire.Key, keyBytes))
        {
            var payloadKey = keyBytes is { } bytes ? $"base64 {Convert.ToBase64String(bytes.Span)}" : "null";
            error = $"the message key {wire.Key.Text}{(wire.Key.IsBase64 ? " (base64-flagged)" : string.Empty)} does not match the key in the INLINE KeyValue payload ({payloadKey})";
            return null;
        }

        return new SourceMessage
        {
            Topic = wire.Topic,
            Position = wire.Position,
            Key = key,
            Value = valueBytes ?? ReadOnlyMemory<byte>.Empty,
            HasValue = valueBytes is not null,
            Properties = wire.Properties,
            PublishTime = wire.PublishTime,
            EventTime = wire.EventTime,
            KeyValueEncoding = KeyValueEncoding.Inline,
            Inline = new InlineKeyValue(wire.Value, wire.Key),
        };
    }

    /// <summary>
    /// <paramref name="message"/> as a message of <paramref name="encoding"/> would travel: INLINE
    /// builds the payload from key and value and sends the base64 text of the key as the message
    /// key (what Pulsar IO's sink does); SEPARATED marks it. A message that already says how it
    /// travels, and a tombstone, stay as they are.
    /// </summary>
    public static SourceMessage As(SourceMessage message, KeyValueEncoding encoding)
    {
        ArgumentNullException.ThrowIfNull(message);
        if (message.KeyValueEncoding != KeyValueEncoding.None || encoding == KeyValueEncoding.None || !message.HasValue)
        {
            return message;
        }

        return encoding == KeyValueEncoding.Inline ? ToInline(message) : Copy(message, KeyValueEncoding.Separated, null, message.Key, message.Value);
    }

    /// <summary>The INLINE form of a key and value (see <see cref="As"/>).</summary>
    public static SourceMessage ToInline(SourceMessage message)
    {
        ArgumentNullException.ThrowIfNull(message);
        if (!message.HasValue)
        {
            return Copy(message, KeyValueEncoding.Inline, null, message.Key, message.Value);
        }

        var keyBytes = message.Key.IsPresent ? message.Key.GetBytes() : null;
        var payload = EncodeInline(keyBytes, keyBytes is null, message.Value.Span, false);
        var wireKey = keyBytes is null ? MessageKey.None : new MessageKey(Convert.ToBase64String(keyBytes), false);
        return Copy(
            message,
            KeyValueEncoding.Inline,
            new InlineKeyValue(payload, wireKey),
            keyBytes is null ? MessageKey.None : MessageKey.FromBytesAsBase64(keyBytes),
            message.Value);
    }

    private static SourceMessage Copy(SourceMessage message, KeyValueEncoding encoding, InlineKeyValue? inline, MessageKey key, ReadOnlyMemory<byte> value) => new()
    {
        Topic = message.Topic,
        Position = message.Position,
        Key = key,
        Value = value,
        HasValue = message.HasValue,
        Properties = message.Properties,
        PublishTime = message.PublishTime,
        EventTime = message.EventTime,
        KeyValueEncoding = encoding,
        Inline = inline,
    };

    /// <summary>An INLINE message that could not be split, kept as it travelled (key = message key,
    /// value = payload) and marked INLINE, so that a dump writes its payload back unchanged.</summary>
    public static SourceMessage Undecoded(SourceMessage wire)
    {
        ArgumentNullException.ThrowIfNull(wire);
        return wire.WithKeyValueEncoding(KeyValueEncoding.Inline, new InlineKeyValue(wire.Value, wire.Key));
    }

    private static bool Agrees(MessageKey wireKey, ReadOnlyMemory<byte>? payloadKey)
    {
        if (payloadKey is not { } bytes)
        {
            return false;
        }

        // PulsarSink sends the base64 text as a plain key; a flagged key must hold the same bytes.
        return wireKey.IsBase64
            ? wireKey.GetBytes().AsSpan().SequenceEqual(bytes.Span)
            : string.Equals(wireKey.Text, Convert.ToBase64String(bytes.Span), StringComparison.Ordinal);
    }
}
