namespace Sync.Sinks.Postgres;

/// <summary>Where a batch goes: the table, its schema, and the materializer's target settings.</summary>
internal sealed record PostgresTarget(string Schema, string Table, SchemaEvolution Evolution, string VersionColumn, int FillFactor)
{
    public string Qualified { get; } = PostgresIdentifiers.Qualified(Schema, Table);

    /// <summary>The target's name in the state tables: the quoted, qualified table name.</summary>
    public string Id => Qualified;

    public string LsnColumn => VersionColumn;

    public string StreamColumn => VersionColumn + "_stream";

    public string PositionColumn => VersionColumn + "_position";

    public bool IsReserved(string column) => column.StartsWith(VersionColumn, StringComparison.Ordinal);
}
