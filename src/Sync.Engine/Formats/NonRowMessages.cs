namespace Sync.Engine.Formats;

/// <summary>The kinds of message a Debezium connector writes that are not row changes. None of
/// them is dead-lettered: each is counted and skipped (a logical decoding message can be kept as a
/// row instead, <c>messages: keep</c>).</summary>
public enum NonRowKind
{
    /// <summary>A heartbeat, <c>{"ts_ms": …}</c> on <c>__debezium-heartbeat.&lt;prefix&gt;</c>.</summary>
    Heartbeat,

    /// <summary>A transaction boundary, <c>status: BEGIN | END</c> on <c>&lt;prefix&gt;.transaction</c>.</summary>
    Transaction,

    /// <summary>A PostgreSQL logical decoding message, <c>op: "m"</c> on <c>&lt;prefix&gt;.message</c>.</summary>
    Message,

    /// <summary>A schema change (<c>databaseName</c>, <c>ddl</c>, <c>tableChanges</c>) on the
    /// schema change topic <c>&lt;prefix&gt;</c> or the connector's schema history topic.</summary>
    SchemaChange,
}

/// <summary>A message that is not a row change, as <see cref="NonRowMessages.Recognise"/> found it.</summary>
/// <param name="Kind">What it is.</param>
/// <param name="Message">For <see cref="NonRowKind.Message"/>: the logical decoding message; else null.</param>
public sealed record NonRowMessage(NonRowKind Kind, LogicalDecodingMessage? Message = null)
{
    /// <summary>The kind's name in summaries, metrics and docs: heartbeat, transaction, message, schema-change.</summary>
    public static string NameOf(NonRowKind kind) => kind switch
    {
        NonRowKind.Heartbeat => "heartbeat",
        NonRowKind.Transaction => "transaction",
        NonRowKind.Message => "message",
        _ => "schema-change",
    };
}

/// <summary>A PostgreSQL logical decoding message (<c>pg_logical_emit_message</c>) as Debezium's
/// PostgreSQL connector writes it: its <c>message</c> block and where in the WAL it was.</summary>
/// <param name="Prefix">The prefix given to <c>pg_logical_emit_message</c> (null when the connector sent none).</param>
/// <param name="Content">The content as the connector encoded it (<c>binary.handling.mode</c>): base64 by default, hex, or base64-url-safe text.</param>
/// <param name="Source">The event's <c>source</c> block: <c>lsn</c>, and <c>txId</c> for a transactional message only.</param>
/// <param name="TsMs">When the connector processed it (envelope <c>ts_ms</c>).</param>
public sealed record LogicalDecodingMessage(string? Prefix, string? Content, SourceInfo? Source, long? TsMs)
{
    /// <summary>Debezium gives a transactional message its transaction's <c>txId</c>, a
    /// non-transactional one none (debezium/debezium documentation/modules/ROOT/pages/connectors/postgresql.adoc, "message events").</summary>
    public bool Transactional => Source?.TxId is not null;
}

/// <summary>Thrown by <see cref="DebeziumJsonDecoder"/> for a well-formed message that is not a row
/// change. It is a <see cref="DecodeException"/> so that code which only knows row changes (an
/// erasure scan, an audit) passes it by like any message without a row; the runtime catches it
/// first, counts the kind and skips the message (or keeps a logical decoding message as a row).</summary>
public sealed class NonRowMessageException : DecodeException
{
    public NonRowMessageException(NonRowMessage skipped)
        : base($"not a row change: a Debezium {NonRowMessage.NameOf(skipped.Kind)} message")
    {
        Skipped = skipped;
    }

    public NonRowMessageException()
        : this(new NonRowMessage(NonRowKind.Heartbeat))
    {
    }

    public NonRowMessageException(string message)
        : base(message)
    {
        Skipped = new NonRowMessage(NonRowKind.Heartbeat);
    }

    public NonRowMessageException(string message, Exception inner)
        : base(message, inner)
    {
        Skipped = new NonRowMessage(NonRowKind.Heartbeat);
    }

    public NonRowMessage Skipped { get; }
}

