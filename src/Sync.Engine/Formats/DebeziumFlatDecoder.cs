namespace Sync.Engine.Formats;

/// <summary>Decodes Debezium change events flattened by the <c>ExtractNewRecordState</c> SMT ("new
/// record state extraction", format <c>debezium-flat</c>): the value is the row itself, with or
/// without the <c>{"schema":…,"payload":…}</c> wrapper.</summary>
/// <remarks>What the SMT writes (debezium/debezium debezium-connect-plugins
/// io/debezium/transforms/ExtractNewRecordState.java, ExtractNewRecordStateConfigDefinition.java,
/// extractnewstate/DefaultDeleteHandlingStrategy.java, AbstractExtractRecordStrategy.java):
/// <list type="bullet">
/// <item><c>delete.tombstone.handling.mode=tombstone</c> (the default) and 1.x's
/// <c>delete.handling.mode=none</c>: a delete is a record whose value is null (JsonConverter writes
/// <c>null</c>, or <c>{"schema":…,"payload":null}</c> with schemas), the connector's own tombstone is
/// dropped;</item>
/// <item><c>rewrite</c> (and 1.x's <c>delete.handling.mode=rewrite</c>): a delete is the before
/// image with <c>"__deleted":"true"</c>, every other row carries <c>"__deleted":"false"</c>;
/// <c>rewrite-with-tombstone</c> also keeps the tombstone;</item>
/// <item><c>delete-to-tombstone</c>: a delete becomes a tombstone (no value); <c>drop</c>: deletes never arrive.</item>
/// </list>
/// Each of these decodes to a delete of the message key (a null value, a tombstone, or
/// <c>__deleted</c> "true"/true, or <c>__op</c> "d"). <c>add.fields</c> adds the named envelope and
/// source fields as <c>__&lt;field&gt;</c> (<c>op</c>, <c>ts_ms</c> from the envelope, unqualified names
/// from <c>source</c>) or <c>__&lt;struct&gt;_&lt;field&gt;</c> (<c>source.ts_ms</c> → <c>__source_ts_ms</c>):
/// <c>__op</c> gives the operation, <c>__ts_ms</c> the event time, and <c>__lsn</c>/<c>__source_lsn</c>,
/// <c>__file</c>/<c>__pos</c>/<c>__row</c>, <c>__commit_lsn</c>, <c>__scn</c>/<c>__commit_scn</c> and
/// <c>__connector</c>, <c>__db</c>, <c>__schema</c>, <c>__table</c>, <c>__txId</c>, <c>__snapshot</c>
/// (with or without <c>source_</c>) the source block, so that the change has a source version
/// (<see cref="SourceOrder"/>). Every column whose name starts with <c>__</c> is such bookkeeping and
/// stays out of the row; a materializer's <c>metadata</c> mapping keeps what it needs as columns.</remarks>
public sealed class DebeziumFlatDecoder : JsonMessageDecoder
{
    /// <summary>The SMT's default <c>add.fields.prefix</c> (<c>ExtractNewRecordStateConfigDefinition.METADATA_FIELD_PREFIX</c>).</summary>
    public const string MetadataPrefix = "__";

    private readonly DecoderOptions _options;
    private readonly SchemaCache<RowPlan> _rowSchemas = new();
    private readonly KeyReader _keys;
    private readonly UnavailableValues _unavailable;

    public DebeziumFlatDecoder(DecoderOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options;
        _keys = new KeyReader(new SchemaCache<RowPlan>());
        _unavailable = new UnavailableValues(options.UnavailableValuePlaceholder);
    }

    protected override ChangeEvent DecodeCore(SourceMessage message)
    {
        if (message.IsTombstone)
        {
            return Delete(message, null, null, null, null, ChangeOp.Tombstone);
        }

        using var input = RowPayload.Parse(message, _rowSchemas, _options.BinaryHandlingMode);
        var value = input.Value;
        var plan = input.Plan;
        var at = input.At;
        var path = input.Path;
        if (value.ValueKind == JsonValueKind.Null)
        {
            // delete.tombstone.handling.mode=tombstone: the delete's value is null.
            return Delete(message, null, plan, null, null, ChangeOp.Delete);
        }

        if (value.ValueKind != JsonValueKind.Object)
        {
            throw DecodeErrors.Expected(path, "a JSON object (a flattened row)", value);
        }

        // The SMT copies the after image as the connector wrote it, unchanged TOASTed columns included.
        var full = RowReader.Read(value, plan, at, _unavailable);
        var metadata = Metadata.Read(value, path);
        var row = WithoutMetadata(full, plan);
        _unavailable.MarkSchemaless(row);
        if (metadata.Deleted || metadata.Op == ChangeOp.Delete)
        {
            return Delete(message, row, plan, metadata.Source, metadata.TsMs, ChangeOp.Delete, path);
        }

        if (metadata.Op == ChangeOp.Truncate)
        {
            return new ChangeEvent { Op = ChangeOp.Truncate, Key = Row.Empty, Source = metadata.Source, Origin = message.ToOrigin(), TsMs = metadata.TsMs };
        }

        var key = ReadKey(message.Key, row, plan, path);
        foreach (var name in key.Names)
        {
            if (row.TryGet(name, out var held) && held.IsUnavailable)
            {
                throw new DecodeException($"{path}.{name}: key column holds the connector's unavailable-value placeholder; key columns are never TOASTed, so the row cannot be applied");
            }
        }

        return new ChangeEvent
        {
            Op = metadata.Op ?? ChangeOp.Update,
            Key = key,
            After = row,
            Source = metadata.Source,
            Origin = message.ToOrigin(),
            TsMs = metadata.TsMs,
        };
    }

