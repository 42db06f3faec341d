using System.Text.Json;
using System.Text.Json.Serialization;

namespace Sync.Compliance.Erasure;

/// <summary>Writes a verdict as its report text (<c>already-erased</c>, not <c>AlreadyErased</c>), and reads it back.</summary>
public sealed class ErasureVerdictJsonConverter : JsonConverter<ErasureVerdict>
{
    public override ErasureVerdict Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        reader.GetString() is { } text && ErasureText.TryParse(text, out var verdict)
            ? verdict
            : throw new JsonException($"not an erasure verdict: {reader.GetString()}");

    public override void Write(Utf8JsonWriter writer, ErasureVerdict value, JsonSerializerOptions options)
    {
        ArgumentNullException.ThrowIfNull(writer);
        writer.WriteStringValue(ErasureText.Of(value));
    }
}
