using System.Runtime.InteropServices;

namespace Sync.Engine.Formats;

/// <summary>Reads message keys. A key travels as text: base64 of the key bytes when flagged (Pulsar
/// IO's Debezium source), else the JSON text itself (Debezium Server). The key JSON may be wrapped
/// as Kafka's JsonConverter writes it with schemas (<c>{"schema":…,"payload":…}</c>). All three
/// forms of one key give equal rows and equal key text.</summary>
internal sealed class KeyReader(SchemaCache<RowPlan> keySchemas)
{
    public const string NoKey = "message has no key; set keyColumns for tables without a primary key";

    /// <summary>The key bytes, or null when the message has no key (absent or empty).</summary>
    public static byte[]? Bytes(MessageKey key)
    {
        if (key.Text is not { Length: > 0 } text)
        {
            return null;
        }

        if (!key.IsBase64)
        {
            return System.Text.Encoding.UTF8.GetBytes(text);
        }

        var buffer = new byte[(text.Length * 3 / 4) + 3];
        return Convert.TryFromBase64String(text, buffer, out var written)
            ? buffer.AsSpan(0, written).ToArray()
            : throw new DecodeException("key: not valid base64 (the key is flagged as base64 of the key bytes)");
    }

    /// <summary>Reads a key that must be a JSON object (Debezium), optionally schema-wrapped.
    /// Columns without a key schema are typed by <paramref name="imagePlan"/> when it declares them.</summary>
    public Row ReadObject(byte[] bytes, RowPlan? imagePlan)
    {
        using var document = JsonInput.Parse(bytes, "key");
        return ReadObject(document.RootElement, imagePlan);
    }

    public Row ReadObject(JsonElement root, RowPlan? imagePlan)
    {
        if (JsonInput.IsSchemaWrapper(root, out var schema, out var payload))
        {
            if (payload.ValueKind != JsonValueKind.Object)
            {
                throw DecodeErrors.Expected("key.payload", "a JSON object", payload);
            }

            if (schema.ValueKind == JsonValueKind.Object)
            {
                var plan = keySchemas.GetOrAdd(
                    JsonMarshal.GetRawUtf8Value(schema),
                    schema,
                    static s => ConnectSchemaParser.ParseRow(s, "key.schema"));
                return RowReader.Read(payload, plan, "key.payload");
            }

            return RowReader.ReadKey(payload, imagePlan, "key.payload");
        }

        if (root.ValueKind != JsonValueKind.Object)
        {
            throw DecodeErrors.Expected("key", "a JSON object", root);
        }

        return RowReader.ReadKey(root, imagePlan, "key");
    }
}
