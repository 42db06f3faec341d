namespace Sync.Sinks.Postgres;

/// <summary>What the sink does when a row has a column the table lacks.</summary>
public enum SchemaEvolution
{
    /// <summary>The change is rejected (dead-lettered) with the column's name.</summary>
    None,

    /// <summary>The column is added, nullable (<c>ALTER TABLE … ADD COLUMN</c>); columns are never dropped. The default.</summary>
    AddColumns,
}
