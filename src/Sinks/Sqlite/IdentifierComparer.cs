namespace Sync.Sinks.Sqlite;
/// <summary>Compares identifiers as SQLite does: case-insensitive for ASCII letters only.</summary>
internal sealed class IdentifierComparer : IEqualityComparer<string>, IComparer<string>
{
    public static readonly IdentifierComparer Instance = new();

    public bool Equals(string? x, string? y) => Compare(x, y) == 0;

    public int GetHashCode(string obj)
    {
        var hash = new HashCode();
        foreach (var c in obj)
        {
            hash.Add(char.IsAsciiLetterUpper(c) ? (char)(c | 0x20) : c);
        }

        return hash.ToHashCode();
    }

    public int Compare(string? x, string? y)
    {
        if (ReferenceEquals(x, y))
        {
            return 0;
        }

        if (x is null)
        {
            return -1;
        }

        if (y is null)
        {
            return 1;
        }

        var n = Math.Min(x.Length, y.Length);
        for (var i = 0; i < n; i++)
        {
            var a = char.IsAsciiLetterUpper(x[i]) ? (char)(x[i] | 0x20) : x[i];
            var b = char.IsAsciiLetterUpper(y[i]) ? (char)(y[i] | 0x20) : y[i];
            if (a != b)
            {
                return a.CompareTo(b);
            }
        }

        return x.Length.CompareTo(y.Length);
    }
}
