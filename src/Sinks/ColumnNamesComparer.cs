namespace Sync.Sinks;

/// <summary>Compares column-name arrays by content, so that rows from a decoder that allocates a
/// names array per message still find the statements cached for their column set.</summary>
internal sealed class ColumnNamesComparer : IEqualityComparer<string[]>
{
    public static readonly ColumnNamesComparer Instance = new();

    public bool Equals(string[]? x, string[]? y) =>
        ReferenceEquals(x, y) || (x is not null && y is not null && x.AsSpan().SequenceEqual(y));

    public int GetHashCode(string[] obj)
    {
        ArgumentNullException.ThrowIfNull(obj);
        var hash = new HashCode();
        foreach (var name in obj)
        {
            hash.Add(name, StringComparer.Ordinal);
        }

        return hash.ToHashCode();
    }
}
