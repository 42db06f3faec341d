using System.ComponentModel;

namespace Sync.Sinks.Redis;

/// <summary>How a row is stored under its key.</summary>
public enum RedisValueFormat
{
    /// <summary>A hash, one field per column holding the value's canonical text; a NULL column has no field.</summary>
    Hash,

    /// <summary>A string holding the row as a JSON object (numbers stay numbers, decimals exact, NULL as null).</summary>
    Json,
}

/// <summary>A materializer's <c>target:</c> block for a Redis sink, e.g.
/// <c>target: { keyTemplate: "{tenant}:user:{id}", format: hash, fields: [name, email], ttl: 7d, indexes: ["users:by_email:{email}"] }</c>.</summary>
public sealed class RedisTargetOptions : IValidatable
{
    /// <summary>The row's key: literal text with <c>{column}</c> placeholders (<c>{{</c>, <c>}}</c> for
    /// literal braces). Placeholders must be exactly the key columns: a key built from another column
    /// would move when that column changes, and a key that leaves out a key column would be shared by
    /// rows (changes that break this are rejected with the reason). Values are inserted verbatim.
    /// Default: the materializer's <c>table</c>, then every key column's value in key order, each after a
    /// <c>:</c> (<c>users:42</c>, <c>orders:eu:7</c>).</summary>
    [Description("The row's key: text with `{column}` placeholders naming exactly the key columns (`{{`/`}}` for literal braces); values are inserted verbatim. Default: `<table>:<key values joined by :>`. Example: `{tenant}:user:{id}`.")]
    public string? KeyTemplate { get; set; }

    /// <summary><see cref="RedisValueFormat.Hash"/> (default) or <see cref="RedisValueFormat.Json"/>.</summary>
    [Description("`hash` (default: one field per column, canonical text, NULL = no field) or `json` (a string holding the row as a JSON object).")]
    public RedisValueFormat Format { get; set; } = RedisValueFormat.Hash;

    /// <summary>Only these columns are stored (in every format); default every column of the row.</summary>
    [Description("Store only these columns; default all. Example: `[name, email]`.")]
    public List<string>? Fields { get; set; }

    /// <summary>Each row key (and its version) expires this long after its last write; default never.</summary>
    [Description("Each row expires this long after its last write (its version with it); default never. Example: `7d`.")]
    public TimeSpan? Ttl { get; set; }

    /// <summary>Secondary index sets, each a key template over any columns, e.g. <c>users:by_email:{email}</c>:
    /// the set holds the keys of the rows whose columns render to it. Kept exact on update and delete;
    /// a row whose placeholder column is NULL or absent is in no set of that index.</summary>
    [Description("Secondary index sets: key templates over any columns; each set holds the keys of the rows that render to it, kept exact on update and delete. Example: `[\"users:by_email:{email}\"]`.")]
    public List<string>? Indexes { get; set; }

    /// <summary>How long a deleted key's version (a delete marker) is kept, so that a late, older create
    /// cannot bring the row back. An older change that arrives after that would be applied. Default 24 h.</summary>
    [Description("How long a deleted key's version (delete marker) is kept so that a late, older create cannot bring the row back. Default 24h.")]
    public TimeSpan DeleteMarkerTtl { get; set; } = TimeSpan.FromHours(24);

    /// <summary>The key generation the target is written in ("" before any shadow backfill); set by
    /// the sink, never by config.</summary>
    internal string GenerationPrefix { get; private set; } = string.Empty;

    /// <summary>A copy of these options for the key generation with the given prefix. A member-wise
    /// copy, so that a key added to the options is carried into the generation without a list to keep.</summary>
    internal RedisTargetOptions InGeneration(string prefix)
    {
        var copy = (RedisTargetOptions)MemberwiseClone();
        copy.GenerationPrefix = prefix;
        return copy;
    }

    public IReadOnlyList<string> Validate(string path)
    {
        var problems = new List<string>();
        if (KeyTemplate is not null)
        {
            if (!RedisKeyTemplate.TryParse(KeyTemplate, out var template, out var error))
            {
                problems.Add($"{path}.keyTemplate ({Show(KeyTemplate)}) {error}");
            }
            else if (template.Placeholders.Count == 0)
            {
                problems.Add($"{path}.keyTemplate ({Show(KeyTemplate)}) must name the key columns as {{column}}: every row would share one key");
            }
        }

        if (Fields is not null)
        {
            if (Fields.Count == 0)
            {
                problems.Add($"{path}.fields (empty) must name at least one column when set");
            }

            var seen = new HashSet<string>(StringComparer.Ordinal);
            for (var i = 0; i < Fields.Count; i++)
            {
                if (string.IsNullOrEmpty(Fields[i]))
                {
                    problems.Add($"{path}.fields[{i}] (empty) must be a column name");
                }
                else if (!seen.Add(Fields[i]))
                {
                    problems.Add($"{path}.fields[{i}] ({Fields[i]}) is listed twice");
                }
            }
        }

        if (Ttl is { } ttl && (ttl < TimeSpan.FromMilliseconds(1) || ttl > TimeSpan.FromDays(3650)))
        {
            problems.Add($"{path}.ttl ({Durations.Format(ttl)}) must be between 1ms and 3650d");
        }

        if (Indexes is not null)
        {
            var seen = new HashSet<string>(StringComparer.Ordinal);
            for (var i = 0; i < Indexes.Count; i++)
            {
                var text = Indexes[i];
                if (!RedisKeyTemplate.TryParse(text, out var template, out var error))
                {
                    problems.Add($"{path}.indexes[{i}] ({Show(text)}) {error}");
                }
                else if (template.Placeholders.Count == 0)
                {
                    problems.Add($"{path}.indexes[{i}] ({Show(text)}) must name at least one column as {{column}}");
                }
                else if (!seen.Add(text))
                {
                    problems.Add($"{path}.indexes[{i}] ({Show(text)}) is listed twice");
                }
            }
        }

        if (DeleteMarkerTtl < TimeSpan.FromSeconds(1) || DeleteMarkerTtl > TimeSpan.FromDays(3650))
        {
            problems.Add($"{path}.deleteMarkerTtl ({Durations.Format(DeleteMarkerTtl)}) must be between 1s and 3650d");
        }

        return problems;
    }

    private static string Show(string? text) => string.IsNullOrEmpty(text) ? "empty" : text.ReplaceLineEndings(" ");
}
