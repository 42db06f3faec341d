using System.Text.Unicode;

namespace Sync.Engine.Formats;

/// <summary>Parsing of message bytes shared by the JSON decoders: UTF-8 check, parse, error offsets.</summary>
internal static class JsonInput
{
    private static readonly JsonDocumentOptions DocumentOptions = new() { AllowDuplicateProperties = false };

    /// <summary>Parses <paramref name="bytes"/> as one JSON document without copying them.
    /// Invalid UTF-8, malformed JSON and duplicate properties are <see cref="DecodeException"/>s
    /// naming <paramref name="what"/> and the byte offset.</summary>
    public static JsonDocument Parse(ReadOnlyMemory<byte> bytes, string what, bool utf8Checked = false)
    {
        if (!utf8Checked)
        {
            RequireUtf8(bytes.Span, what);
        }

        try
        {
            return JsonDocument.Parse(bytes, DocumentOptions);
        }
        catch (JsonException e)
        {
            throw DecodeErrors.Malformed(what, bytes.Span, e);
        }
        catch (InvalidOperationException)
        {
            // The duplicate-property check unescapes names and refuses an unpaired surrogate (\ud800).
            throw new DecodeException($"{what}: a property name is not valid Unicode text");
        }
    }

    /// <summary>Parses like <see cref="Parse"/>, but returns null for text that is not JSON.</summary>
    public static JsonDocument? TryParse(ReadOnlyMemory<byte> bytes)
    {
        try
        {
            return JsonDocument.Parse(bytes, DocumentOptions);
        }
        catch (JsonException)
        {
            return null;
        }
        catch (InvalidOperationException)
        {
            return null;
        }
    }

    public static void RequireUtf8(ReadOnlySpan<byte> bytes, string what)
    {
        if (!Utf8.IsValid(bytes))
        {
            throw new DecodeException($"{what}: not valid UTF-8 at byte offset {InvalidUtf8Offset(bytes)}");
        }
    }

    private static int InvalidUtf8Offset(ReadOnlySpan<byte> bytes)
    {
        var offset = 0;
        while (offset < bytes.Length)
        {
            if (System.Text.Rune.DecodeFromUtf8(bytes[offset..], out _, out var consumed) != System.Buffers.OperationStatus.Done)
            {
                return offset;
            }

            offset += consumed;
        }

        return offset;
    }

    /// <summary>The UTF-8 text of bytes already checked to be valid.</summary>
    public static string Text(ReadOnlySpan<byte> bytes) => Encoding.UTF8.GetString(bytes);

    /// <summary>Kafka JsonConverter's wrapper with schemas enabled: an object with exactly the
    /// properties <c>schema</c> (a schema object or null) and <c>payload</c>.</summary>
    public static bool IsSchemaWrapper(JsonElement root, out JsonElement schema, out JsonElement payload)
    {
        schema = default;
        payload = default;
        return root.ValueKind == JsonValueKind.Object
            && root.GetPropertyCount() == 2
            && root.TryGetProperty("payload", out payload)
            && root.TryGetProperty("schema", out schema)
            && schema.ValueKind is JsonValueKind.Object or JsonValueKind.Null;
    }

    /// <summary>The fast path for <c>{"schema":S,"payload":P}</c> messages whose schema S is cached:
    /// the schema bytes are compared, not tokenized, and only P is parsed. Returns null (use the
    /// full parse) when the message has another shape, the schema is not among the recent ones,
    /// or P is not one JSON value followed by the closing brace.</summary>
    public static JsonDocument? TryParseCachedWrapper<T>(ReadOnlyMemory<byte> value, SchemaCache<T> cache, out T? plan)
        where T : class
    {
        plan = null;
        var span = value.Span;
        var i = SkipWhitespace(span, 0);
        if (!Expect(span, ref i, (byte)'{') || !Expect(span, ref i, "\"schema\""u8) || !Expect(span, ref i, (byte)':'))
        {
            return null;
        }

        if (!cache.TryMatchPrefix(span[i..], out var cached, out var schemaLength))
        {
            return null;
        }

        i += schemaLength;
        if (!Expect(span, ref i, (byte)',') || !Expect(span, ref i, "\"payload\""u8) || !Expect(span, ref i, (byte)':'))
        {
            return null;
        }

        var end = span.Length;
        while (end > i && IsWhitespace(span[end - 1]))
        {
            end--;
        }

        if (end <= i || span[end - 1] != (byte)'}')
        {
            return null;
        }

        var document = TryParse(value[i..(end - 1)]);
        if (document is not null)
        {
            plan = cached;
        }

        return document;
    }

    private static bool Expect(ReadOnlySpan<byte> span, ref int i, byte b)
    {
        i = SkipWhitespace(span, i);
        if (i >= span.Length || span[i] != b)
        {
            return false;
        }

        i++;
        return true;
    }

    private static bool Expect(ReadOnlySpan<byte> span, ref int i, ReadOnlySpan<byte> token)
    {
        i = SkipWhitespace(span, i);
        if (!span[i..].StartsWith(token))
        {
            return false;
        }

        i += token.Length;
        return true;
    }

    private static int SkipWhitespace(ReadOnlySpan<byte> span, int i)
    {
        while (i < span.Length && IsWhitespace(span[i]))
        {
            i++;
        }

        return i;
    }

    private static bool IsWhitespace(byte b) => b is (byte)' ' or (byte)'\t' or (byte)'\n' or (byte)'\r';

    /// <summary>The object under <paramref name="name"/> of <paramref name="parent"/> (at <paramref name="at"/>)
    /// and its path; false when the property is absent or null.</summary>
    /// <exception cref="DecodeException">The property holds something else than an object: the message
    /// names the path and <paramref name="expected"/>.</exception>
    public static bool TryGetObject(JsonElement parent, string name, string at, string expected, out JsonElement value, out string path)
    {
        path = string.Empty;
        if (!parent.TryGetProperty(name, out value) || value.ValueKind == JsonValueKind.Null)
        {
            return false;
        }

        path = Child(at, name);
        return value.ValueKind == JsonValueKind.Object ? true : throw DecodeErrors.Expected(path, expected, value);
    }

    /// <summary>A path below <paramref name="parent"/>; the root has the empty path.</summary>
    public static string Child(string parent, string name) => parent.Length == 0 ? name : parent + "." + name;
}
