namespace Sync.Engine.Formats;

/// <summary>Reads Debezium's <c>transaction</c> block (<see cref="TransactionBlock"/>) of a change event,
/// on the document path and on the single-pass path alike. <c>total_order</c> and
/// <c>data_collection_order</c> are INT64 in the schema (debezium/debezium
/// <c>debezium-connector-common/.../schema/SchemaFactory.java</c> <c>transactionBlockSchema</c>), which
/// Kafka's JsonConverter writes as JSON numbers; the example in postgresql.adoc "Change data event
/// enrichment" quotes them (<c>"total_order": "1"</c>), so digits in a string are taken too.</summary>
internal static class TransactionBlockReader
{
    /// <summary>The block of <paramref name="payload"/>, null when it has none (absent or null).</summary>
    /// <exception cref="DecodeException">The block is not an object with a string <c>id</c> and integer orders.</exception>
    public static TransactionBlock? Read(JsonElement payload, string at)
    {
        if (!JsonInput.TryGetObject(payload, "transaction", at, "a JSON object (Debezium's transaction block) or null", out var block, out var path))
        {
            return null;
        }

        if (!block.TryGetProperty("id", out var id) || id.ValueKind != JsonValueKind.String)
        {
            throw new DecodeException($"{JsonInput.Child(path, "id")}: expected a string (the transaction id), found {Found(block, "id")}");
        }

        return new TransactionBlock(id.GetString()!, Order(block, "total_order", path), Order(block, "data_collection_order", path));
    }

    private static long Order(JsonElement block, string name, string path)
    {
        if (block.TryGetProperty(name, out var value))
        {
            if (value.ValueKind == JsonValueKind.Number && value.TryGetInt64(out var number))
            {
                return number;
            }

            if (value.ValueKind == JsonValueKind.String && long.TryParse(value.GetString(), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var quoted))
            {
                return quoted;
            }
        }

        throw new DecodeException($"{JsonInput.Child(path, name)}: expected an integer, found {Found(block, name)}");
    }

    private static string Found(JsonElement block, string name) =>
        block.TryGetProperty(name, out var value) ? DecodeErrors.KindName(value.ValueKind) : "nothing";

    /// <summary>The block the reader is at (its value token), or false when it is not exactly Debezium's
    /// three fields (the caller then leaves the message to the document path, which names a problem).</summary>
    public static bool TryRead(ref Utf8JsonReader reader, out TransactionBlock? block)
    {
        block = null;
        if (reader.TokenType == JsonTokenType.Null)
        {
            return true;
        }

        if (reader.TokenType != JsonTokenType.StartObject)
        {
            return false;
        }

        string? id = null;
        long? total = null, collection = null;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (reader.ValueTextEquals("id"u8) && id is null)
            {
                reader.Read();
                if (reader.TokenType != JsonTokenType.String)
                {
                    return false;
                }

                id = reader.GetString();
            }
            else if (reader.ValueTextEquals("total_order"u8) && total is null)
            {
                reader.Read();
                total = Order(ref reader);
            }
            else if (reader.ValueTextEquals("data_collection_order"u8) && collection is null)
            {
                reader.Read();
                collection = Order(ref reader);
            }
            else
            {
                // A repeated or unknown property: the document path judges it as it judges duplicates.
                return false;
            }
        }

        if (id is null || total is null || collection is null)
        {
            return false;
        }

        block = new TransactionBlock(id, total.Value, collection.Value);
        return true;
    }

    private static long? Order(ref Utf8JsonReader reader)
    {
        if (reader.TokenType == JsonTokenType.Number && reader.TryGetInt64(out var number))
        {
            return number;
        }

        return reader.TokenType == JsonTokenType.String && !reader.ValueIsEscaped
            && System.Buffers.Text.Utf8Parser.TryParse(reader.ValueSpan, out long quoted, out var consumed) && consumed == reader.ValueSpan.Length && quoted >= 0
            ? quoted
            : null;
    }
}
