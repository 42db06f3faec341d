namespace Sync.Engine.Changes;

/// <summary>The logical type of a column, from the Debezium/Kafka Connect schema or inferred from JSON.</summary>
public enum LogicalType
{
    Boolean,
    Int8,
    Int16,
    Int32,
    Int64,
    Float32,
    Float64,
    String,
    Bytes,
    /// <summary>Fixed-scale decimal (org.apache.kafka.connect.data.Decimal): see Precision and Scale.</summary>
    Decimal,
    /// <summary>io.debezium.data.VariableScaleDecimal: a decimal whose scale varies per value.</summary>
    VariableDecimal,
    Date,
    Time,
    Timestamp,
    TimestampTz,
    TimeTz,
    Uuid,
    Json,
    /// <summary>io.debezium.data.Bits: a bit string; Length holds the number of bits.</summary>
    Bits,
    Enum,
    EnumSet,
    Interval,
    /// <summary>A struct, array or map kept as JSON.</summary>
    Nested,
}

/// <summary>One column's type as the source described it.</summary>
/// <param name="Name">Column name.</param>
/// <param name="Type">Logical type.</param>
/// <param name="Optional">Whether the column may be null.</param>
/// <param name="SemanticName">The schema name, e.g. <c>io.debezium.time.MicroTimestamp</c>, when one was given.</param>
/// <param name="Precision">Decimal precision (connect.decimal.precision) or fractional-second digits for time types.</param>
/// <param name="Scale">Decimal scale.</param>
/// <param name="Length">Bit length for Bits.</param>
/// <param name="Allowed">Allowed values of an Enum or EnumSet.</param>
public sealed record ColumnSchema(
    string Name,
    LogicalType Type,
    bool Optional,
    string? SemanticName = null,
    int? Precision = null,
    int? Scale = null,
    int? Length = null,
    string? Allowed = null);

/// <summary>The columns of a row image in source order, as a schema describes them.</summary>
public sealed class RowSchema
{
    private readonly Dictionary<string, int> _index;

    public RowSchema(IReadOnlyList<ColumnSchema> columns)
    {
        Columns = columns;
        _index = new Dictionary<string, int>(columns.Count, StringComparer.Ordinal);
        for (var i = 0; i < columns.Count; i++)
        {
            _index[columns[i].Name] = i;
        }
    }

    public IReadOnlyList<ColumnSchema> Columns { get; }

    public ColumnSchema? Find(string name) => _index.TryGetValue(name, out var i) ? Columns[i] : null;
}
