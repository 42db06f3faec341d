using System.Text.Json.Nodes;

namespace Sync.Sinks.Elasticsearch;

/// <summary>
/// Elasticsearch mappings from the Debezium schema (exact types), and the dynamic rules of the indices
/// this sink creates:
/// <list type="table">
/// <item><term>boolean</term><description><c>boolean</c></description></item>
/// <item><term>int8/16/32/64</term><description><c>long</c></description></item>
/// <item><term>float32 / float64</term><description><c>float</c> / <c>double</c></description></item>
/// <item><term>string, uuid, enum, set</term><description><c>keyword</c> (<c>ignore_above: 8191</c>, so that a
/// long value is kept in <c>_source</c> instead of failing the document); columns in <c>textFields</c>:
/// <c>text</c> with a <c>keyword</c> sub-field</description></item>
/// <item><term>Decimal with precision ≤ 15</term><description><c>scaled_float</c> with
/// <c>scaling_factor</c> 10^scale: every such value times 10^scale is an integer below 2^53, so it goes
/// through Elasticsearch's double exactly; it is sent as a JSON number</description></item>
/// <item><term>larger Decimal, VariableScaleDecimal</term><description><c>keyword</c>, the value sent as a
/// JSON string: no digit is ever lost (a numeric field would round through a double); such fields
/// compare and sort as text</description></item>
/// <item><term>Date</term><description><c>date</c>, format <c>strict_date</c></description></item>
/// <item><term>Timestamp, ZonedTimestamp (every precision)</term><description><c>date</c>, format
/// <c>strict_date_optional_time_nanos</c>: pre-1970 values are valid (date_nanos would refuse them); the
/// index resolves milliseconds, <c>_source</c> keeps every digit</description></item>
/// <item><term>Time, ZonedTime, MicroDuration</term><description><c>keyword</c> (ISO-8601 text)</description></item>
/// <item><term>bytes, Bits</term><description><c>binary</c> (base64)</description></item>
/// <item><term>Json, structs</term><description><c>flattened</c>, or <c>object</c> with <c>enabled: false</c></description></item>
/// </list>
/// Columns without a schema are mapped by dynamic templates: strings as <c>keyword</c>, fractions as
/// <c>double</c>, with <c>date_detection</c> and <c>numeric_detection</c> off, so that a text column whose
/// first value looks like a date does not become a date field. Decimals without a schema are sent as strings.
/// </summary>
internal static class ElasticsearchMappings
{
    public const int KeywordIgnoreAbove = 8191;

    public const int MaxExactScaledFloatPrecision = 15;

    /// <summary>Whether a Decimal column is mapped as <c>scaled_float</c> and sent as a JSON number.</summary>
    public static bool IsExactNumber(ColumnSchema? column) =>
        column is { Type: LogicalType.Decimal, Precision: { } p, Scale: { } s } && p <= MaxExactScaledFloatPrecision && s is >= 0 and <= MaxExactScaledFloatPrecision;

    public static JsonObject For(ColumnSchema column, ElasticsearchTargetOptions target)
    {
        switch (column.Type)
        {
            case LogicalType.Boolean:
                return Type("boolean");
            case LogicalType.Int8 or LogicalType.Int16 or LogicalType.Int32 or LogicalType.Int64:
                return Type("long");
            case LogicalType.Float32:
                return Type("float");
            case LogicalType.Float64:
                return Type("double");
            case LogicalType.Decimal when IsExactNumber(column):
                var factor = Math.Pow(10, column.Scale!.Value);
                return new JsonObject { ["type"] = "scaled_float", ["scaling_factor"] = factor };
            case LogicalType.Date:
                return new JsonObject { ["type"] = "date", ["format"] = "strict_date" };
            case LogicalType.Timestamp or LogicalType.TimestampTz:
                return new JsonObject { ["type"] = "date", ["format"] = "strict_date_optional_time_nanos" };
            case LogicalType.Bytes or LogicalType.Bits:
                return Type("binary");
            case LogicalType.Json or LogicalType.Nested:
                return target.JsonMapping == JsonMapping.Flattened
                    ? Type("flattened")
                    : new JsonObject { ["type"] = "object", ["enabled"] = false };
            case LogicalType.String when target.TextFields?.Contains(column.Name) == true:
                return Text();
            default:
                // String, Uuid, Enum, EnumSet, Time, TimeTz, Interval, larger decimals.
                return Keyword();
        }
    }

    /// <summary>The body of a create-index request.</summary>
    public static JsonObject CreateIndexBody(ElasticsearchTargetOptions target, IReadOnlyDictionary<string, ColumnSchema> columns, string[] keyColumns, string? alias)
    {
        var index = new JsonObject { ["gc_deletes"] = ((long)target.DeleteRetention.TotalSeconds).ToString(CultureInfo.InvariantCulture) + "s" };
        if (target.Shards is { } shards)
        {
            index["number_of_shards"] = shards;
        }

        if (target.Replicas is { } replicas)
        {
            index["number_of_replicas"] = replicas;
        }

        var properties = new JsonObject();
        foreach (var (name, column) in columns)
        {
            properties[name] = For(column, target);
        }

        var templates = new JsonArray();
        foreach (var field in target.TextFields ?? [])
        {
            templates.Add(new JsonObject { ["text_" + field] = new JsonObject { ["match"] = field, ["match_mapping_type"] = "string", ["mapping"] = Text() } });
        }

        templates.Add(new JsonObject { ["strings_as_keywords"] = new JsonObject { ["match_mapping_type"] = "string", ["mapping"] = Keyword() } });
        templates.Add(new JsonObject { ["fractions_as_doubles"] = new JsonObject { ["match_mapping_type"] = "double", ["mapping"] = Type("double") } });
        var body = new JsonObject
        {
            ["settings"] = new JsonObject { ["index"] = index },
            ["mappings"] = new JsonObject
            {
                ["date_detection"] = false,
                ["numeric_detection"] = false,
                ["dynamic_templates"] = templates,
                ["_meta"] = new JsonObject { ["sync"] = new JsonObject { ["key"] = new JsonArray([.. keyColumns.Select(k => (JsonNode)k)]) } },
                ["properties"] = properties,
            },
        };
        if (alias is not null)
        {
            body["aliases"] = new JsonObject { [alias] = new JsonObject() };
        }

        return body;
    }

    /// <summary>The checkpoint index: nothing of it needs searching, so nothing is mapped dynamically.</summary>
    public static JsonObject CheckpointIndexBody() => new()
    {
        ["settings"] = new JsonObject { ["index"] = new JsonObject { ["number_of_shards"] = 1 } },
        ["mappings"] = new JsonObject
        {
            ["dynamic"] = false,
            ["properties"] = new JsonObject
            {
                ["materializer"] = Type("keyword"),
                ["updated_at"] = Type("date"),
                ["positions"] = new JsonObject { ["type"] = "object", ["enabled"] = false },
            },
        },
    };

    private static JsonObject Type(string type) => new() { ["type"] = type };

    private static JsonObject Keyword() => new() { ["type"] = "keyword", ["ignore_above"] = KeywordIgnoreAbove };

    private static JsonObject Text() => new()
    {
        ["type"] = "text",
        ["fields"] = new JsonObject { ["keyword"] = new JsonObject { ["type"] = "keyword", ["ignore_above"] = 256 } },
    };
}
