using System.ComponentModel;
using System.Text.RegularExpressions;

namespace Sync.Sinks.Elasticsearch;

/// <summary>How JSON columns (json, jsonb, structs kept as JSON) are mapped.</summary>
public enum JsonMapping
{
    /// <summary><c>flattened</c>: the whole object is searchable by its leaf values; a JSON value that is not an object is rejected by Elasticsearch.</summary>
    Flattened,

    /// <summary><c>object</c> with <c>enabled: false</c>: any JSON is kept in <c>_source</c>, nothing of it is searchable.</summary>
    Disabled,
}

/// <summary>A materializer's <c>target:</c> block for an Elasticsearch sink:
/// <c>target: { index: 'users-{tenant}', tenantField: tenant_id, alias: users, textFields: [bio] }</c>.</summary>
public sealed partial class ElasticsearchTargetOptions : IValidatable
{
    /// <summary>The placeholders an index or alias template may hold.</summary>
    public static readonly IReadOnlyList<string> Placeholders = ["table", "tenant", "db", "schema", "sourceTable"];

    /// <summary>Index name template. Default: the materializer's <c>table</c>. Placeholders: <c>{table}</c> (the
    /// materializer's table), <c>{tenant}</c> (the value of <see cref="TenantField"/>), <c>{db}</c>,
    /// <c>{schema}</c>, <c>{sourceTable}</c> (from the change's source). Substituted values are lower-cased; a
    /// change whose name is still not a valid index name is rejected with the reason (dead letter).</summary>
    [Description("Index name template; default: the materializer's `table`. Placeholders: `{table}`, `{tenant}` (value of `tenantField`), `{db}`, `{schema}`, `{sourceTable}`; values are lower-cased. Example: `users-{tenant}`.")]
    public string? Index { get; set; }

    /// <summary>The column whose value <c>{tenant}</c> stands for (it must be in the row, and in the key or the
    /// before image for deletes). Default none: then <c>{tenant}</c> is the source database.</summary>
    [Description("Column whose value `{tenant}` stands for; default: the source database name.")]
    public string? TenantField { get; set; }

    /// <summary>Create a missing index with mappings from the Debezium schema (exact types), the dynamic
    /// rules of this sink and <c>index.gc_deletes</c> = <see cref="DeleteRetention"/>. Default true. With
    /// false the index must exist (or Elasticsearch auto-creates it with its own dynamic mapping).</summary>
    [Description("Create a missing index with exact mappings from the Debezium schema. Default true.")]
    public bool CreateIndex { get; set; } = true;

    /// <summary>An alias (template, same placeholders) added to every index this target creates. Default none.</summary>
    [Description("Alias (template, same placeholders) added to every index the sink creates. Default none.")]
    public string? Alias { get; set; }

    /// <summary>Primary shards of created indices. Default: the cluster's default (1).</summary>
    [Description("Primary shards of created indices. Default: the cluster default.")]
    public int? Shards { get; set; }

    /// <summary>Replicas of created indices. Default: the cluster's default (1).</summary>
    [Description("Replicas of created indices. Default: the cluster default.")]
    public int? Replicas { get; set; }

    /// <summary>String columns mapped as <c>text</c> (full-text, with a <c>keyword</c> sub-field); every other
    /// string column is a <c>keyword</c>. Default none.</summary>
    [Description("String columns mapped as full-text `text` (with a `.keyword` sub-field); other strings are `keyword`. Default none.")]
    public List<string>? TextFields { get; set; }

    /// <summary>How JSON columns are mapped. Default <see cref="JsonMapping.Flattened"/>.</summary>
    [Description("Mapping of JSON columns: `flattened` (searchable leaves; values must be objects) or `disabled` (kept in _source only). Default flattened.")]
    public JsonMapping JsonMapping { get; set; } = JsonMapping.Flattened;

    /// <summary>How long Elasticsearch remembers the version of a deleted document (<c>index.gc_deletes</c> of
    /// created indices), so that a late, older write of that id conflicts instead of bringing it back.
    /// Default 24 h (Elasticsearch's own default is 60 s). Tombstones live in the heap of the data nodes.</summary>
    [Description("How long a deleted document's version is remembered (`index.gc_deletes` of created indices) so that a late, older write cannot bring it back. Default 24h.")]
    public TimeSpan DeleteRetention { get; set; } = TimeSpan.FromHours(24);

    public IReadOnlyList<string> Validate(string path)
    {
        var problems = new List<string>();
        CheckTemplate(Index, "index", path, problems);
        CheckTemplate(Alias, "alias", path, problems);
        var usesTenant = (Index?.Contains("{tenant}", StringComparison.Ordinal) ?? false) || (Alias?.Contains("{tenant}", StringComparison.Ordinal) ?? false);
        if (TenantField is { Length: 0 })
        {
            problems.Add($"{path}.tenantField (empty) must name a column when set");
        }

        if (TenantField is not null && !usesTenant)
        {
            problems.Add($"{path}.tenantField ({TenantField}) is set but neither index nor alias uses {{tenant}}");
        }

        problems.MustBeBetween($"{path}.shards", Shards, 1, 1024);
        problems.MustBeBetween($"{path}.replicas", Replicas, 0, 32);

        if (TextFields is not null && TextFields.Any(string.IsNullOrEmpty))
        {
            problems.Add($"{path}.textFields must not hold empty names");
        }

        problems.MustBePositive($"{path}.deleteRetention", DeleteRetention);

        return problems;
    }

