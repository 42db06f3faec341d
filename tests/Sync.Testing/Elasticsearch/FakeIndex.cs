using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;

namespace Sync.Testing.Elasticsearch;

/// <summary>One index of the fake: one shard, its documents with versions and sequence numbers,
/// delete tombstones, mappings, settings, aliases, and the searchable view that a refresh publishes.</summary>
internal sealed class FakeIndex
{
    private readonly TimeProvider _time;
    private long _nextSeqNo;

    public FakeIndex(string name, TimeProvider time)
    {
        Name = name;
        _time = time;
    }

    public string Name { get; }

    /// <summary>Realtime state (what GET and writes see): live documents and tombstones.</summary>
    public Dictionary<string, FakeDoc> Docs { get; } = new(StringComparer.Ordinal);

    /// <summary>What search, count and delete-by-query see: the state as of the last refresh.
    /// Real Elasticsearch makes writes searchable only on refresh (every
    /// <c>index.refresh_interval</c>, on <c>_refresh</c>, or with <c>?refresh</c>); GET is realtime.
    /// The fake has no periodic refresh.</summary>
    public Dictionary<string, FakeDoc> Searchable { get; private set; } = new(StringComparer.Ordinal);

    /// <summary><c>{"properties":{…}}</c> plus <c>dynamic</c>, <c>date_detection</c>, <c>dynamic_templates</c>, <c>_meta</c> when set.</summary>
    public JsonObject Mappings { get; set; } = new() { ["properties"] = new JsonObject() };

    /// <summary>Flat settings, e.g. <c>index.gc_deletes</c> = <c>24h</c>.</summary>
    public Dictionary<string, string> Settings { get; } = new(StringComparer.Ordinal);

    public HashSet<string> Aliases { get; } = new(StringComparer.Ordinal);

    public long NextSeqNo() => _nextSeqNo++;

    /// <summary>How long the version of a deleted document is remembered: <c>index.gc_deletes</c>, default 60s
    /// (https://www.elastic.co/docs/reference/elasticsearch/index-settings/index-modules). Within it a
    /// write with an older external version conflicts with the tombstone; after it the id is unknown.</summary>
    public TimeSpan GcDeletes =>
        Settings.TryGetValue("index.gc_deletes", out var text) && FakeDurations.TryParse(text, out var value) ? value : TimeSpan.FromSeconds(60);

    /// <summary>The document or tombstone of an id, as the version map sees it now; expired tombstones are forgotten.</summary>
    public FakeDoc? Lookup(string id, DateTimeOffset now)
    {
        if (!Docs.TryGetValue(id, out var doc))
        {
            return null;
        }

        if (doc.Source is null && doc.DeletedAt is { } at && now - at > GcDeletes)
        {
            Docs.Remove(id);
            return null;
        }

        return doc;
    }

    public void Refresh()
    {
        Searchable = Docs.Where(d => d.Value.Source is not null).ToDictionary(d => d.Key, d => d.Value, StringComparer.Ordinal);
    }

    public DateTimeOffset Now => _time.GetUtcNow();

    /// <summary>A stable pseudo UUID of an index name, for <c>index_uuid</c> in responses.</summary>
    public static string UuidOf(string index) =>
        Convert.ToBase64String(SHA256.HashData(Encoding.UTF8.GetBytes(index)), 0, 16).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}

/// <summary>A document version: its <c>_source</c> (null for a delete tombstone), version, sequence number.</summary>
internal sealed record FakeDoc(string Id, string? Source, long Version, long SeqNo, DateTimeOffset? DeletedAt)
{
    public JsonObject? Parsed => Source is null ? null : JsonNode.Parse(Source) as JsonObject;
}

internal static class FakeDurations
{
    /// <summary>Elasticsearch time units: <c>d h m s ms micros nanos</c>, e.g. <c>60s</c>, <c>24h</c>.</summary>
    public static bool TryParse(string text, out TimeSpan value)
    {
        value = default;
        var units = new (string Unit, double Ms)[] { ("nanos", 1e-6), ("micros", 1e-3), ("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000) };
        foreach (var (unit, ms) in units)
        {
            if (text.EndsWith(unit, StringComparison.Ordinal)
                && double.TryParse(text.AsSpan(0, text.Length - unit.Length), System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var n)
                && !(unit == "s" && text.EndsWith("ms", StringComparison.Ordinal))
                && !(unit == "s" && text.EndsWith("nanos", StringComparison.Ordinal))
                && !(unit == "s" && text.EndsWith("micros", StringComparison.Ordinal)))
            {
                value = TimeSpan.FromMilliseconds(n * ms);
                return true;
            }
        }

        return false;
    }
}