/// <summary>Tells Debezium's messages that are not row changes from row changes by their shape,
/// which holds with and without the JsonConverter's schema wrapper and whatever the topic is called
/// (topic names are configurable: <c>topic.heartbeat.prefix</c>, <c>topic.transaction</c>, routing SMTs).
/// Shapes, from debezium/debezium:
/// <list type="bullet">
/// <item>heartbeat: value struct <c>io.debezium.connector.common.Heartbeat</c> with the single field
/// <c>ts_ms</c>; key <c>{serverName}</c> (debezium-connector-common/.../heartbeat/HeartbeatImpl.java,
/// schema/SchemaFactory.java heartbeatValueSchema; the same in 1.9.7 debezium-core/.../heartbeat/HeartbeatImpl.java).</item>
/// <item>transaction metadata: <c>status</c> (BEGIN or END), <c>id</c>, <c>event_count</c>,
/// <c>data_collections</c> and, since 2.x, <c>ts_ms</c>; no <c>op</c>
/// (pipeline/txmetadata/AbstractTransactionStructMaker.java, SchemaFactory.transactionValueSchema;
/// 1.9.7 pipeline/txmetadata/TransactionMonitor.java; docs "Transaction metadata").</item>
/// <item>logical decoding message: <c>op: "m"</c>, <c>source</c>, <c>ts_ms</c> and a <c>message</c>
/// block with <c>prefix</c> and <c>content</c> (debezium-connector-postgres/.../LogicalDecodingMessageMonitor.java;
/// postgresql.adoc "message events").</item>
/// <item>schema change: <c>source</c>, <c>ts_ms</c>, <c>databaseName</c>, <c>schemaName</c>,
/// <c>ddl</c> (null for SQL Server) and <c>tableChanges</c>, no <c>op</c>; the internal schema
/// history topic's records add <c>position</c> (SchemaFactory.schemaHistoryConnectorValueSchema,
/// relational/history/HistoryRecord.java; shared-mariadb-mysql.adoc "schema-change", sqlserver.adoc).</item>
/// </list></summary>
public static class NonRowMessages
{
    /// <summary>What <paramref name="payload"/> (a Debezium value, the wrapper's payload or the bare
    /// object) is when it is not a row change; null for a row change or anything else, which the
    /// decoder then judges as it always did.</summary>
    public static NonRowKind? Recognise(JsonElement payload)
    {
        if (payload.ValueKind != JsonValueKind.Object)
        {
            return null;
        }

        if (payload.TryGetProperty("op", out var op))
        {
            return op.ValueKind == JsonValueKind.String && op.ValueEquals("m") && payload.TryGetProperty("message", out var block)
                && block.ValueKind is JsonValueKind.Object or JsonValueKind.Null
                ? NonRowKind.Message
                : null;
        }

        if (payload.TryGetProperty("status", out var status) && status.ValueKind == JsonValueKind.String
            && (status.ValueEquals("BEGIN") || status.ValueEquals("END"))
            && payload.TryGetProperty("id", out var id) && id.ValueKind == JsonValueKind.String)
        {
            return NonRowKind.Transaction;
        }

        if (payload.TryGetProperty("databaseName", out _)
            && (payload.TryGetProperty("ddl", out _) || payload.TryGetProperty("tableChanges", out _)))
        {
            return NonRowKind.SchemaChange;
        }

        return payload.GetPropertyCount() == 1 && payload.TryGetProperty("ts_ms", out var ts) && ts.ValueKind == JsonValueKind.Number
            ? NonRowKind.Heartbeat
            : null;
    }

    /// <summary>The exception that skips a recognised message; for a logical decoding message it
    /// carries the message's prefix, content and source (<paramref name="source"/>).</summary>
    internal static NonRowMessageException Skip(NonRowKind kind, JsonElement payload, string at, SourceInfo? source, long? tsMs)
    {
        if (kind != NonRowKind.Message)
        {
            return new NonRowMessageException(new NonRowMessage(kind));
        }

        string? prefix = null, content = null;
        if (payload.GetProperty("message") is { ValueKind: JsonValueKind.Object } block)
        {
            prefix = Text(block, "prefix", JsonInput.Child(at, "message"));
            content = Text(block, "content", JsonInput.Child(at, "message"));
        }

        return new NonRowMessageException(new NonRowMessage(kind, new LogicalDecodingMessage(prefix, content, source, tsMs)));
    }

    private static string? Text(JsonElement block, string name, string path)
    {
        if (!block.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        return value.ValueKind == JsonValueKind.String
            ? value.GetString()
            : throw DecodeErrors.Expected(JsonInput.Child(path, name), "a string", value);
    }

    /// <summary>The columns of a kept logical decoding message: <c>lsn</c> (the key), <c>prefix</c>,
    /// <c>content</c> (bytes), <c>transactional</c>.</summary>
    public static RowSchema MessageRowSchema { get; } = new([
        new ColumnSchema("lsn", LogicalType.Int64, Optional: false),
        new ColumnSchema("prefix", LogicalType.String, Optional: true),
        new ColumnSchema("content", LogicalType.Bytes, Optional: true),
        new ColumnSchema("transactional", LogicalType.Boolean, Optional: false),
    ]);

    /// <summary>A logical decoding message as an upsert of its own row, keyed by its WAL position
    /// (<c>lsn</c>, unique per source database and stable across a rebuilt topic), for a
    /// materializer with <c>messages: keep</c>. <paramref name="binaryHandlingMode"/> is the
    /// connector's <c>binary.handling.mode</c>, which decides how the content was encoded.</summary>
    /// <exception cref="DecodeException">The message has no lsn, or its content does not decode in that mode.</exception>
    public static ChangeEvent ToChange(LogicalDecodingMessage message, Origin origin, string binaryHandlingMode)
    {
        ArgumentNullException.ThrowIfNull(message);
        ArgumentNullException.ThrowIfNull(origin);
        var lsn = message.Source?.Lsn
            ?? throw new DecodeException("source.lsn: missing; a logical decoding message is kept under its lsn");
        byte[]? content;
        try
        {
            content = message.Content is null ? null : binaryHandlingMode switch
            {
                "hex" => Convert.FromHexString(message.Content),
                "base64-url-safe" => Convert.FromBase64String(message.Content.Replace('-', '+').Replace('_', '/').PadRight((message.Content.Length + 3) / 4 * 4, '=')),
                // bytes (JsonConverter writes bytes as base64) and base64.
                _ => Convert.FromBase64String(message.Content),
            };
        }
        catch (FormatException)
        {
            throw new DecodeException($"message.content: not {(binaryHandlingMode == "hex" ? "hex" : "base64")} text (connector.binaryHandlingMode is {binaryHandlingMode})");
        }

        var key = new Row(["lsn"], [FieldValue.FromInt64(lsn)], new RowSchema([MessageRowSchema.Columns[0]]));
        var row = new Row(
            ["lsn", "prefix", "content", "transactional"],
            [
                FieldValue.FromInt64(lsn),
                message.Prefix is null ? FieldValue.Null : FieldValue.FromString(message.Prefix),
                content is null ? FieldValue.Null : FieldValue.FromBytes(content),
                FieldValue.FromBoolean(message.Transactional),
            ],
            MessageRowSchema);
        return new ChangeEvent
        {
            Op = ChangeOp.Create,
            Key = key,
            After = row,
            Source = message.Source,
            Origin = origin,
            TsMs = message.TsMs,
        };
    }
}
