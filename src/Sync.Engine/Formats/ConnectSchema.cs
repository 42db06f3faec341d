using System.Runtime.InteropServices;

namespace Sync.Engine.Formats;

/// <summary>How one field's JSON value turns into a <see cref="FieldValue"/>.</summary>
internal enum ValueCodec : byte
{
    Int8,
    Int16,
    Int32,
    Int64,
    Float,
    Boolean,
    String,
    Bytes,
    /// <summary>A struct, array, map or unknown named struct: kept as raw JSON text.</summary>
    Nested,
    Date,
    TimeMillis,
    TimeMicros,
    TimeNanos,
    TimestampMillis,
    TimestampMicros,
    TimestampNanos,
    ZonedTimestamp,
    ZonedTime,
    Decimal,
    VariableScaleDecimal,
    Uuid,
    Json,
    Bits,
    Enum,
    MicroDuration,
    /// <summary>A binary column sent as text (binary.handling.mode base64, base64-url-safe, hex), by the column's propagated source type.</summary>
    BinaryBase64,
    BinaryBase64UrlSafe,
    BinaryHex,
    /// <summary>A decimal column sent as its plain text (decimal.handling.mode=string), by the column's propagated source type.</summary>
    DecimalText,
}

/// <summary>One field of a Kafka Connect struct schema, compiled for decoding.</summary>
internal sealed class FieldPlan(string name, string connectType, ValueCodec codec, ColumnSchema column, int scale)
{
    public string Name { get; } = name;

    /// <summary>The Connect type as the schema spelled it: int8 … int64, float or float32, double or
    /// float64, boolean, string, bytes, struct, array, map.</summary>
    public string ConnectType { get; } = connectType;

    public ValueCodec Codec { get; } = codec;

    public ColumnSchema Column { get; } = column;

    /// <summary>Scale of an org.apache.kafka.connect.data.Decimal.</summary>
    public int Scale { get; } = scale;

    /// <summary>What error messages call the type: the schema name when there is one, else the Connect type.</summary>
    public string TypeLabel => Column.SemanticName ?? ConnectType;
}

/// <summary>A struct schema (a row image or a key) compiled for decoding: its fields in order and
/// the <see cref="RowSchema"/> every row decoded with it shares.</summary>
internal sealed class RowPlan
{
    private readonly Dictionary<string, int> _index;
    /// <summary>Key shapes seen with this row schema; a table has one, rarely a few.</summary>
    private const int MaxProjections = 8;

    private readonly List<(string[] Names, RowSchema? Schema)> _projections = [];

    public RowPlan(FieldPlan[] fields)
    {
        Fields = fields;
        Names = new string[fields.Length];
        var columns = new ColumnSchema[fields.Length];
        _index = new Dictionary<string, int>(fields.Length, StringComparer.Ordinal);
        for (var i = 0; i < fields.Length; i++)
        {
            Names[i] = fields[i].Name;
            columns[i] = fields[i].Column;
            _index[fields[i].Name] = i;
        }

        Schema = new RowSchema(columns);
    }

    public FieldPlan[] Fields { get; }

    public string[] Names { get; }

    public RowSchema Schema { get; }

    public int IndexOf(string name) => _index.TryGetValue(name, out var i) ? i : -1;

    public FieldPlan? Find(string name) => _index.TryGetValue(name, out var i) ? Fields[i] : null;

    /// <summary>The schema of a key made of some of this row's columns (null when a name is not a
    /// column), cached so that every key of one shape shares one instance.</summary>
    public RowSchema? ProjectionSchema(IReadOnlyList<string> names)
    {
        foreach (var (cachedNames, cachedSchema) in _projections)
        {
            if (SameNames(cachedNames, names))
            {
                return cachedSchema;
            }
        }

        var columns = new ColumnSchema[names.Count];
        for (var i = 0; i < names.Count; i++)
        {
            if (Find(names[i]) is not { } field)
            {
                return Remember(names, null);
            }

            columns[i] = field.Column;
        }

        return Remember(names, new RowSchema(columns));
    }

    private RowSchema? Remember(IReadOnlyList<string> names, RowSchema? schema)
    {
        if (_projections.Count < MaxProjections)
        {
            _projections.Add(([.. names], schema));
        }

        return schema;
    }

