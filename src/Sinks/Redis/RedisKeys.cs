namespace Sync.Sinks.Redis;

/// <summary>
/// The keys sync keeps for itself under <see cref="RedisSinkOptions.KeyPrefix"/> (P), next to the data:
/// <list type="bullet">
/// <item><c>P s:{n}:{table}:{rowKey}</c> — the version state of a row key (a string, see <see cref="RedisState"/>):
/// live rows keep it as long as the row (no expiry, or the target's TTL); a delete turns it into a
/// delete marker that expires after the target's <c>deleteMarkerTtl</c>. <c>{n}</c> is the table name's
/// length, so that one table's states can be enumerated without matching another table's.</item>
/// <item><c>P t:{n}:{table}</c> — the table's truncate marker (a state; expires like delete markers).</item>
/// <item><c>P m:{n}:{table}</c> — table metadata (a hash): <c>key</c> = the key columns as a JSON array,
/// <c>c:{column}</c> = 1 for every column ever stored.</item>
/// <item><c>P generation:{n}:{table}</c> — the live key generation's prefix after a shadow backfill
/// (e.g. <c>users@2:</c>); readers put it before every row and index key.</item>
/// <item><c>P checkpoint:{materializer}</c> — the checkpoint (a hash: stream -> <c>ledger:entry:batch</c>).</item>
/// </list>
/// </summary>
public sealed class RedisKeys(string prefix)
{
    public string Prefix { get; } = prefix;

    public string StatePrefix(string table) => $"{Prefix}s:{Scoped(table)}:";

    public string State(string table, string rowKey) => StatePrefix(table) + rowKey;

    public string TruncateMarker(string table) => $"{Prefix}t:{Scoped(table)}";

    public string Meta(string table) => $"{Prefix}m:{Scoped(table)}";

    public string Checkpoint(string materializer) => $"{Prefix}checkpoint:{materializer}";

    /// <summary>The table's live key generation: a string holding the prefix readers put before every
    /// row and index key (absent: no prefix, the keys written before any shadow backfill).</summary>
    public string Generation(string table) => $"{Prefix}generation:{Scoped(table)}";

    /// <summary>A SCAN pattern matching every state key of the table (literal parts escaped).</summary>
    public string StatePattern(string table) => EscapePattern(StatePrefix(table)) + "*";

    /// <summary>Escapes the glob characters of <c>SCAN MATCH</c> (<c>* ? [ ] \</c>) so that text matches only itself.</summary>
    public static string EscapePattern(string text)
    {
        var sb = new StringBuilder(text.Length + 8);
        foreach (var c in text)
        {
            if (c is '*' or '?' or '[' or ']' or '\\')
            {
                sb.Append('\\');
            }

            sb.Append(c);
        }

        return sb.ToString();
    }

    private static string Scoped(string table) => table.Length.ToString(CultureInfo.InvariantCulture) + ":" + table;
}

/// <summary>
/// A row key's version state, stored as a string: the numbers first, comma-separated —
/// deleted flag (<c>0</c>/<c>1</c>), LSN (empty when none is known), ledger, entry, batch index, the
/// number of index keys — then length-prefixed texts (<c>len:bytes</c>, lengths in UTF-8 bytes, so that
/// any text, newlines and colons included, round-trips): the key as canonical JSON, the stream, and
/// the index set keys the row is a member of. The Lua script reads and writes the same encoding.
/// Example: <c>0,42,0,42,-1,0,8:{"id":1}5:items</c>.
/// </summary>
public sealed record RedisState(bool Deleted, ChangeVersion Version, string KeyText, IReadOnlyList<string> Indexes)
{
    public string Encode()
    {
        var sb = new StringBuilder();
        sb.Append(Deleted ? '1' : '0').Append(',')
            .Append(Version.Lsn?.ToString(CultureInfo.InvariantCulture)).Append(',')
            .Append(Version.Position.Ledger.ToString(CultureInfo.InvariantCulture)).Append(',')
            .Append(Version.Position.Entry.ToString(CultureInfo.InvariantCulture)).Append(',')
            .Append(Version.Position.BatchIndex.ToString(CultureInfo.InvariantCulture)).Append(',')
            .Append(Indexes.Count.ToString(CultureInfo.InvariantCulture)).Append(',');
        Field(sb, KeyText);
        Field(sb, Version.Stream);
        foreach (var index in Indexes)
        {
            Field(sb, index);
        }

        return sb.ToString();
    }

    /// <summary>Parses a stored state (its UTF-8 bytes); null when the value is not one (a foreign value).</summary>
    public static RedisState? TryParse(byte[]? bytes)
    {
        if (bytes is null)
        {
            return null;
        }

        var numbers = new string[6];
        var i = 0;
        for (var n = 0; n < numbers.Length; n++)
        {
            var comma = Array.IndexOf(bytes, (byte)',', i);
            if (comma < 0)
            {
                return null;
            }

            numbers[n] = Encoding.ASCII.GetString(bytes, i, comma - i);
            i = comma + 1;
        }

        var texts = new List<string>();
        while (i < bytes.Length)
        {
            var colon = Array.IndexOf(bytes, (byte)':', i);
            if (colon < 0 || !int.TryParse(Encoding.ASCII.GetString(bytes, i, colon - i), NumberStyles.None, CultureInfo.InvariantCulture, out var length)
                || colon + 1 + length > bytes.Length)
            {
                return null;
            }

            texts.Add(Encoding.UTF8.GetString(bytes, colon + 1, length));
            i = colon + 1 + length;
        }

        if (numbers[0] is not ("0" or "1")
            || !long.TryParse(numbers[2], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var ledger)
            || !long.TryParse(numbers[3], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var entry)
            || !int.TryParse(numbers[4], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var batch)
            || !int.TryParse(numbers[5], NumberStyles.None, CultureInfo.InvariantCulture, out var indexCount)
            || texts.Count != 2 + indexCount)
        {
            return null;
        }

        long? lsn = numbers[1].Length == 0 ? null : long.Parse(numbers[1], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);
        return new RedisState(numbers[0] == "1", new ChangeVersion(lsn, texts[1], new StreamPosition(ledger, entry, batch)), texts[0], texts.Skip(2).ToArray());
    }

    private static void Field(StringBuilder sb, string value) =>
        sb.Append(Encoding.UTF8.GetByteCount(value).ToString(CultureInfo.InvariantCulture)).Append(':').Append(value);
}
