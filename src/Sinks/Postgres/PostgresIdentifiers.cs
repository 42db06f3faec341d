namespace Sync.Sinks.Postgres;

/// <summary>Identifier rules: any text PostgreSQL can hold as a quoted identifier — not empty, no NUL,
/// at most 63 bytes of UTF-8 (PostgreSQL silently truncates longer names, which could make two
/// columns collide) — always written double-quoted with inner quotes doubled, so a name such as
/// <c>x"; drop table users; --</c> is a column of exactly that name and never SQL.</summary>
public static class PostgresIdentifiers
{
    /// <summary>NAMEDATALEN - 1.</summary>
    public const int MaxBytes = 63;

    /// <summary>Null when <paramref name="name"/> can be used, else why not (the name is not repeated).</summary>
    public static string? Problem(string? name, int maxBytes = MaxBytes)
    {
        if (string.IsNullOrEmpty(name))
        {
            return "is empty";
        }

        if (name.Contains('\0', StringComparison.Ordinal))
        {
            return "contains a NUL character";
        }

        var bytes = Encoding.UTF8.GetByteCount(name);
        return bytes > maxBytes ? $"is {bytes} bytes long; PostgreSQL identifiers hold at most {maxBytes}" : null;
    }

    /// <summary>Validation messages for a config field holding an identifier.</summary>
    public static IReadOnlyList<string> Validate(string path, string? name, int maxBytes = MaxBytes) =>
        Problem(name, maxBytes) is { } problem
            ? [$"{path} ({(string.IsNullOrEmpty(name) ? "empty" : name.Replace("\0", "\\0", StringComparison.Ordinal))}) must be a PostgreSQL identifier: it {problem}"]
            : [];

    /// <summary><c>"name"</c> with inner double quotes doubled.</summary>
    public static string Quote(string identifier) => "\"" + identifier.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";

    /// <summary><c>"schema"."table"</c>.</summary>
    public static string Qualified(string schema, string table) => Quote(schema) + "." + Quote(table);
}
