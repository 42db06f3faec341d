using System.Runtime.InteropServices;

namespace Sync.Engine.Formats;

/// <summary>A message value that is a row (format <c>json</c>, <c>debezium-flat</c>), parsed: the row's
/// JSON, its Connect schema when the value is wrapped as JsonConverter writes it with schemas
/// (<c>{"schema":…,"payload":…}</c>; a schema already compiled is found by its bytes without parsing it
/// again), and the path the row was found at. Dispose it when the row has been read.</summary>
internal readonly struct RowPayload : IDisposable
{
    private readonly JsonDocument? _fast;
    private readonly JsonDocument? _document;

    private RowPayload(JsonDocument? fast, JsonDocument? document, JsonElement value, RowPlan? plan, string at)
    {
        _fast = fast;
        _document = document;
        Value = value;
        Plan = plan;
        At = at;
    }

    /// <summary>The row (or the JSON null of a deleted row).</summary>
    public JsonElement Value { get; }

    /// <summary>The row's compiled schema; null for schemaless rows.</summary>
    public RowPlan? Plan { get; }

    /// <summary>Where the row is: <c>payload</c> inside a schema wrapper, else empty (the value itself).</summary>
    public string At { get; }

    /// <summary><see cref="At"/> as a path for messages: <c>value</c> when the row is the value itself.</summary>
    public string Path => At.Length == 0 ? "value" : At;

    public static RowPayload Parse(SourceMessage message, SchemaCache<RowPlan> schemas, string binaryHandlingMode)
    {
        JsonInput.RequireUtf8(message.Value.Span, "value");
        var fast = JsonInput.TryParseCachedWrapper(message.Value, schemas, out var plan);
        if (fast is not null)
        {
            return new RowPayload(fast, null, fast.RootElement, plan, "payload");
        }

        var document = JsonInput.Parse(message.Value, "value", utf8Checked: true);
        var root = document.RootElement;
        if (!JsonInput.IsSchemaWrapper(root, out var schema, out var payload))
        {
            return new RowPayload(null, document, root, null, string.Empty);
        }

        if (schema.ValueKind == JsonValueKind.Object)
        {
            plan = schemas.GetOrAdd(JsonMarshal.GetRawUtf8Value(schema), schema, s => ConnectSchemaParser.ParseRow(s, "schema", binaryHandlingMode));
        }

        return new RowPayload(null, document, payload, plan, "payload");
    }

    public void Dispose()
    {
        _fast?.Dispose();
        _document?.Dispose();
    }
}
