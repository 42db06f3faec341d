namespace Sync.Engine.Formats;

/// <summary>Rewrites a message's value without its before image, for an erasure that must remove
/// a subject from a key's latest message without changing the key's state: the row now belongs to
/// someone else, only the image of what it was before names the erased subject.</summary>
public static class BeforeImageScrubber
{
    /// <summary>The property a scrubbed copy carries: the position of the message it replaces.</summary>
    public const string ScrubbedProperty = "sync.scrubbed";

    /// <summary>The position of the message that a scrubbed copy replaces, or null for any other message.</summary>
    public static StreamPosition? ScrubbedFrom(SourceMessage message)
    {
        ArgumentNullException.ThrowIfNull(message);
        return message.PositionProperty(ScrubbedProperty);
    }

    /// <summary>The value of <paramref name="message"/> in <paramref name="format"/> with its before
    /// image removed, every other byte as it was; the value itself when it has no before image.</summary>
    /// <exception cref="DecodeException">The value cannot be rewritten; the message names the topic and position.</exception>
    /// <exception cref="ArgumentException">The format is unknown.</exception>
    public static ReadOnlyMemory<byte> Scrub(string format, SourceMessage message)
    {
        ArgumentNullException.ThrowIfNull(format);
        ArgumentNullException.ThrowIfNull(message);
        return format switch
        {
            MessageFormats.DebeziumJson => ScrubEnvelope(message),
            // A plain JSON row is only the row as it is now: there is no before image to remove.
            MessageFormats.Json => message.Value,
            // A flattened row (ExtractNewRecordState) carries one image; a rewritten delete's row is
            // the deleted state, kept as the key's state like any other row.
            MessageFormats.DebeziumFlat => message.Value,
            _ => throw new ArgumentException($"unknown message format '{format}'; known formats: {string.Join(", ", MessageFormats.Names)}", nameof(format)),
        };
    }

    /// <summary>Sets <c>before</c> to null in a Debezium envelope: inside <c>payload</c> when the value
    /// is the <c>{schema, payload}</c> wrapper (a root with <c>payload</c> and no <c>op</c>, the rule
    /// <see cref="DebeziumJsonDecoder"/> decodes by), else at the top level. The envelope schema
    /// declares <c>before</c> optional, so the schema stays valid as it is.</summary>
    private static ReadOnlyMemory<byte> ScrubEnvelope(SourceMessage message)
    {
        var value = message.Value;
        try
        {
            if (value.IsEmpty)
            {
                throw Problem(message, "the value is empty (a tombstone)");
            }

            var root = Members(value.Span, 0, message, "value");
            var envelope = root;
            var offset = 0;
            if (root.Find("payload") is { } payload && root.Find("op") is null)
            {
                if (payload.Token != JsonTokenType.StartObject)
                {
                    throw Problem(message, $"payload is {Kind(payload.Token)}, not a Debezium envelope");
                }

                offset = payload.Start;
                envelope = Members(value.Span[payload.Start..payload.End], offset, message, "payload");
            }

            var befores = envelope.All("before").Where(b => b.Token != JsonTokenType.Null).OrderByDescending(b => b.Start).ToList();
            if (befores.Count == 0)
            {
                return value;
            }

            var result = value.ToArray();
            foreach (var before in befores)
            {
                result = [.. result.AsSpan(0, before.Start), .. "null"u8, .. result.AsSpan(before.End)];
            }

            return result;
        }
        catch (JsonException e)
        {
            // The reader's message quotes the offending character, which may be personal data.
            throw Problem(message, $"the value is not valid JSON (line {e.LineNumber + 1}, byte {e.BytePositionInLine})");
        }
    }

    private static DecodeException Problem(SourceMessage message, string problem) =>
        new($"{message.Describe()}: cannot remove the before image: {problem}");

    private static string Kind(JsonTokenType token) => token switch
    {
        JsonTokenType.StartArray => "an array",
        JsonTokenType.String => "a string",
        JsonTokenType.Number => "a number",
        JsonTokenType.True or JsonTokenType.False => "a boolean",
        JsonTokenType.Null => "null",
        _ => token.ToString(),
    };

    /// <summary>The members of the object that <paramref name="json"/> holds entirely, with the byte
    /// range of each value (shifted by <paramref name="offset"/>).</summary>
    private static ObjectMembers Members(ReadOnlySpan<byte> json, int offset, SourceMessage message, string what)
    {
        var reader = new Utf8JsonReader(json, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Disallow });
        if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
        {
            throw Problem(message, $"{what} is {Kind(reader.TokenType)}, not a JSON object");
        }

        var members = new ObjectMembers();
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var name = reader.GetString()!;
            reader.Read();
            var start = (int)reader.TokenStartIndex;
            var token = reader.TokenType;
            reader.Skip();
            members.Add(new Member(name, token, offset + start, offset + (int)reader.BytesConsumed));
        }

        // Reading on makes the reader refuse anything after the object.
        while (reader.Read())
        {
        }

        return members;
    }

    private sealed record Member(string Name, JsonTokenType Token, int Start, int End);

    private sealed class ObjectMembers : List<Member>
    {
        public Member? Find(string name) => this.FirstOrDefault(m => m.Name == name);

        public IEnumerable<Member> All(string name) => this.Where(m => m.Name == name);
    }
}
