using System.Text.Encodings.Web;
using System.Text.Unicode;

namespace Sync.Engine.Sources;

/// <summary>Writes a message as a changelog line: the inverse of <see cref="ChangelogLineParser"/>.
/// A value that is a JSON object is embedded as is, a value that is not valid UTF-8 as base64 with
/// <c>"valueBase64": true</c>, any other value as a string.</summary>
public static class ChangelogLineWriter
{
    private static readonly JsonWriterOptions Options = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>The line's UTF-8 bytes, without the line break.</summary>
    public static byte[] ToLine(SourceMessage message)
    {
        var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer, Options))
        {
            Write(writer, message);
        }

        return buffer.ToArray();
    }

    public static void Write(Utf8JsonWriter writer, SourceMessage message)
    {
        writer.WriteStartObject();
        writer.WriteString("topic", message.Topic);
        if (message.Inline is { } inline)
        {
            // As it travelled: the message key and the INLINE payload, which holds key and value.
            if (inline.MessageKey.Text is { } wireKey)
            {
                writer.WriteString("key", wireKey);
                if (inline.MessageKey.IsBase64)
                {
                    writer.WriteBoolean("keyBase64", true);
                }
            }

            writer.WriteString("keyValue", "inline");
            writer.WriteBase64String("payload", inline.Payload.Span);
            WriteTail(writer, message);
            return;
        }

        if (message.Key.Text is { } key)
        {
            writer.WriteString("key", key);
            if (message.Key.IsBase64)
            {
                writer.WriteBoolean("keyBase64", true);
            }
        }

        writer.WritePropertyName("value");
        if (!message.HasValue)
        {
            writer.WriteNullValue();
        }
        else if (!Utf8.IsValid(message.Value.Span))
        {
            // Bytes that are not text (a corrupt or binary payload) travel as base64, so that the line
            // is valid UTF-8 JSON and keeps every byte.
            writer.WriteBase64StringValue(message.Value.Span);
            writer.WriteBoolean("valueBase64", true);
        }
        else if (IsJsonObject(message.Value.Span))
        {
            writer.WriteRawValue(message.Value.Span, skipInputValidation: true);
        }
        else
        {
            writer.WriteStringValue(Encoding.UTF8.GetString(message.Value.Span));
        }

        if (message.KeyValueEncoding == KeyValueEncoding.Separated)
        {
            writer.WriteString("keyValue", "separated");
        }

        WriteTail(writer, message);
    }

    private static void WriteTail(Utf8JsonWriter writer, SourceMessage message)
    {
        if (message.Properties.Count > 0)
        {
            writer.WriteStartObject("properties");
            foreach (var (name, value) in message.Properties)
            {
                writer.WriteString(name, value);
            }

            writer.WriteEndObject();
        }

        if (message.PublishTime is { } publish)
        {
            writer.WriteString("publishTime", Time(publish));
        }

        if (message.EventTime is { } eventTime)
        {
            writer.WriteString("eventTime", Time(eventTime));
        }

        writer.WriteEndObject();
    }

    private static string Time(DateTimeOffset time) => time.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);

    private static bool IsJsonObject(ReadOnlySpan<byte> value)
    {
        try
        {
            var reader = new Utf8JsonReader(value);
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return false;
            }

            reader.Skip();
            return !reader.Read();
        }
        catch (JsonException)
        {
            return false;
        }
    }
}
