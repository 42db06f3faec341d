namespace Sync.Engine.Formats;

/// <summary>The <c>op</c> codes of a Debezium change event and the <see cref="ChangeOp"/> each names,
/// in one table for both JSON readers and for messages: <c>c</c> create, <c>u</c> update, <c>d</c>
/// delete, <c>r</c> snapshot read, <c>t</c> truncate (Debezium's <c>Envelope.Operation</c>,
/// debezium-core <c>io/debezium/data/Envelope.java</c>).</summary>
internal static class OpCodes
{
    private static readonly (byte[] Code, ChangeOp Op)[] All =
    [
        ("c"u8.ToArray(), ChangeOp.Create),
        ("u"u8.ToArray(), ChangeOp.Update),
        ("d"u8.ToArray(), ChangeOp.Delete),
        ("r"u8.ToArray(), ChangeOp.Read),
        ("t"u8.ToArray(), ChangeOp.Truncate),
    ];

    /// <summary>The op a JSON string names; false for any other text.</summary>
    public static bool TryRead(JsonElement value, out ChangeOp op)
    {
        var i = 0;
        while (i < All.Length && !value.ValueEquals(All[i].Code))
        {
            i++;
        }

        return Found(i, out op);
    }

    /// <summary>The op the reader's current string token names; false for any other text.</summary>
    public static bool TryRead(ref Utf8JsonReader reader, out ChangeOp op)
    {
        var i = 0;
        while (i < All.Length && !reader.ValueTextEquals(All[i].Code))
        {
            i++;
        }

        return Found(i, out op);
    }

    private static bool Found(int index, out ChangeOp op)
    {
        op = index < All.Length ? All[index].Op : default;
        return index < All.Length;
    }

    /// <summary>The code of <paramref name="op"/>, as a message names it; <c>tombstone</c> has none.</summary>
    public static string Code(ChangeOp op)
    {
        foreach (var (code, named) in All)
        {
            if (named == op)
            {
                return JsonInput.Text(code);
            }
        }

        return "tombstone";
    }
}
