namespace Sync.Engine.Formats;

/// <summary>The fields of a Debezium <c>source</c> block as a reader collects them one property at a
/// time (the streaming envelope reader, the flattened <c>__source_*</c> fields), made into a
/// <see cref="SourceInfo"/> in one place.</summary>
internal struct SourceBlock
{
    public string? Connector;
    public string? Name;
    public string? Db;
    public string? Schema;
    public string? Table;
    public string? TxId;
    public string? Snapshot;
    public long? TsMs;
    public SourceCoordinates Coordinates;

    public readonly SourceInfo ToSourceInfo()
    {
        var coordinates = Coordinates;
        coordinates.Connector = Connector;
        return new SourceInfo
        {
            Connector = Connector,
            Name = Name,
            Db = Db,
            Schema = Schema,
            Table = Table,
            Lsn = coordinates.Any ? SourceOrder.Of(coordinates) : null,
            TxId = TxId,
            TsMs = TsMs,
            Snapshot = Snapshot,
        };
    }
}
