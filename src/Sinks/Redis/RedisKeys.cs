namespace Sync.Sinks.Redis;

/// <summary>
/// The keys sync keeps for itself under <see cref="RedisSinkOptions.KeyPrefix"/> (P), next to the data:
/// <list type="bullet">
/// <item><c>P s:{n}:{table}:{rowKey}</c> — the version state of a row key (a string, see <see cref="RedisState"/>):
/// live rows keep it as long as the row (no expiry, or the target's TTL); a delete turns it into a
/// delete marker that expires after the target's <c>deleteMarkerTtl</c>. <c>{n}</c> is the table name's
/// length, so that one table's states can be enumerated without matching another table's.</item>
/// <item><c>P r:{n}:{table}:{H}rowKey</c> — on a Redis Cluster only, the index keys a row left whose
/// sets may still hold it (<see cref="LeftIndexes"/>); empty (absent) once the index update ran.</item>
/// <item><c>P t:{n}:{table}</c> — the table's truncate marker (a state; expires like delete markers).</item>
/// <item><c>P m:{n}:{table}</c> — table metadata (a hash): <c>key</c> = the key columns as a JSON array,
/// <c>c:{column}</c> = 1 for every column ever stored.</item>
/// <item><c>P generation:{n}:{table}</c> — the live key generation's prefix after a shadow backfill
/// (e.g. <c>users@2:</c>); readers put it before every row and index key.</item>
/// <item><c>P generation-pointer:{n}:{table}</c> — on a Redis Cluster only: the name of the table's
/// generation pointer <c>P generation:{n}:{table}:{…}</c>, which carries the hash tag of the checkpoint key
/// of the materializer that shadow-backfills the table (<see cref="ClusterGeneration"/>).</item>
/// <item><c>P checkpoint:{materializer}</c> — the checkpoint (a hash: stream -> <c>ledger:entry:batch</c>).</item>
/// </list>
/// On a Redis Cluster (<paramref name="cluster"/>) a row's state key carries the row key's hash tag:
/// <c>P s:{n}:{table}:{H}rowKey</c>, where <c>H</c> is the part of the row key that Redis hashes
/// (<see cref="HashPart"/>), so that the row, its version state and its delete marker are in one slot and
/// one script can change them atomically (the key distribution model of the Redis Cluster specification:
/// https://redis.io/docs/latest/operate/oss_and_stack/reference/cluster-spec/#hash-tags). The standalone
/// layout is unchanged.
/// </summary>
public sealed class RedisKeys(string prefix, bool cluster = false)
{
    public string Prefix { get; } = prefix;

    /// <summary>Whether state keys carry their row key's hash tag (a Redis Cluster).</summary>
    public bool Cluster { get; } = cluster;

    public string StatePrefix(string table) => $"{Prefix}s:{Scoped(table)}:";

    public string State(string table, string rowKey) => StateHead(table, rowKey) + rowKey;

    /// <summary>What comes before the row key in its state key: the state prefix, and on a cluster the
    /// row key's hash tag. Throws where the row key cannot share its slot (<see cref="ClusterProblem"/>).</summary>
    public string StateHead(string table, string rowKey)
    {
        if (!Cluster)
        {
            return StatePrefix(table);
        }

        var part = HashPart(rowKey);
        if (ClusterProblem(table, rowKey) is { } problem)
        {
            throw new ArgumentException(problem, nameof(rowKey));
        }

        return StatePrefix(table) + "{" + part + "}";
    }

    /// <summary>The row key a state key of the table belongs to (the state prefix and any hash tag removed).</summary>
    public string RowKeyOf(string table, string stateKey)
    {
        var rest = stateKey[StatePrefix(table).Length..];
        return Cluster ? rest[(rest.IndexOf('}', StringComparison.Ordinal) + 1)..] : rest;
    }

    /// <summary>Why a row key's state cannot be put in its slot on a cluster, or null. A hash tag is the
    /// text between the first <c>{</c> and the first <c>}</c> after it, so the state key's tag can only
    /// reproduce a hashed part without <c>}</c>, and only when nothing before it (prefix, table) opens a tag.</summary>
    public string? ClusterProblem(string table, string rowKey)
    {
        if (!Cluster)
        {
            return null;
        }

        if (StatePrefix(table).Contains('{', StringComparison.Ordinal))
        {
            return $"on a Redis Cluster neither keyPrefix ({Prefix}) nor the table name ({table}) may contain '{{': the version key of each row must carry its row key's hash tag";
        }

        return HashPart(rowKey).Contains('}', StringComparison.Ordinal)
            ? $"its Redis key ({rowKey}) has a '}}' outside a hash tag, so on a Redis Cluster its version key cannot be put in its slot; use a hash tag ({{…}}) in the key template"
            : null;
    }

    /// <summary>The part of a key that Redis Cluster hashes: the text between the first <c>{</c> and the
    /// first <c>}</c> after it when that is not empty, else the whole key (cluster spec, "Hash tags").</summary>
    public static string HashPart(string key)
    {
        var open = key.IndexOf('{', StringComparison.Ordinal);
        if (open < 0)
        {
            return key;
        }

        var close = key.IndexOf('}', open + 1);
        return close > open + 1 ? key[(open + 1)..close] : key;
    }

    /// <summary>On a cluster, the set of index keys a row left and whose sets may still hold it (a string
    /// set in the row key's slot, like its state: <c>P r:{n}:{table}:{H}rowKey</c>). The row's script adds
    /// them in its atomic step; the index update removes the row from those sets, then them from here,
    /// so that a crash in between leaves the work recorded for the replay.</summary>
    public string LeftIndexes(string table, string rowKey) => $"{Prefix}r:{Scoped(table)}:" + "{" + HashPart(rowKey) + "}" + rowKey;

    public string TruncateMarker(string table) => $"{Prefix}t:{Scoped(table)}";

    public string Meta(string table) => $"{Prefix}m:{Scoped(table)}";

    public string Checkpoint(string materializer) => $"{Prefix}checkpoint:{materializer}";

    /// <summary>The table's live key generation: a string holding the prefix readers put before every
    /// row and index key (absent: no prefix, the keys written before any shadow backfill).</summary>
    public string Generation(string table) => $"{Prefix}generation:{Scoped(table)}";

    /// <summary>On a Redis Cluster, the table's live key generation as switched by the shadow backfills of
    /// <paramref name="materializer"/>: the pointer carries the hash tag of the materializer's checkpoint key,
    /// so that one script in that slot can check the checkpoint, move it and switch the pointer. Null when
    /// the checkpoint key's hashed part holds a <c>}</c> and so cannot be put in a tag.</summary>
    public string? ClusterGeneration(string table, string materializer)
    {
        var part = HashPart(Checkpoint(materializer));
        return part.Contains('}', StringComparison.Ordinal) || Generation(table).Contains('{', StringComparison.Ordinal)
            ? null
            : Generation(table) + ":{" + part + "}";
    }

    /// <summary>On a Redis Cluster, the name of the table's generation pointer (<see cref="ClusterGeneration"/>),
    /// set once, before the first switch, and never changed: readers and the sink's calls that do not name
    /// a materializer (erase, count) find the pointer through it.</summary>
    public string GenerationLocator(string table) => $"{Prefix}generation-pointer:{Scoped(table)}";

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
