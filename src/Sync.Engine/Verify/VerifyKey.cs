using System.Security.Cryptography;

namespace Sync.Engine.Verify;

/// <summary>A key as both sides of a verification can name it. A sink reads its key columns back in its
/// own types (a numeric key column may come back as text, an integer as a decimal), so keys are matched
/// on a canonical text — column names lower-cased and sorted, numbers as exact normalized numerals,
/// UUIDs lower-cased, everything else as its invariant text — and spread over partitions by its hash.
/// A key of one column is its value alone: a sink that names documents by the key's value (an
/// Elasticsearch <c>_id</c>) knows no column name.</summary>
public static class VerifyKey
{
    /// <summary>The canonical text of a key.</summary>
    public static string Canonical(Row key)
    {
        ArgumentNullException.ThrowIfNull(key);
        if (key.Count == 1)
        {
            return ValueText(key.Values[0]);
        }

        var parts = new (string Name, string Value)[key.Count];
        for (var i = 0; i < key.Count; i++)
        {
            parts[i] = (key.Names[i].ToLowerInvariant(), ValueText(key.Values[i]));
        }

        Array.Sort(parts, (a, b) => string.CompareOrdinal(a.Name, b.Name));
        var text = new StringBuilder();
        foreach (var (name, value) in parts)
        {
            text.Append(name).Append('\u001e').Append(value).Append('\u001f');
        }

        return text.ToString();
    }

    /// <summary>The first 64 bits of the canonical text's SHA-256: the partition of the key, and the
    /// order in which drifted keys are sampled. A report never shows it: a plain hash of a key from a
    /// small key space is found by hashing every key; it shows <see cref="SampleKey.HashOf"/>.</summary>
    public static ulong Hash(string canonical)
    {
        Span<byte> digest = stackalloc byte[32];
        SHA256.HashData(Encoding.UTF8.GetBytes(canonical), digest);
        return System.Buffers.Binary.BinaryPrimitives.ReadUInt64BigEndian(digest);
    }

    private static string ValueText(FieldValue value) => value.Kind switch
    {
        ValueKind.Null => "\u0000",
        ValueKind.Int64 => value.AsInt64.ToString(CultureInfo.InvariantCulture),
        ValueKind.Decimal or ValueKind.Double => ValueEquality.Numeral(value.ToText()!) ?? value.ToText()!,
        ValueKind.Uuid => value.AsText.ToLowerInvariant(),
        ValueKind.Unavailable => "\u0001",
        _ => value.ToText()!,
    };
}
