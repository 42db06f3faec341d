using System.ComponentModel;

namespace Sync.Sinks.Postgres;

/// <summary>A materializer's <c>target:</c> block for a Postgres sink, e.g.
/// <c>target: { schema: crm, schemaEvolution: none, versionColumn: _version }</c>.</summary>
public sealed class PostgresTargetOptions : IValidatable
{
    /// <summary>The schema of the table; the sink's <c>schema</c> when absent. Default none.</summary>
    [Description("Schema of the table; the sink's `schema` when absent.")]
    public string? Schema { get; set; }

    /// <summary><c>none</c> or <c>add-columns</c>. Default <c>add-columns</c>.</summary>
    [Description("`add-columns` adds a new column as nullable (never drops); `none` rejects a change that has a column the table lacks. Default `add-columns`.")]
    public SchemaEvolution SchemaEvolution { get; set; } = SchemaEvolution.AddColumns;

    /// <summary>The bookkeeping column holding each row's source LSN; two more columns named after it
    /// (<c>_stream</c>, <c>_position</c> suffixes) hold the stream and position. Default <c>_sync_version</c>.</summary>
    [Description("Column holding each row's source LSN; `<name>_stream` and `<name>_position` hold its stream and position. Default `_sync_version`.")]
    public string VersionColumn { get; set; } = "_sync_version";

    /// <summary>The fill factor of a table the sink creates (10–100). Below 100, an update of a row can
    /// stay on its page (a HOT update) and leave the primary key index alone, which makes an
    /// update-heavy changelog markedly cheaper to apply. Ignored for tables that already exist. Default 80.</summary>
    [Description("Fill factor (10-100) of a table the sink creates; room on each page lets updates skip index maintenance (HOT). Default 80.")]
    public int FillFactor { get; set; } = 80;

    public static PostgresTargetOptions Default { get; } = new();

    public IReadOnlyList<string> Validate(string path)
    {
        var problems = new List<string>();
        if (Schema is not null)
        {
            problems.AddRange(PostgresIdentifiers.Validate($"{path}.schema", Schema));
        }

        if (!Enum.IsDefined(SchemaEvolution))
        {
            problems.Add($"{path}.schemaEvolution ({(int)SchemaEvolution}) must be one of: none, add-columns");
        }

        problems.MustBeBetween($"{path}.fillFactor", FillFactor, 10, 100);

        // Room for the "_position" suffix within PostgreSQL's 63-byte identifiers.
        problems.AddRange(PostgresIdentifiers.Validate($"{path}.versionColumn", VersionColumn, PostgresIdentifiers.MaxBytes - "_position".Length));
        return problems;
    }
}