    private static bool SameNames(string[] a, IReadOnlyList<string> b)
    {
        if (a.Length != b.Count)
        {
            return false;
        }

        for (var i = 0; i < a.Length; i++)
        {
            if (!string.Equals(a[i], b[i], StringComparison.Ordinal))
            {
                return false;
            }
        }

        return true;
    }
}

/// <summary>A Debezium envelope schema compiled for decoding: the plans of the before and after images.</summary>
internal sealed class EnvelopePlan(RowPlan? before, RowPlan? after)
{
    public RowPlan? Before { get; } = before;

    public RowPlan? After { get; } = after;

    /// <summary>The plan that types key columns sent without a key schema: the after image's, else the before image's.</summary>
    public RowPlan? Image => After ?? Before;
}

/// <summary>Parses Kafka Connect JSON schemas (as JsonConverter writes them with schemas enabled).</summary>
internal static class ConnectSchemaParser
{
    /// <summary>Compiles a Debezium envelope schema: a struct with <c>before</c> and <c>after</c> struct fields.</summary>
    public static EnvelopePlan ParseEnvelope(JsonElement schema, string path, string binaryHandlingMode = "bytes")
    {
        RequireStruct(schema, path, "a Debezium envelope");
        var fields = FieldsOf(schema, path);
        JsonElement? beforeSchema = null, afterSchema = null;
        string? beforePath = null, afterPath = null;
        var i = 0;
        foreach (var field in fields.EnumerateArray())
        {
            var fieldPath = string.Create(CultureInfo.InvariantCulture, $"{path}.fields[{i}]");
            if (field.ValueKind == JsonValueKind.Object
                && field.TryGetProperty("field", out var name)
                && name.ValueKind == JsonValueKind.String)
            {
                if (name.ValueEquals("before"))
                {
                    beforeSchema = field;
                    beforePath = fieldPath;
                }
                else if (name.ValueEquals("after"))
                {
                    afterSchema = field;
                    afterPath = fieldPath;
                }
            }

            i++;
        }

        var after = afterSchema is { } a ? ParseRow(a, afterPath!, binaryHandlingMode) : null;
        RowPlan? before = null;
        if (beforeSchema is { } b)
        {
            // before and after normally share one struct schema: share one plan and one RowSchema.
            before = after is not null && afterSchema is { } a2 && SameFields(a2, b) ? after : ParseRow(b, beforePath!, binaryHandlingMode);
        }

        return new EnvelopePlan(before, after);
    }

    /// <summary>Compiles a struct schema describing a row or a key.</summary>
    /// <param name="binaryHandlingMode">The connector's binary.handling.mode: how a binary column whose
    /// source type the schema names (column.propagate.source.type) was turned into text.</param>
    public static RowPlan ParseRow(JsonElement schema, string path, string binaryHandlingMode = "bytes")
    {
        RequireStruct(schema, path, "a row");
        var fields = FieldsOf(schema, path);
        var plans = new FieldPlan[fields.GetArrayLength()];
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var i = 0;
        foreach (var field in fields.EnumerateArray())
        {
            var fieldPath = string.Create(CultureInfo.InvariantCulture, $"{path}.fields[{i}]");
            var plan = ParseField(field, fieldPath, binaryHandlingMode);
            if (!seen.Add(plan.Name))
            {
                throw new DecodeException($"{fieldPath}.field: duplicate field name '{plan.Name}'");
            }

            plans[i++] = plan;
        }

        return new RowPlan(plans);
    }

    private static bool SameFields(JsonElement a, JsonElement b) =>
        a.TryGetProperty("fields", out var fa) && b.TryGetProperty("fields", out var fb)
        && JsonMarshal.GetRawUtf8Value(fa).SequenceEqual(JsonMarshal.GetRawUtf8Value(fb));

    private static void RequireStruct(JsonElement schema, string path, string what)
    {
        if (schema.ValueKind != JsonValueKind.Object)
        {
            throw DecodeErrors.Expected(path, $"a struct schema for {what}", schema);
        }

        if (!schema.TryGetProperty("type", out var type) || type.ValueKind != JsonValueKind.String)
        {
            throw new DecodeException($"{path}.type: expected a string");
        }

        if (!type.ValueEquals("struct"))
        {
            throw new DecodeException($"{path}.type: expected struct for {what}");
        }
    }

