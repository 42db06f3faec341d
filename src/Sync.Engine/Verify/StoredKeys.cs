namespace Sync.Engine.Verify;

/// <summary>Keys as sinks store them in their state (a delete marker's <c>key_text</c>: the change's
/// <see cref="ChangeEvent.KeyText"/>, a JSON object of the key columns).</summary>
public static class StoredKeys
{
    /// <summary>The key (or row) a JSON object names, read as <see cref="EpochReconciliation.DeleteOf"/>
    /// reads a stored key: integers as such, other numbers as exact decimals, strings as text, nested
    /// objects and arrays as JSON.</summary>
    /// <exception cref="JsonException">The text is no JSON.</exception>
    /// <exception cref="InvalidOperationException">The JSON is no object.</exception>
    public static Row FromKeyText(string keyText) => EpochReconciliation.DeleteOf(keyText, string.Empty, StreamPosition.Start, 0).Key;
}
