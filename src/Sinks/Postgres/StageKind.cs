namespace Sync.Sinks.Postgres;

/// <summary>How a value travels in the binary COPY to the staging table.</summary>
public enum StageKind
{
    Bool,
    Int2,
    Int4,
    Int8,
    Float4,
    Float8,
    Bytea,
    Date,
    Time,
    Timestamp,
    Interval,
    Uuid,
    Bits,

    /// <summary>As text, cast to the column's type by the server (numeric of any precision,
    /// timestamptz, timetz, jsonb, text, varchar, enum types, …): exact, and a bad value fails that row only.</summary>
    Text,
}