    private static JsonElement FieldsOf(JsonElement schema, string path)
    {
        if (!schema.TryGetProperty("fields", out var fields) || fields.ValueKind != JsonValueKind.Array)
        {
            throw new DecodeException($"{path}.fields: expected an array of field schemas");
        }

        return fields;
    }

    private static FieldPlan ParseField(JsonElement field, string path, string binaryHandlingMode)
    {
        if (field.ValueKind != JsonValueKind.Object)
        {
            throw DecodeErrors.Expected(path, "a field schema object", field);
        }

        var name = RequiredString(field, "field", path);
        var type = RequiredString(field, "type", path);
        var optional = false;
        if (field.TryGetProperty("optional", out var opt))
        {
            optional = opt.ValueKind switch
            {
                JsonValueKind.True => true,
                JsonValueKind.False or JsonValueKind.Null => false,
                _ => throw DecodeErrors.Expected($"{path}.optional", "a boolean", opt),
            };
        }

        var semantic = OptionalString(field, "name", path);
        var (codec, logical) = Classify(type, semantic);
        if (logical is null)
        {
            // A name we do not know (or one that does not match its type): decode by the Connect type.
            (codec, logical) = Classify(type, null);
        }

        if (logical is null)
        {
            // Schema text, not row data: naming the field and the type is safe and tells the operator what to fix.
            throw new DecodeException($"{path}.type: unknown Kafka Connect type '{type}' of field '{name}' (expected int8, int16, int32, int64, float, double, boolean, string, bytes, struct, array or map)");
        }

        if (codec == ValueCodec.String && semantic is null && StringParameter(field, SourceColumnType, path) is { } sourceType)
        {
            (codec, logical) = FromSourceType(sourceType, binaryHandlingMode) ?? (codec, logical);
        }

        int? precision = null, scale = null, length = null;
        string? allowed = null;
        var decimalScale = 0;
        switch (codec)
        {
            case ValueCodec.Decimal:
                decimalScale = IntParameter(field, "scale", path) ?? throw new DecodeException($"{path}.parameters.scale: required for {semantic}");
                if (Math.Abs(decimalScale) > FieldReader.MaxScale)
                {
                    throw new DecodeException($"{path}.parameters.scale: out of range");
                }

                scale = decimalScale;
                precision = IntParameter(field, "connect.decimal.precision", path);
                break;
            case ValueCodec.TimeMillis or ValueCodec.TimestampMillis:
                precision = 3;
                break;
            case ValueCodec.TimeMicros or ValueCodec.TimestampMicros:
                precision = 6;
                break;
            case ValueCodec.TimeNanos or ValueCodec.TimestampNanos:
                precision = 9;
                break;
            case ValueCodec.Bits:
                length = IntParameter(field, "length", path);
                break;
            case ValueCodec.DecimalText:
                precision = IntParameter(field, SourceColumnLength, path);
                scale = IntParameter(field, SourceColumnScale, path);
                break;
            case ValueCodec.Enum:
                allowed = StringParameter(field, "allowed", path);
                break;
            default:
                break;
        }

        var column = new ColumnSchema(name, logical!.Value, optional, semantic, precision, scale, length, allowed);
        return new FieldPlan(name, type, codec, column, decimalScale);
    }

