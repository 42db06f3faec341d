using System.ComponentModel;
using System.ComponentModel.DataAnnotations;
using System.Text.RegularExpressions;

namespace Sync.Engine.Config;

/// <summary>Which columns of the row reach the sink, and under which names.</summary>
public sealed class ColumnsOptions : IValidatable
{
    [Description("Keep only these columns (by source name). Key columns are always kept.")]
    public List<string>? Include { get; set; }

    [Description("Drop these columns (by source name). Key columns cannot be dropped.")]
    public List<string>? Exclude { get; set; }

    [Description("Rename columns: source name -> sink name. Applies to key columns too.")]
    public Dictionary<string, string>? Rename { get; set; }

    public IReadOnlyList<string> Validate(string path)
    {
        var problems = new List<string>();
        if (Include is not null && Exclude is not null)
        {
            problems.Add($"{path}.include ([{string.Join(", ", Include)}]) and exclude ([{string.Join(", ", Exclude)}]) are both set: keep some columns or drop some, not both");
        }

        if (Rename is not null)
        {
            foreach (var (from, to) in Rename)
            {
                if (string.IsNullOrWhiteSpace(to))
                {
                    problems.Add($"{path}.rename.{from} must name the new column");
                }
            }

            foreach (var duplicate in Rename.Values.GroupBy(v => v, StringComparer.Ordinal).Where(g => g.Count() > 1))
            {
                problems.Add($"{path}.rename: {duplicate.Count()} columns are renamed to {duplicate.Key}");
            }
        }

        return problems;
    }
}

/// <summary>Where a fan-in materializer takes the tenant from, and the key column it goes into.</summary>
public sealed class TenantOptions : IValidatable
{
    /// <summary>The places a tenant can be read from.</summary>
    public static readonly string[] Sources = ["topic", "source.db", "source.schema", "source.name"];

    [Required]
    [Description("Name of the tenant column; it joins the key (first), so rows of different tenants never collide.")]
    public string Column { get; set; } = string.Empty;

    [Description("Where the tenant comes from: `topic`, `source.db`, `source.schema` or `source.name`.")]
    public string From { get; set; } = "source.db";

    [Description("A regular expression applied to that value; its group `tenant` is the tenant. Default: the whole value.")]
    public string? Pattern { get; set; }

    public IReadOnlyList<string> Validate(string path)
    {
        var problems = new List<string>();
        if (!Sources.Contains(From))
        {
            problems.Add($"{path}.from ({From}) must be one of: {string.Join(", ", Sources)}");
        }

        if (Pattern is not null)
        {
            try
            {
                var regex = new Regex(Pattern, RegexOptions.None, TimeSpan.FromSeconds(1));
                if (!regex.GetGroupNames().Contains("tenant"))
                {
                    problems.Add($"{path}.pattern ({Pattern}) must have a group named tenant, e.g. (?<tenant>[^.]+)");
                }
            }
            catch (ArgumentException e)
            {
                problems.Add($"{path}.pattern ({Pattern}) is not a valid regular expression: {e.Message}");
            }
        }

        return problems;
    }
}
