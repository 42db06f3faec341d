using System.Runtime.InteropServices;

namespace Sync.Engine.Formats;

/// <summary>Decodes Debezium change events written by Kafka Connect's JsonConverter (format
/// <c>debezium-json</c>): the envelope with or without the <c>{"schema":…,"payload":…}</c> wrapper.
/// With a schema, semantic types decode exactly (see <see cref="FieldReader"/>); without one, JSON
/// values are kept as they are. Schemas are compiled once per distinct schema and cached.</summary>
/// <remarks>Error messages name the JSON path of the problem and the kind of token found, never a
/// value. Anything wrong with the input is a <see cref="DecodeException"/>.</remarks>
public sealed class DebeziumJsonDecoder : JsonMessageDecoder
{
    private readonly DecoderOptions _options;
    private readonly SchemaCache<EnvelopePlan> _envelopes;
    private readonly KeyReader _keys;
    private readonly EnvelopeReader? _singlePass;
    private readonly UnavailableValues _unavailable;

    public DebeziumJsonDecoder(DecoderOptions options)
        : this(options, singlePass: true)
    {
    }

    /// <summary>With <paramref name="singlePass"/> false, every message goes through the
    /// <see cref="JsonDocument"/> path: the reference the single-pass reader is tested against.</summary>
    internal DebeziumJsonDecoder(DecoderOptions options, bool singlePass)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options;
        _envelopes = new SchemaCache<EnvelopePlan>();
        _keys = new KeyReader(new SchemaCache<RowPlan>());
        _singlePass = singlePass ? new EnvelopeReader(options) : null;
        _unavailable = new UnavailableValues(options.UnavailableValuePlaceholder);
    }

    /// <summary>How many messages the single-pass reader decoded without the document path.</summary>
    internal long SinglePassDecoded => _singlePass?.Decoded ?? 0;

    /// <summary>How many distinct envelope schemas were compiled (the rest were cache hits).</summary>
    public long SchemasCompiled => _envelopes.Compiled;

    protected override ChangeEvent DecodeCore(SourceMessage message)
    {
        var change = DecodeEnvelope(message);
        MarkUnavailable(change);
        return change;
    }

    /// <summary>Placeholders of unchanged TOASTed columns become <see cref="FieldValue.Unavailable"/>
    /// in both images (rows with a schema were marked while read); a key column never holds one.</summary>
    private void MarkUnavailable(ChangeEvent change)
    {
        _unavailable.MarkSchemaless(change.After);
        _unavailable.MarkSchemaless(change.Before);
        var key = change.Key;
        for (var i = 0; i < key.Count; i++)
        {
            var name = key.Names[i];
            var image = change.Op == ChangeOp.Delete ? change.Before : change.After;
            var imageName = change.Op == ChangeOp.Delete ? "before" : "after";
            if (IsPlaceholderText(key.Values[i]))
            {
                throw new DecodeException($"key.{name}: holds the connector's unavailable-value placeholder; key columns are never TOASTed, so the key is not usable");
            }

            if (image is not null && image.TryGet(name, out var value) && value.IsUnavailable)
            {
                throw new DecodeException($"{imageName}.{name}: key column holds the connector's unavailable-value placeholder; key columns are never TOASTed, so the row cannot be applied");
            }
        }
    }

    private bool IsPlaceholderText(FieldValue value) => value.Kind == ValueKind.String && value.AsText == _unavailable.Placeholder;

    private ChangeEvent DecodeEnvelope(SourceMessage message)
    {
        if (message.IsTombstone)
        {
            return Tombstone(message, null);
        }

        if (_singlePass is not null && _singlePass.TryDecode(message, out var change))
        {
            return change;
        }

        JsonInput.RequireUtf8(message.Value.Span, "value");
        using var fast = JsonInput.TryParseCachedWrapper(message.Value, _envelopes, out var plan);
        using var document = fast is null ? JsonInput.Parse(message.Value, "value", utf8Checked: true) : null;
        JsonElement payload;
        string at;
        if (fast is not null)
        {
            payload = fast.RootElement;
            at = "payload";
        }
        else
        {
            var root = document!.RootElement;
            if (root.ValueKind == JsonValueKind.Null)
            {
                return Tombstone(message, null);
            }

            if (root.ValueKind != JsonValueKind.Object)
            {
                throw DecodeErrors.Expected("value", "a JSON object (a Debezium envelope)", root);
            }

            if (root.TryGetProperty("payload", out payload) && !root.TryGetProperty("op", out _))
            {
                at = "payload";
                if (root.TryGetProperty("schema", out var schema) && schema.ValueKind != JsonValueKind.Null)
                {
                    plan = _envelopes.GetOrAdd(
                        JsonMarshal.GetRawUtf8Value(schema),
                        schema,
                        s => ConnectSchemaParser.ParseEnvelope(s, "schema", _options.BinaryHandlingMode));
                }
            }
            else
            {
                payload = root;
                at = string.Empty;
            }
        }

        if (at.Length > 0)
        {
            if (payload.ValueKind == JsonValueKind.Null)
            {
                return Tombstone(message, plan?.Image);
            }

            if (payload.ValueKind != JsonValueKind.Object)
            {
                throw DecodeErrors.Expected("payload", "a JSON object (a Debezium envelope)", payload);
            }
        }

        // Heartbeats, transaction boundaries, logical decoding messages and schema changes are not
        // row changes (the single-pass reader leaves them all to this path).
        if (NonRowMessages.Recognise(payload) is { } kind)
        {
            throw kind == NonRowKind.Message
                ? NonRowMessages.Skip(kind, payload, at, ReadSource(payload, at), ReadInt64(payload, "ts_ms", at))
                : NonRowMessages.Skip(kind, payload, at, null, null);
        }

        var op = ReadOp(payload, at);
        var before = ReadImage(payload, "before", plan?.Before, at);
        var after = ReadImage(payload, "after", plan?.After, at);
        if (after is null && op is ChangeOp.Create or ChangeOp.Update or ChangeOp.Read)
        {
            throw new DecodeException($"{JsonInput.Child(at, "after")}: missing; op '{OpCodes.Code(op)}' needs the after image");
        }

        Row key;
        if (op == ChangeOp.Truncate)
        {
            key = Row.Empty;
        }
        else
        {
            var image = op == ChangeOp.Delete ? before : after;
            var imageName = op == ChangeOp.Delete ? "before" : "after";
            key = ReadKey(message.Key, plan?.Image, image, op == ChangeOp.Delete ? plan?.Before : plan?.After, JsonInput.Child(at, imageName));
        }

        return new ChangeEvent
        {
            Op = op,
            Key = key,
            Before = before,
            After = after,
            Source = ReadSource(payload, at),
            Origin = message.ToOrigin(),
            TsMs = ReadInt64(payload, "ts_ms", at),
            Transaction = TransactionBlockReader.Read(payload, at),
        };
    }

    private ChangeEvent Tombstone(SourceMessage message, RowPlan? imagePlan)
    {
        var bytes = KeyReader.Bytes(message.Key)
            ?? throw new DecodeException("tombstone has no key: a null or empty value deletes the row of its key");
        return new ChangeEvent
        {
            Op = ChangeOp.Tombstone,
            Key = _keys.ReadObject(bytes, imagePlan),
            Origin = message.ToOrigin(),
        };
    }

    private Row ReadKey(MessageKey messageKey, RowPlan? keyTypes, Row? image, RowPlan? imagePlan, string imagePath)
    {
        if (KeyReader.Bytes(messageKey) is { } bytes)
        {
            return _keys.ReadObject(bytes, keyTypes);
        }

        if (_options.KeyColumns is not { Count: > 0 } columns)
        {
            throw new DecodeException(KeyReader.NoKey);
        }

        return image is null
            ? throw new DecodeException($"{imagePath}: missing; a message without a key takes keyColumns from it")
            : RowReader.Project(image, columns, imagePlan, imagePath);
    }

    private static ChangeOp ReadOp(JsonElement payload, string at)
    {
        if (!payload.TryGetProperty("op", out var op) || op.ValueKind != JsonValueKind.String)
        {
            var found = payload.TryGetProperty("op", out var present) ? DecodeErrors.KindName(present.ValueKind) : "nothing";
            throw new DecodeException($"{JsonInput.Child(at, "op")}: expected an operation code (c, u, d, r or t), found {found}");
        }

        return OpCodes.TryRead(op, out var read)
            ? read
            : throw new DecodeException($"{JsonInput.Child(at, "op")}: unknown operation code (expected c, u, d, r or t)");
    }

    private Row? ReadImage(JsonElement payload, string name, RowPlan? plan, string at) =>
        JsonInput.TryGetObject(payload, name, at, "a JSON object (a row image) or null", out var image, out var path)
            ? RowReader.Read(image, plan, path, _unavailable)
            : null;

    private static SourceInfo? ReadSource(JsonElement payload, string at)
    {
        if (!JsonInput.TryGetObject(payload, "source", at, "a JSON object", out var source, out var path))
        {
            return null;
        }

        var connector = ReadString(source, "connector", path);
        var coordinates = new SourceCoordinates { Connector = connector };
        foreach (var name in SourceCoordinates.Names)
        {
            if (source.TryGetProperty(name, out var value))
            {
                coordinates.Accept(name, value);
            }
        }

        return new SourceInfo
        {
            Connector = connector,
            Name = ReadString(source, "name", path),
            Db = ReadString(source, "db", path),
            Schema = ReadString(source, "schema", path),
            Table = ReadString(source, "table", path),
            // Every relational connector's coordinates as one 64-bit order (SourceOrder).
            Lsn = SourceOrder.Of(coordinates),
            TxId = ReadScalarText(source, "txId", path),
            TsMs = ReadInt64(source, "ts_ms", path),
            Snapshot = ReadScalarText(source, "snapshot", path),
        };
    }

    private static string? ReadString(JsonElement obj, string name, string path)
    {
        if (!obj.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        return value.ValueKind == JsonValueKind.String
            ? FieldReader.GetString(value, new FieldPath(path, name))
            : throw DecodeErrors.Expected(JsonInput.Child(path, name), "a string", value);
    }

    /// <summary>A string, number or boolean as text: txId is a number (PostgreSQL) or text (others),
    /// snapshot is a boolean (older Debezium) or a word (<c>true</c>, <c>last</c>, <c>incremental</c>, …).</summary>
    private static string? ReadScalarText(JsonElement obj, string name, string path)
    {
        if (!obj.TryGetProperty(name, out var value))
        {
            return null;
        }

        return value.ValueKind switch
        {
            JsonValueKind.Null => null,
            JsonValueKind.String => FieldReader.GetString(value, new FieldPath(path, name)),
            JsonValueKind.Number => value.GetRawText(),
            JsonValueKind.True => "true",
            JsonValueKind.False => "false",
            _ => throw DecodeErrors.Expected(JsonInput.Child(path, name), "a string, number or boolean", value),
        };
    }

    private static long? ReadInt64(JsonElement obj, string name, string path)
    {
        if (!obj.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (value.ValueKind != JsonValueKind.Number)
        {
            throw DecodeErrors.Expected(JsonInput.Child(path, name), "an integer", value);
        }

        return value.TryGetInt64(out var n)
            ? n
            : throw new DecodeException($"{JsonInput.Child(path, name)}: number is not an integer in the range of int64");
    }
}
