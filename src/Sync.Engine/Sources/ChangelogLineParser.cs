namespace Sync.Engine.Sources;

/// <summary>Parses one changelog line: <c>{"topic", "key"?, "keyBase64"?, "value", "valueBase64"?, "properties"?,
/// "publishTime"?, "eventTime"?, "keyValue"?, "payload"?}</c>. Works on the line's UTF-8 bytes; the
/// value is kept as a slice of them. <c>"keyValue": "inline"</c> marks a Pulsar KeyValue INLINE
/// message: its <c>"payload"</c> (base64) holds key and value as Pulsar IO writes them with
/// <c>json-with-envelope: true</c> (see <see cref="KeyValuePayload"/>), and <c>"key"</c> is the
/// message key as sent (the base64 text of the payload's key, not flagged); with a <c>"value"</c>
/// instead of a payload, the payload is built from key and value. <c>"keyValue": "separated"</c>
/// marks a SEPARATED one (payload = value, key = message key). <c>"valueBase64": true</c> marks a
/// <c>"value"</c> string holding the payload's bytes in base64 (a payload that is not valid UTF-8).</summary>
public static class ChangelogLineParser
{
    /// <summary>Parses <paramref name="line"/> (which the message keeps, so it must not be reused).</summary>
    /// <exception cref="FormatException">The line is not a valid changelog message; the message says why.</exception>
    public static SourceMessage Parse(ReadOnlyMemory<byte> line, StreamPosition position, out string? topicSeen)
    {
        topicSeen = null;
        string? topic = null;
        MessageKey key = default;
        var keyBase64 = false;
        var valueBase64 = false;
        var hasValue = false;
        var valueIsNull = false;
        ReadOnlyMemory<byte> value = default;
        Dictionary<string, string>? properties = null;
        DateTimeOffset? publishTime = null;
        DateTimeOffset? eventTime = null;
        var keyIsString = false;
        var keyValue = KeyValueEncoding.None;
        byte[]? payload = null;

        var reader = new Utf8JsonReader(line.Span, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Disallow, MaxDepth = 256 });
        try
        {
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                throw new FormatException("a changelog line must be a JSON object");
            }

            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var name = reader.GetString();
                reader.Read();
                switch (name)
                {
                    case "topic":
                        if (reader.TokenType != JsonTokenType.String || reader.GetString() is not { Length: > 0 } t)
                        {
                            throw new FormatException("\"topic\" must be a non-empty string");
                        }

                        topic = t;
                        topicSeen = t;
                        break;
                    case "key":
                        (key, keyIsString) = ReadKey(ref reader, line);
                        break;
                    case "keyBase64":
                        if (reader.TokenType is not (JsonTokenType.True or JsonTokenType.False))
                        {
                            throw new FormatException("\"keyBase64\" must be true or false");
                        }

                        keyBase64 = reader.GetBoolean();
                        break;
                    case "valueBase64":
                        if (reader.TokenType is not (JsonTokenType.True or JsonTokenType.False))
                        {
                            throw new FormatException("\"valueBase64\" must be true or false");
                        }

                        valueBase64 = reader.GetBoolean();
                        break;
                    case "value":
                        hasValue = true;
                        (value, valueIsNull) = ReadValue(ref reader, line);
                        break;
                    case "properties":
                        properties = ReadProperties(ref reader);
                        break;
                    case "publishTime":
                        publishTime = ReadTime(ref reader, "publishTime");
                        break;
                    case "eventTime":
                        eventTime = ReadTime(ref reader, "eventTime");
                        break;
                    case "keyValue":
                        keyValue = reader.TokenType == JsonTokenType.String ? reader.GetString() switch
                        {
                            "inline" => KeyValueEncoding.Inline,
                            "separated" => KeyValueEncoding.Separated,
                            "none" => KeyValueEncoding.None,
                            var other => throw new FormatException($"\"keyValue\" ({other}) must be inline, separated or none"),
                        }
                        : throw new FormatException("\"keyValue\" must be a string: inline, separated or none");
                        break;
                    case "payload":
                        if (reader.TokenType != JsonTokenType.String)
                        {
                            throw new FormatException("\"payload\" must be a string holding base64");
                        }

                        try
                        {
                            payload = Convert.FromBase64String(reader.GetString()!);
                        }
                        catch (System.FormatException)
                        {
                            throw new FormatException("\"payload\" is not valid base64");
                        }

                        break;
                    default:
                        throw new FormatException($"unknown field \"{name}\" (known: topic, key, keyBase64, value, valueBase64, properties, publishTime, eventTime, keyValue, payload)");
                }
            }

            if (reader.TokenType != JsonTokenType.EndObject || reader.Read())
            {
                throw new FormatException("unexpected content after the JSON object");
            }
        }
        catch (JsonException e)
        {
            throw new FormatException($"invalid JSON at byte {reader.BytesConsumed}: {FirstSentence(e.Message)}", e);
        }
        catch (InvalidOperationException e)
        {
            // The reader checks a string's UTF-8 and escapes only when it is read (GetString), and
            // reports a bad one this way: invalid bytes, or an escaped lone surrogate (\ud800).
            throw new FormatException($"invalid text in a string ending at byte {reader.BytesConsumed}: {FirstSentence(e.Message)}", e);
        }

        if (topic is null)
        {
            throw new FormatException("\"topic\" is required");
        }

        if (payload is not null && (keyValue != KeyValueEncoding.Inline || hasValue))
        {
            throw new FormatException("\"payload\" belongs to \"keyValue\": \"inline\" lines, instead of \"value\"");
        }

        if (!hasValue && payload is null)
        {
            throw new FormatException(keyValue == KeyValueEncoding.Inline
                ? "\"keyValue\": \"inline\" needs \"payload\" (base64) or \"value\""
                : "\"value\" is required (null for a tombstone)");
        }

        if (valueBase64)
        {
            if (!hasValue || valueIsNull || !System.Buffers.Text.Base64.IsValid(value.Span))
            {
                throw new FormatException("\"valueBase64\": true needs \"value\" to be a string holding base64");
            }

            value = Convert.FromBase64String(Encoding.ASCII.GetString(value.Span));
        }

        if (keyBase64)
        {
            if (!key.IsPresent || !keyIsString)
            {
                throw new FormatException("\"keyBase64\": true needs \"key\" to be a string holding base64");
            }

            var buffer = new byte[key.Text!.Length];
            if (!Convert.TryFromBase64String(key.Text, buffer, out _))
            {
                throw new FormatException("\"key\" is not valid base64 although \"keyBase64\" is true");
            }

            key = key with { IsBase64 = true };
        }

        var message = new SourceMessage
        {
            Topic = topic,
            Position = position,
            Key = key,
            Value = payload ?? value,
            HasValue = payload is not null || !valueIsNull,
            Properties = properties ?? Origin.EmptyProperties,
            PublishTime = publishTime,
            EventTime = eventTime,
            KeyValueEncoding = keyValue,
        };
        if (keyValue != KeyValueEncoding.Inline)
        {
            return message;
        }

        if (payload is null)
        {
            // Built from key and value, as Pulsar IO would send them.
            return KeyValuePayload.ToInline(message);
        }

        return KeyValuePayload.UnwrapInline(message, out var error) ?? throw new FormatException(error);
    }

    private static (MessageKey Key, bool IsString) ReadKey(ref Utf8JsonReader reader, ReadOnlyMemory<byte> line)
    {
        switch (reader.TokenType)
        {
            case JsonTokenType.Null:
                return (MessageKey.None, false);
            case JsonTokenType.String:
                return (new MessageKey(reader.GetString(), false), true);
            default:
                var raw = RawValue(ref reader, line);
                return (new MessageKey(Encoding.UTF8.GetString(raw.Span), false), false);
        }
    }

    private static (ReadOnlyMemory<byte> Value, bool IsNull) ReadValue(ref Utf8JsonReader reader, ReadOnlyMemory<byte> line)
    {
        switch (reader.TokenType)
        {
            case JsonTokenType.Null:
                return (default, true);
            case JsonTokenType.String:
                // A value given as a string holds the message payload as text (an empty string is an empty payload).
                return (Encoding.UTF8.GetBytes(reader.GetString()!), false);
            case JsonTokenType.StartObject:
                return (RawValue(ref reader, line), false);
            default:
                throw new FormatException("\"value\" must be a JSON object, a string holding the payload, or null");
        }
    }

    private static ReadOnlyMemory<byte> RawValue(ref Utf8JsonReader reader, ReadOnlyMemory<byte> line)
    {
        var start = (int)reader.TokenStartIndex;
        reader.Skip();
        var end = (int)reader.BytesConsumed;
        return line[start..end];
    }

    private static Dictionary<string, string> ReadProperties(ref Utf8JsonReader reader)
    {
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            throw new FormatException("\"properties\" must be an object of strings");
        }

        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var name = reader.GetString()!;
            reader.Read();
            if (reader.TokenType != JsonTokenType.String)
            {
                throw new FormatException($"\"properties.{name}\" must be a string");
            }

            result[name] = reader.GetString()!;
        }

        return result;
    }

    private static DateTimeOffset ReadTime(ref Utf8JsonReader reader, string field)
    {
        if (reader.TokenType == JsonTokenType.String
            && DateTimeOffset.TryParse(reader.GetString(), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var time))
        {
            return time;
        }

        throw new FormatException($"\"{field}\" must be an ISO-8601 date-time string");
    }

    /// <summary>Finds the topic of a line that failed to parse, so that its dead letter can name it.</summary>
    public static bool TryReadTopic(ReadOnlyMemory<byte> line, out string? topic)
    {
        topic = null;
        try
        {
            var reader = new Utf8JsonReader(line.Span);
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return false;
            }

            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var isTopic = reader.ValueTextEquals("topic"u8);
                reader.Read();
                if (isTopic && reader.TokenType == JsonTokenType.String)
                {
                    topic = reader.GetString();
                    return true;
                }

                reader.Skip();
            }
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException)
        {
            // The line is broken before or inside the topic (bad JSON, bad UTF-8): no topic to report.
        }

        return false;
    }

    private static string FirstSentence(string message)
    {
        var end = message.IndexOf(" LineNumber", StringComparison.Ordinal);
        return (end > 0 ? message[..end] : message).TrimEnd('.', ' ');
    }
}
