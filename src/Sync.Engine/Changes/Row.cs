namespace Sync.Engine.Changes;

/// <summary>A row image or a key: named values in source order, with the schema when one was sent.</summary>
public sealed class Row
{
    public Row(string[] names, FieldValue[] values, RowSchema? schema = null)
    {
        if (names.Length != values.Length)
        {
            throw new ArgumentException("names and values differ in length", nameof(values));
        }

        Names = names;
        Values = values;
        Schema = schema;
    }

    public static Row Empty { get; } = new([], []);

    public string[] Names { get; }

    public FieldValue[] Values { get; }

    /// <summary>Column types from the message schema; null for schemaless messages.</summary>
    public RowSchema? Schema { get; }

    public int Count => Names.Length;

    public int IndexOf(string name) => Array.IndexOf(Names, name);

    public bool TryGet(string name, out FieldValue value)
    {
        var i = IndexOf(name);
        value = i >= 0 ? Values[i] : default;
        return i >= 0;
    }

    public FieldValue this[string name] => TryGet(name, out var v) ? v : throw new KeyNotFoundException($"column '{name}' is not in the row");

    /// <summary>Which columns are <see cref="FieldValue.Unavailable"/> (the source did not send them, so
    /// a sink keeps their stored values), by index; null when every column was sent.</summary>
    public bool[]? UnavailableColumns()
    {
        bool[]? unavailable = null;
        for (var i = 0; i < Values.Length; i++)
        {
            if (Values[i].IsUnavailable)
            {
                (unavailable ??= new bool[Values.Length])[i] = true;
            }
        }

        return unavailable;
    }

    /// <summary>The row as a JSON object, values written exactly (see <see cref="FieldValue.WriteTo"/>).</summary>
    public string ToJson()
    {
        // Once per change (its key text): the writer and its buffer are kept per thread instead of
        // made anew each time. One that grew past 64 KB for a large row is let go afterwards.
        var scratch = t_jsonScratch ?? new JsonScratch();
        t_jsonScratch = null;
        scratch.Buffer.ResetWrittenCount();
        scratch.Writer.Reset(scratch.Buffer);
        WriteTo(scratch.Writer);
        scratch.Writer.Flush();
        var text = Encoding.UTF8.GetString(scratch.Buffer.WrittenSpan);
        if (scratch.Buffer.Capacity <= 64 * 1024)
        {
            t_jsonScratch = scratch;
        }

        return text;
    }

    [ThreadStatic]
    private static JsonScratch? t_jsonScratch;

    private sealed class JsonScratch
    {
        public JsonScratch() => Writer = new Utf8JsonWriter(Buffer);

        public System.Buffers.ArrayBufferWriter<byte> Buffer { get; } = new(256);

        public Utf8JsonWriter Writer { get; }
    }

    public void WriteTo(Utf8JsonWriter writer)
    {
        writer.WriteStartObject();
        for (var i = 0; i < Names.Length; i++)
        {
            writer.WritePropertyName(Names[i]);
            Values[i].WriteTo(writer);
        }

        writer.WriteEndObject();
    }

    public override string ToString() => ToJson();
}