    /// <summary>The codec and logical type of a Connect type with an optional schema name; a null
    /// logical type when the name is given but unknown or does not fit the type, or the type is unknown.</summary>
    private static (ValueCodec Codec, LogicalType? Type) Classify(string type, string? semantic)
    {
        if (semantic is not null)
        {
            (ValueCodec, LogicalType?, string) known = semantic switch
            {
                "io.debezium.time.Date" or "org.apache.kafka.connect.data.Date" => (ValueCodec.Date, LogicalType.Date, "int32"),
                "io.debezium.time.Time" or "org.apache.kafka.connect.data.Time" => (ValueCodec.TimeMillis, LogicalType.Time, "int32"),
                "io.debezium.time.MicroTime" => (ValueCodec.TimeMicros, LogicalType.Time, "int64"),
                "io.debezium.time.NanoTime" => (ValueCodec.TimeNanos, LogicalType.Time, "int64"),
                "io.debezium.time.Timestamp" or "org.apache.kafka.connect.data.Timestamp" => (ValueCodec.TimestampMillis, LogicalType.Timestamp, "int64"),
                "io.debezium.time.MicroTimestamp" => (ValueCodec.TimestampMicros, LogicalType.Timestamp, "int64"),
                "io.debezium.time.NanoTimestamp" => (ValueCodec.TimestampNanos, LogicalType.Timestamp, "int64"),
                "io.debezium.time.ZonedTimestamp" => (ValueCodec.ZonedTimestamp, LogicalType.TimestampTz, "string"),
                "io.debezium.time.ZonedTime" => (ValueCodec.ZonedTime, LogicalType.TimeTz, "string"),
                "io.debezium.time.MicroDuration" => (ValueCodec.MicroDuration, LogicalType.Interval, "int64"),
                "org.apache.kafka.connect.data.Decimal" => (ValueCodec.Decimal, LogicalType.Decimal, "bytes"),
                "io.debezium.data.VariableScaleDecimal" => (ValueCodec.VariableScaleDecimal, LogicalType.VariableDecimal, "struct"),
                "io.debezium.data.Uuid" => (ValueCodec.Uuid, LogicalType.Uuid, "string"),
                "io.debezium.data.Json" => (ValueCodec.Json, LogicalType.Json, "string"),
                "io.debezium.data.Bits" => (ValueCodec.Bits, LogicalType.Bits, "bytes"),
                "io.debezium.data.Enum" => (ValueCodec.Enum, LogicalType.Enum, "string"),
                "io.debezium.data.EnumSet" => (ValueCodec.Enum, LogicalType.EnumSet, "string"),

                // Text that every sink stores as it stores a string (debezium-connector-common
                // SchemaFactory.datatypeXmlSchema, debezium-connector-postgres PostgresSchemaFactory.datatypeLtreeSchema).
                "io.debezium.data.Xml" or "io.debezium.data.Ltree" => (ValueCodec.String, LogicalType.String, "string"),

                // interval.handling.mode=string: "P1Y2M3DT4H5M6.78S" (io.debezium.time.Interval.toIsoString).
                // Kept as its text: years and months have no fixed length, so turning it into
                // LogicalType.Interval (microseconds) would not be exact.
                "io.debezium.time.Interval" => (ValueCodec.String, LogicalType.String, "string"),

                // A MySQL YEAR column: an int32 year (debezium-connector-common io/debezium/time/Year.java).
                "io.debezium.time.Year" => (ValueCodec.Int32, LogicalType.Int32, "int32"),

                // Spatial values: a struct {wkb: bytes, srid: optional int32} (Point adds x, y doubles;
                // debezium-connector-common io/debezium/data/geometry/{Geometry,Geography,Point}.java),
                // kept as JsonConverter wrote it, {"wkb":"<base64>","srid":4326}: JSON (jsonb in
                // PostgreSQL, a JSON object in Redis and Elasticsearch), with the WKB and SRID as sent.
                "io.debezium.data.geometry.Geometry" or "io.debezium.data.geometry.Geography" or "io.debezium.data.geometry.Point"
                    => (ValueCodec.Nested, LogicalType.Nested, "struct"),
                _ => (ValueCodec.Nested, null, string.Empty),
            };
            return known.Item2 is not null && string.Equals(known.Item3, type, StringComparison.Ordinal)
                ? (known.Item1, known.Item2)
                : (ValueCodec.Nested, null);
        }

        return type switch
        {
            "int8" => (ValueCodec.Int8, LogicalType.Int8),
            "int16" => (ValueCodec.Int16, LogicalType.Int16),
            "int32" => (ValueCodec.Int32, LogicalType.Int32),
            "int64" => (ValueCodec.Int64, LogicalType.Int64),
            // JsonConverter writes Connect's FLOAT32 and FLOAT64 as "float" and "double"
            // (apache/kafka connect/json JsonSchema.FLOAT_TYPE_NAME, DOUBLE_TYPE_NAME); float32 and
            // float64, Connect's own Schema.Type names, are accepted from other writers.
            "float" or "float32" => (ValueCodec.Float, LogicalType.Float32),
            "double" or "float64" => (ValueCodec.Float, LogicalType.Float64),
            "boolean" => (ValueCodec.Boolean, LogicalType.Boolean),
            "string" => (ValueCodec.String, LogicalType.String),
            "bytes" => (ValueCodec.Bytes, LogicalType.Bytes),
            "struct" or "array" or "map" => (ValueCodec.Nested, LogicalType.Nested),
            _ => (ValueCodec.Nested, null),
        };
    }

