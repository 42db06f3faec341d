namespace Sync.Engine.Verify;

/// <summary>Keys as sinks store them in their state (a delete marker's <c>key_text</c>: the change's
/// <see cref="ChangeEvent.KeyText"/>, a JSON object of the key columns).</summary>
public static class StoredKeys
{
    /// <summary>The key a key text names: numbers as exact decimals, strings as text, anything else as JSON.</summary>
    public static Row FromKeyText(string keyText)
    {
        using var document = JsonDocument.Parse(keyText);
        var names = new List<string>();
        var values = new List<FieldValue>();
        foreach (var column in document.RootElement.EnumerateObject())
        {
            names.Add(column.Name);
            values.Add(column.Value.ValueKind switch
            {
                JsonValueKind.Number => FieldValue.FromDecimalText(column.Value.GetRawText()),
                JsonValueKind.String => FieldValue.FromString(column.Value.GetString()!),
                JsonValueKind.True => FieldValue.FromBoolean(true),
                JsonValueKind.False => FieldValue.FromBoolean(false),
                JsonValueKind.Null => FieldValue.Null,
                _ => FieldValue.FromJson(column.Value.GetRawText()),
            });
        }

        return new Row([.. names], [.. values]);
    }
}
