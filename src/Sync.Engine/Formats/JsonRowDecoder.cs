namespace Sync.Engine.Formats;

/// <summary>Decodes plain JSON rows (format <c>json</c>): the value is a JSON object, optionally
/// wrapped as Kafka's JsonConverter writes it with schemas (<c>{"schema":…,"payload":…}</c>, then
/// the schema types the columns). Every row is an upsert (<see cref="ChangeOp.Update"/>); a null or
/// empty value is a <see cref="ChangeOp.Tombstone"/>. The key is the message key: a JSON object
/// gives its fields; a JSON scalar or text that is not JSON gives one column named
/// <see cref="DecoderOptions.ScalarKeyColumn"/> (an integer as Int64, anything else as String).</summary>
public sealed class JsonRowDecoder : JsonMessageDecoder
{
    private readonly DecoderOptions _options;
    private readonly SchemaCache<RowPlan> _rowSchemas = new();
    private readonly KeyReader _keys;

    public JsonRowDecoder(DecoderOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options;
        _keys = new KeyReader(new SchemaCache<RowPlan>());
    }

    /// <summary>How many distinct row schemas were compiled (the rest were cache hits).</summary>
    public long SchemasCompiled => _rowSchemas.Compiled;

    protected override ChangeEvent DecodeCore(SourceMessage message)
    {
        if (message.IsTombstone)
        {
            return Tombstone(message);
        }

        using var input = RowPayload.Parse(message, _rowSchemas, _options.BinaryHandlingMode);
        var row = input.Value;
        if (row.ValueKind == JsonValueKind.Null)
        {
            return Tombstone(message);
        }

        if (row.ValueKind != JsonValueKind.Object)
        {
            throw DecodeErrors.Expected(input.Path, "a JSON object (a row)", row);
        }

        var after = RowReader.Read(row, input.Plan, input.At);
        return new ChangeEvent
        {
            Op = ChangeOp.Update,
            Key = ReadKey(message.Key, after, input.Plan, input.Path),
            After = after,
            Origin = message.ToOrigin(),
        };
    }

    private ChangeEvent Tombstone(SourceMessage message)
    {
        var bytes = KeyReader.Bytes(message.Key)
            ?? throw new DecodeException("tombstone has no key: a null or empty value deletes the row of its key");
        return new ChangeEvent { Op = ChangeOp.Tombstone, Key = ReadKey(bytes, null), Origin = message.ToOrigin() };
    }

    private Row ReadKey(MessageKey messageKey, Row row, RowPlan? plan, string rowPath)
    {
        if (KeyReader.Bytes(messageKey) is { } bytes)
        {
            return ReadKey(bytes, plan);
        }

        return _options.KeyColumns is { Count: > 0 } columns
            ? RowReader.Project(row, columns, plan, rowPath)
            : throw new DecodeException(KeyReader.NoKey);
    }

    private Row ReadKey(byte[] bytes, RowPlan? plan)
    {
        JsonInput.RequireUtf8(bytes, "key");
        using var document = JsonInput.TryParse(bytes);
        if (document is null)
        {
            return Scalar(FieldValue.FromString(JsonInput.Text(bytes)));
        }

        var root = document.RootElement;
        return root.ValueKind switch
        {
            JsonValueKind.Object => _keys.ReadObject(root, plan),
            JsonValueKind.Number => Scalar(root.TryGetInt64(out var n) ? FieldValue.FromInt64(n) : FieldValue.FromString(root.GetRawText())),
            JsonValueKind.String => Scalar(FieldValue.FromString(FieldReader.GetString(root, FieldPath.Of("key")))),
            _ => Scalar(FieldValue.FromString(JsonInput.Text(bytes))),
        };
    }

    private Row Scalar(FieldValue value) => new([_options.ScalarKeyColumn], [value]);
}
