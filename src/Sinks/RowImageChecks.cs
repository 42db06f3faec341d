namespace Sync.Sinks;

/// <summary>Checks of a row image that the table sinks make before they write it.</summary>
internal static class RowImageChecks
{
    /// <summary>Why the image cannot be written under its key — a key column missing from it, or
    /// NULL, named as <paramref name="quote"/> spells it — or null when every key column has a value.</summary>
    public static string? MissingKey(string[] keyNames, Row image, Func<string, string> quote)
    {
        foreach (var key in keyNames)
        {
            var i = image.IndexOf(key);
            if (i < 0)
            {
                return $"key column {quote(key)} is missing from the row image";
            }

            if (image.Values[i].IsNull)
            {
                return $"key column {quote(key)} is NULL";
            }
        }

        return null;
    }
}