    private static void CheckTemplate(string? template, string key, string path, List<string> problems)
    {
        if (template is null)
        {
            return;
        }

        if (template.Length == 0)
        {
            problems.Add($"{path}.{key} (empty) must be an index name or template");
            return;
        }

        foreach (Match m in Placeholder().Matches(template))
        {
            if (!Placeholders.Contains(m.Groups[1].Value))
            {
                problems.Add($"{path}.{key} ({template}) uses unknown placeholder {{{m.Groups[1].Value}}} (known: {string.Join(", ", Placeholders.Select(p => "{" + p + "}"))})");
                return;
            }
        }

        // The fixed parts must already be valid: render every placeholder as a plain letter.
        var sample = Placeholder().Replace(template, "x");
        if (IndexNames.Problem(sample) is { } problem)
        {
            problems.Add($"{path}.{key} ({template}) {problem}");
        }
    }

    /// <summary>The index template, or the table when none was set.</summary>
    internal string IndexTemplate(string table) => Index ?? table;

    /// <summary>A copy of these options writing to another index (a shadow backfill's new index), with
    /// no alias of its own: the alias is moved at the swap.</summary>
    internal ElasticsearchTargetOptions WithIndex(string index)
    {
        var copy = (ElasticsearchTargetOptions)MemberwiseClone();
        copy.Index = index;
        copy.Alias = null;
        return copy;
    }

    /// <summary>A pattern matching every index the template can produce (placeholders as <c>*</c>).</summary>
    internal static string Pattern(string template) => Placeholder().Replace(template, "*");

    internal static bool IsTemplate(string template) => Placeholder().IsMatch(template);

    /// <summary>The template rendered for a change; null with the reason when a value is missing or the name is invalid.</summary>
    internal string? Render(string template, string table, ChangeEvent change, out string? problem)
    {
        problem = null;
        if (!IsTemplate(template))
        {
            return template;
        }

        string? missing = null;
        var result = Placeholder().Replace(template, m =>
        {
            var value = m.Groups[1].Value switch
            {
                "table" => table,
                "tenant" => TenantValue(change),
                "db" => change.Source?.Db,
                "schema" => change.Source?.Schema,
                "sourceTable" => change.Source?.Table,
                _ => null,
            };
            if (string.IsNullOrEmpty(value))
            {
                missing ??= m.Groups[1].Value;
                return string.Empty;
            }

            return value.ToLowerInvariant();
        });
        if (missing is not null)
        {
            problem = missing == "tenant" && TenantField is not null
                ? $"the tenant column \"{TenantField}\" is missing or NULL in the change, so the index name template {template} cannot be rendered"
                : $"the change has no {missing}, so the index name template {template} cannot be rendered";
            return null;
        }

        if (IndexNames.Problem(result) is { } invalid)
        {
            problem = $"the index name rendered from {template} {invalid}";
            return null;
        }

        return result;
    }

    private string? TenantValue(ChangeEvent change)
    {
        if (TenantField is null)
        {
            return change.Source?.Db;
        }

        foreach (var row in new[] { change.After, change.Key, change.Before })
        {
            // (a column the source did not send names no tenant: the next image may)
            if (row is not null && row.TryGet(TenantField, out var value) && !value.IsNull && !value.IsUnavailable)
            {
                return value.ToText();
            }
        }

        return null;
    }

    [GeneratedRegex(@"\{([A-Za-z]*)\}")]
    private static partial Regex Placeholder();
}

/// <summary>Helpers shared by the writer: document ids from keys.</summary>
public static class DocumentIds
{
    /// <summary>Elasticsearch refuses an <c>_id</c> over 512 bytes (UTF-8).</summary>
    public const int MaxIdBytes = 512;

    /// <summary>The <c>_id</c> of a key: the single key column's canonical text (<see cref="FieldValue.ToText"/>),
    /// verbatim — <c>/</c>, <c>?</c>, <c>#</c>, spaces and any Unicode included; for a composite key the key's
    /// canonical JSON (<see cref="ChangeEvent.KeyText"/>, e.g. <c>{"tenant":"a","id":1}</c>).</summary>
    public static string? Of(Row key) => key.Count == 1 ? key.Values[0].ToText() : key.ToJson();

    public static int ByteCount(string id) => Encoding.UTF8.GetByteCount(id);

    public static string Describe(IEnumerable<string> names) => string.Join(", ", names.Select(n => "\"" + n + "\""));

    public static string Invariant(long value) => value.ToString(CultureInfo.InvariantCulture);
}