    // Debezium's column.propagate.source.type / datatype.propagate.source.type parameters
    // (debezium-connector-common io/debezium/relational/CustomConverterRegistry and TableSchemaBuilder;
    // the keys as debezium-connector-binlog BinlogEnumColumnIT names them).
    private const string SourceColumnType = "__debezium.source.column.type";
    private const string SourceColumnLength = "__debezium.source.column.length";
    private const string SourceColumnScale = "__debezium.source.column.scale";

    private static readonly HashSet<string> BinarySourceTypes = new(StringComparer.OrdinalIgnoreCase)
    {
        "BYTEA", "BLOB", "TINYBLOB", "MEDIUMBLOB", "LONGBLOB", "BINARY", "VARBINARY", "IMAGE", "RAW", "LONG RAW",
    };

    private static readonly HashSet<string> DecimalSourceTypes = new(StringComparer.OrdinalIgnoreCase)
    {
        "NUMERIC", "DECIMAL", "DEC", "NUMBER", "MONEY", "SMALLMONEY",
    };

    /// <summary>A string column that the connector made text of a binary or decimal source column:
    /// with binary.handling.mode base64, base64-url-safe or hex a binary column's schema says string
    /// (CommonConnectorConfig.BinaryHandlingMode), and only the mode tells base64 from hex; with
    /// decimal.handling.mode=string a decimal is its plain text (BigDecimal.toPlainString). Null when
    /// the source type is neither, or the binary mode is bytes (then the schema says bytes itself).</summary>
    private static (ValueCodec, LogicalType?)? FromSourceType(string sourceType, string binaryHandlingMode)
    {
        if (DecimalSourceTypes.Contains(sourceType))
        {
            return (ValueCodec.DecimalText, LogicalType.Decimal);
        }

        if (!BinarySourceTypes.Contains(sourceType))
        {
            return null;
        }

        return binaryHandlingMode switch
        {
            "base64" => (ValueCodec.BinaryBase64, LogicalType.Bytes),
            "base64-url-safe" => (ValueCodec.BinaryBase64UrlSafe, LogicalType.Bytes),
            "hex" => (ValueCodec.BinaryHex, LogicalType.Bytes),
            _ => null,
        };
    }

    private static string RequiredString(JsonElement obj, string property, string path)
    {
        if (!obj.TryGetProperty(property, out var value) || value.ValueKind != JsonValueKind.String)
        {
            throw new DecodeException($"{path}.{property}: expected a string");
        }

        return FieldReader.GetString(value, FieldPath.Of($"{path}.{property}"));
    }

    private static string? OptionalString(JsonElement obj, string property, string path)
    {
        if (!obj.TryGetProperty(property, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (value.ValueKind != JsonValueKind.String)
        {
            throw DecodeErrors.Expected($"{path}.{property}", "a string", value);
        }

        return FieldReader.GetString(value, FieldPath.Of($"{path}.{property}"));
    }

    private static string? StringParameter(JsonElement field, string name, string path)
    {
        if (!field.TryGetProperty("parameters", out var parameters) || parameters.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (parameters.ValueKind != JsonValueKind.Object)
        {
            throw DecodeErrors.Expected($"{path}.parameters", "an object", parameters);
        }

        if (!parameters.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        // Connect writes parameters as strings; accept a number too.
        return value.ValueKind switch
        {
            JsonValueKind.String => FieldReader.GetString(value, FieldPath.Of($"{path}.parameters.{name}")),
            JsonValueKind.Number => value.GetRawText(),
            _ => throw DecodeErrors.Expected($"{path}.parameters.{name}", "a string", value),
        };
    }

    private static int? IntParameter(JsonElement field, string name, string path)
    {
        var text = StringParameter(field, name, path);
        if (text is null)
        {
            return null;
        }

        return int.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value)
            ? value
            : throw new DecodeException($"{path}.parameters.{name}: expected an integer");
    }
}
