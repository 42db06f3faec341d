namespace Sync.Engine.Formats;

/// <summary>BEGIN or END of a source transaction.</summary>
public enum TransactionStatus
{
    Begin,
    End,
}

/// <summary>A table's share of a transaction, from an END record's <c>data_collections</c>.</summary>
/// <param name="DataCollection">The table as the connector names it (PostgreSQL: <c>schema.table</c>;
/// MySQL: <c>db.table</c>): Debezium's <c>DataCollectionId.toString()</c>.</param>
/// <param name="EventCount">How many change events of that table the transaction emitted.</param>
public sealed record DataCollectionCount(string DataCollection, long EventCount);

/// <summary>One record of Debezium's transaction topic (<c>&lt;prefix&gt;.transaction</c>).</summary>
/// <param name="Status">BEGIN or END.</param>
/// <param name="Id">The transaction id as written (<see cref="TransactionBlock.KeyOf"/> gives the part all its records share).</param>
/// <param name="EventCount">END: how many change events the transaction emitted; BEGIN: null.</param>
/// <param name="DataCollections">END: the per-table counts; BEGIN: empty.</param>
/// <param name="TsMs">When the boundary happened at the source (2.x and later; absent in 1.9).</param>
/// <param name="Origin">The message it came from.</param>
public sealed record TransactionBoundary(
    TransactionStatus Status,
    string Id,
    long? EventCount,
    IReadOnlyList<DataCollectionCount> DataCollections,
    long? TsMs,
    Origin Origin)
{
    /// <summary>The id that names the transaction in every one of its records.</summary>
    public string TransactionKey => TransactionBlock.KeyOf(Id);
}

/// <summary>Decodes the records of Debezium's transaction topic, with or without the JsonConverter's
/// <c>{"schema", "payload"}</c> wrapper. Shapes from debezium/debezium:
/// <list type="bullet">
/// <item>value schema <c>TransactionMetadataValue</c>: <c>status</c> STRING, <c>id</c> STRING,
/// <c>event_count</c> optional INT64, <c>data_collections</c> optional array of
/// <c>{data_collection STRING, event_count INT64}</c>, <c>ts_ms</c> INT64
/// (<c>debezium-connector-common/src/main/java/io/debezium/schema/SchemaFactory.java</c>
/// <c>transactionValueSchema</c>; <c>pipeline/txmetadata/AbstractTransactionStructMaker.java</c>
/// <c>buildBeginTransactionValue</c>/<c>buildEndTransactionValue</c>);</item>
/// <item>1.9 (what Pulsar IO bundles) has no <c>ts_ms</c> (tag v1.9.7.Final
/// <c>debezium-core/src/main/java/io/debezium/pipeline/txmetadata/TransactionMonitor.java</c>);</item>
/// <item>key <c>{"id": …}</c> (<c>buildTransactionKey</c>); BEGIN has <c>event_count</c> and
/// <c>data_collections</c> null (postgresql.adoc "Transaction metadata").</item>
/// </list>
/// Pulsar IO's Debezium source writes these records like every other record of the connector, to
/// <c>persistent://{tenant}/{namespace}/{prefix}.transaction</c> (apache/pulsar
/// <c>pulsar-io/kafka-connect-adaptor/.../KafkaConnectSource.java</c>; /work/shared/cdc-facts.md).</summary>
public static class TransactionRecordDecoder
{
    /// <summary>The boundary <paramref name="message"/> holds.</summary>
    /// <exception cref="DecodeException">It is not a BEGIN or END record; the message names the field.</exception>
    public static TransactionBoundary Decode(SourceMessage message)
    {
        ArgumentNullException.ThrowIfNull(message);
        if (message.IsTombstone)
        {
            throw new DecodeException("value: empty; a transaction topic record is a BEGIN or END object");
        }

        using var document = JsonInput.Parse(message.Value, "value");
        var root = document.RootElement;
        var at = string.Empty;
        var payload = root;
        if (JsonInput.IsSchemaWrapper(root, out _, out var wrapped))
        {
            payload = wrapped;
            at = "payload";
        }

        if (payload.ValueKind != JsonValueKind.Object)
        {
            throw DecodeErrors.Expected(at.Length == 0 ? "value" : at, "a JSON object (a transaction BEGIN or END record)", payload);
        }

        var status = Text(payload, "status", at) switch
        {
            "BEGIN" => TransactionStatus.Begin,
            "END" => TransactionStatus.End,
            _ => throw new DecodeException($"{JsonInput.Child(at, "status")}: expected BEGIN or END"),
        };
        var id = Text(payload, "id", at);
        var eventCount = Integer(payload, "event_count", at);
        var collections = new List<DataCollectionCount>();
        if (payload.TryGetProperty("data_collections", out var list) && list.ValueKind != JsonValueKind.Null)
        {
            var path = JsonInput.Child(at, "data_collections");
            if (list.ValueKind != JsonValueKind.Array)
            {
                throw DecodeErrors.Expected(path, "an array or null", list);
            }

            var i = 0;
            foreach (var item in list.EnumerateArray())
            {
                var itemPath = $"{path}[{i++}]";
                if (item.ValueKind != JsonValueKind.Object)
                {
                    throw DecodeErrors.Expected(itemPath, "a JSON object {data_collection, event_count}", item);
                }

                collections.Add(new DataCollectionCount(
                    Text(item, "data_collection", itemPath),
                    Integer(item, "event_count", itemPath) ?? throw new DecodeException($"{itemPath}.event_count: missing")));
            }
        }

        if (status == TransactionStatus.End && eventCount is null)
        {
            throw new DecodeException($"{JsonInput.Child(at, "event_count")}: missing; an END record carries the transaction's event count");
        }

        return new TransactionBoundary(status, id, eventCount, collections, Integer(payload, "ts_ms", at), message.ToOrigin());
    }

    private static string Text(JsonElement obj, string name, string at)
    {
        if (obj.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String)
        {
            return value.GetString()!;
        }

        var found = obj.TryGetProperty(name, out var present) ? DecodeErrors.KindName(present.ValueKind) : "nothing";
        throw new DecodeException($"{JsonInput.Child(at, name)}: expected a string, found {found}");
    }

    private static long? Integer(JsonElement obj, string name, string at)
    {
        if (!obj.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (value.ValueKind == JsonValueKind.Number && value.TryGetInt64(out var number) && number >= 0)
        {
            return number;
        }

        if (value.ValueKind == JsonValueKind.String && long.TryParse(value.GetString(), NumberStyles.None, CultureInfo.InvariantCulture, out var quoted))
        {
            return quoted;
        }

        throw new DecodeException($"{JsonInput.Child(at, name)}: expected a non-negative integer, found {DecodeErrors.KindName(value.ValueKind)}");
    }
}
