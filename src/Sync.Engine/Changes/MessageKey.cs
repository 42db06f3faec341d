namespace Sync.Engine.Changes;

/// <summary>A message key as it travels on a Pulsar topic: a string, which is base64 of the key
/// bytes when <see cref="IsBase64"/> is set (Pulsar IO's partition_key_b64_encoded).
/// Erasure must reproduce it byte for byte, so it is kept exactly as received.</summary>
public readonly record struct MessageKey(string? Text, bool IsBase64)
{
    public static MessageKey None => default;

    public bool IsPresent => Text is not null;

    /// <summary>The key bytes: base64-decoded when flagged, else the UTF-8 of the text.</summary>
    public byte[] GetBytes()
    {
        if (Text is null)
        {
            return [];
        }

        return IsBase64 ? Convert.FromBase64String(Text) : Encoding.UTF8.GetBytes(Text);
    }

    public static MessageKey FromBytesAsBase64(ReadOnlySpan<byte> bytes) => new(Convert.ToBase64String(bytes), true);
}
