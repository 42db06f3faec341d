namespace Sync.Engine.Formats;

/// <summary>The path of a value inside a message, for error messages: <c>payload.after.price</c>.
/// Built only when an error is reported, so decoding allocates no paths.</summary>
internal readonly record struct FieldPath(string Parent, string Name, string? Sub = null)
{
    public override string ToString()
    {
        var head = Parent.Length == 0 ? Name : Parent + "." + Name;
        return Sub is null ? head : head + "." + Sub;
    }

    public FieldPath With(string sub) => new(Parent, Name, Sub is null ? sub : Sub + "." + sub);

    public static FieldPath Of(string path) => new(string.Empty, path);
}

/// <summary>Builds <see cref="DecodeException"/> messages. A message names where the problem is and
/// what kind of JSON token was found, never the value itself: values may be personal data.</summary>
internal static class DecodeErrors
{
    public static string KindName(JsonValueKind kind) => kind switch
    {
        JsonValueKind.Object => "Object",
        JsonValueKind.Array => "Array",
        JsonValueKind.String => "String",
        JsonValueKind.Number => "Number",
        JsonValueKind.True or JsonValueKind.False => "Boolean",
        JsonValueKind.Null => "Null",
        _ => "nothing",
    };

    public static DecodeException Expected(FieldPath path, string expected, string typeLabel, JsonElement found) =>
        new($"{path}: expected {expected} for {typeLabel}, found {KindName(found.ValueKind)}");

    public static DecodeException Expected(string path, string expected, JsonElement found) =>
        new($"{path}: expected {expected}, found {KindName(found.ValueKind)}");

    public static DecodeException At(FieldPath path, string problem) => new($"{path}: {problem}");

    /// <summary>Malformed JSON: names the byte offset (from the start of <paramref name="json"/>), not the
    /// reader's message, which quotes the offending character.</summary>
    public static DecodeException Malformed(string what, ReadOnlySpan<byte> json, JsonException exception)
    {
        if (exception.LineNumber is not { } line || exception.BytePositionInLine is not { } inLine)
        {
            // JsonDocument reports a duplicate property after reading, without a position.
            return new DecodeException(exception.Message.StartsWith("Duplicate property", StringComparison.Ordinal)
                ? $"{what}: a JSON object has a duplicate property"
                : $"{what}: malformed JSON");
        }

        return new DecodeException($"{what}: malformed JSON at byte offset {ByteOffset(json, line, inLine)}");
    }

    /// <summary>Turns the reader's line and byte-in-line into an offset from the start of the input.</summary>
    public static long ByteOffset(ReadOnlySpan<byte> json, long line, long bytePositionInLine)
    {
        long start = 0;
        for (long l = 0; l < line; l++)
        {
            var rest = json[(int)Math.Min(start, json.Length)..];
            var newline = rest.IndexOf((byte)'\n');
            if (newline < 0)
            {
                break;
            }

            start += newline + 1;
        }

        return start + bytePositionInLine;
    }
}