    private ChangeEvent Delete(SourceMessage message, Row? before, RowPlan? plan, SourceInfo? source, long? tsMs, ChangeOp op, string path = "value")
    {
        Row key;
        if (KeyReader.Bytes(message.Key) is { } bytes)
        {
            key = _keys.ReadObject(bytes, plan);
        }
        else if (before is not null && _options.KeyColumns is { Count: > 0 } columns)
        {
            key = RowReader.Project(before, columns, plan, path);
        }
        else
        {
            throw new DecodeException(before is null
                ? "a delete without a value has no key: a null or empty value deletes the row of its key"
                : KeyReader.NoKey);
        }

        return new ChangeEvent { Op = op, Key = key, Before = before, Source = source, Origin = message.ToOrigin(), TsMs = tsMs };
    }

    private Row ReadKey(MessageKey messageKey, Row row, RowPlan? plan, string rowPath)
    {
        if (KeyReader.Bytes(messageKey) is { } bytes)
        {
            return _keys.ReadObject(bytes, plan);
        }

        return _options.KeyColumns is { Count: > 0 } columns
            ? RowReader.Project(row, columns, plan, rowPath)
            : throw new DecodeException(KeyReader.NoKey);
    }

    private static bool IsMetadata(string name) => name.StartsWith(MetadataPrefix, StringComparison.Ordinal);

    /// <summary>The row without its <c>__</c> columns (the same row when it has none).</summary>
    private static Row WithoutMetadata(Row row, RowPlan? plan)
    {
        var kept = 0;
        foreach (var name in row.Names)
        {
            kept += IsMetadata(name) ? 0 : 1;
        }

        if (kept == row.Count)
        {
            return row;
        }

        var names = new string[kept];
        var values = new FieldValue[kept];
        var j = 0;
        for (var i = 0; i < row.Count; i++)
        {
            if (!IsMetadata(row.Names[i]))
            {
                names[j] = row.Names[i];
                values[j++] = row.Values[i];
            }
        }

        return new Row(names, values, row.Schema is not null ? plan?.ProjectionSchema(names) : null);
    }

    /// <summary>What the SMT's <c>__</c> fields say about the change.</summary>
    private readonly record struct Metadata(bool Deleted, ChangeOp? Op, long? TsMs, SourceInfo? Source)
    {
        public static Metadata Read(JsonElement row, string path)
        {
            var deleted = false;
            ChangeOp? op = null;
            long? tsMs = null;
            var source = default(SourceBlock);
            var any = false;
            foreach (var property in row.EnumerateObject())
            {
                if (!IsMetadata(property.Name))
                {
                    continue;
                }

                var field = property.Name[MetadataPrefix.Length..];
                var value = property.Value;
                switch (field)
                {
                    case "deleted":
                        deleted = value.ValueKind switch
                        {
                            JsonValueKind.String => value.ValueEquals("true"),
                            JsonValueKind.True => true,
                            JsonValueKind.False or JsonValueKind.Null => false,
                            _ => throw DecodeErrors.Expected(JsonInput.Child(path, property.Name), "\"true\" or \"false\"", value),
                        };
                        continue;
                    case "op":
                        op = value.ValueKind == JsonValueKind.String ? OpOf(value, JsonInput.Child(path, property.Name)) : null;
                        continue;
                    case "ts_ms":
                        tsMs = value.ValueKind == JsonValueKind.Number && value.TryGetInt64(out var t) ? t : null;
                        continue;
                    default:
                        break;
                }

                // Unqualified names come from the source block (AbstractExtractNewRecordState.FieldReference.determineStruct).
                if (field.StartsWith("source_", StringComparison.Ordinal))
                {
                    field = field["source_".Length..];
                }

                any = true;
                if (source.Coordinates.Accept(field, value))
                {
                    continue;
                }

                var text = value.ValueKind switch
                {
                    JsonValueKind.String => FieldReader.GetString(value, new FieldPath(path, property.Name)),
                    JsonValueKind.Number => value.GetRawText(),
                    JsonValueKind.True => "true",
                    JsonValueKind.False => "false",
                    _ => null,
                };
                switch (field)
                {
                    case "connector": source.Connector = text; break;
                    case "name": source.Name = text; break;
                    case "db": source.Db = text; break;
                    case "schema": source.Schema = text; break;
                    case "table": source.Table = text; break;
                    case "txId": source.TxId = text; break;
                    case "snapshot": source.Snapshot = text; break;
                    case "ts_ms": source.TsMs = value.ValueKind == JsonValueKind.Number && value.TryGetInt64(out var s) ? s : null; break;
                    default: break;
                }
            }

            return new Metadata(deleted, op, tsMs, any ? source.ToSourceInfo() : null);
        }

        private static ChangeOp OpOf(JsonElement op, string path) =>
            op.ValueEquals("c") ? ChangeOp.Create
            : op.ValueEquals("u") ? ChangeOp.Update
            : op.ValueEquals("r") ? ChangeOp.Read
            : op.ValueEquals("d") ? ChangeOp.Delete
            : op.ValueEquals("t") ? ChangeOp.Truncate
            : throw new DecodeException($"{path}: unknown operation code (expected c, u, d, r or t)");
    }
}
