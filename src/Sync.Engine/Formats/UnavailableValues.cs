using System.Buffers;
using System.Security.Cryptography;

namespace Sync.Engine.Formats;

/// <summary>Recognises the Debezium PostgreSQL connector's unavailable-value placeholder: the value it
/// sends in place of an unchanged TOASTed column (REPLICA IDENTITY DEFAULT), which becomes
/// <see cref="FieldValue.Unavailable"/>, so that a sink keeps the value it stores.</summary>
/// <remarks>
/// The forms follow debezium/debezium, debezium-connector-postgres:
/// <c>UnchangedToastedReplicationMessageColumn.setUnchangedToastValue</c> picks a marker by column type,
/// and <c>UnchangedToastedPlaceholder</c> (with <c>PostgresValueConverter.convertString</c>,
/// <c>convertBinaryToBytes</c>, <c>convertBinaryToHex</c>, <c>handleUnknownData</c>) turns it into
/// <list type="bullet">
/// <item>text, varchar, json, jsonb, xml, enum (and bytea in binary.handling.mode hex or base64): the placeholder string;</item>
/// <item>bytea (binary.handling.mode bytes): the placeholder's bytes, base64 in JSON;</item>
/// <item>text[], varchar[], char[], json[], jsonb[]: a list of one placeholder string;</item>
/// <item>bytea[]: a list of one byte array of the placeholder (base64 in JSON);</item>
/// <item>integer[], date[], bigint[]: a list of the placeholder's bytes as numbers;</item>
/// <item>uuid[]: a list of one UUID, <c>UUID.nameUUIDFromBytes(placeholder)</c>;</item>
/// <item>hstore: a map {placeholder: placeholder}, or its JSON text (hstore.handling.mode json).</item>
/// </list>
/// The placeholder is the connector's <c>unavailable.value.placeholder</c>
/// (<c>CommonConnectorConfig.UNAVAILABLE_VALUE_PLACEHOLDER</c>, default <c>__debezium_unavailable_value</c>;
/// the PostgreSQL connector documentation, "Considerations when using REPLICA IDENTITY DEFAULT / toasted values").
/// </remarks>
internal sealed class UnavailableValues
{
    private readonly string _text;
    private readonly string _base64;
    private readonly string _hstoreJson;
    private readonly HashSet<string> _nested;
    private readonly int _longestNested;

    public UnavailableValues(string placeholder)
    {
        ArgumentException.ThrowIfNullOrEmpty(placeholder);

        // As PostgresConnectorConfig.getUnavailableValuePlaceholder reads the setting: "hex:" and
        // hexadecimal octets, else the text's bytes; the string forms are those bytes as text.
        var bytes = placeholder.StartsWith("hex:", StringComparison.Ordinal)
            ? Convert.FromHexString(placeholder.AsSpan(4))
            : Encoding.UTF8.GetBytes(placeholder);
        _text = Encoding.UTF8.GetString(bytes);
        _base64 = Convert.ToBase64String(bytes);
        _hstoreJson = Minify(JsonSerializer.Serialize(new Dictionary<string, string> { [placeholder] = placeholder }))!;
        _nested = new HashSet<string>(StringComparer.Ordinal)
        {
            Minify(JsonSerializer.Serialize(new[] { placeholder }))!,
            Minify(JsonSerializer.Serialize(new[] { _base64 }))!,
            // Java bytes are signed: Debezium widens each byte as (int) b.
            Minify(JsonSerializer.Serialize(bytes.Select(b => (int)(sbyte)b).ToArray()))!,
            Minify(JsonSerializer.Serialize(new[] { NameUuid(bytes) }))!,
            _hstoreJson,
        };
        _longestNested = _nested.Max(n => n.Length);
    }

    public string Placeholder => _text;

    /// <summary>Whether a JSON value of a field with a Connect schema is the placeholder in the form
    /// Debezium gives that field's Connect type.</summary>
    public bool Matches(JsonElement value, FieldPlan field) => value.ValueKind switch
    {
        JsonValueKind.String => field.ConnectType switch
        {
            "string" => value.ValueEquals(_text) || (field.Codec == ValueCodec.Json && value.ValueEquals(_hstoreJson)),
            "bytes" => value.ValueEquals(_base64),
            _ => false,
        },
        JsonValueKind.Array when field.ConnectType == "array" => IsNestedPlaceholder(value.GetRawText()),
        JsonValueKind.Object when field.ConnectType == "map" => IsNestedPlaceholder(value.GetRawText()),
        _ => false,
    };

    /// <summary>Whether a value read without a schema is the placeholder in any of its forms: the
    /// string, the base64 text of its bytes, or one of the list and map forms.</summary>
    public bool Matches(FieldValue value) => value.Kind switch
    {
        ValueKind.String => value.AsText is var s && (s == _text || s == _base64 || s == _hstoreJson),
        ValueKind.Json => IsNestedPlaceholder(value.AsText),
        _ => false,
    };

    /// <summary>Replaces placeholder values of a row read without a schema by <see cref="FieldValue.Unavailable"/>, in place.</summary>
    public void MarkSchemaless(Row? row)
    {
        if (row is null || row.Schema is not null)
        {
            return;
        }

        var values = row.Values;
        for (var i = 0; i < values.Length; i++)
        {
            if (Matches(values[i]))
            {
                values[i] = FieldValue.Unavailable;
            }
        }
    }

    private bool IsNestedPlaceholder(string json)
    {
        // Compact JSON (as JsonConverter writes it) is compared as it is; other spacing is minified first.
        if (json.Length > _longestNested * 4)
        {
            return false;
        }

        return _nested.Contains(json) || (Minify(json) is { } compact && _nested.Contains(compact));
    }

    private static string? Minify(string json)
    {
        var buffer = new ArrayBufferWriter<byte>(json.Length);
        try
        {
            using (var writer = new Utf8JsonWriter(buffer))
            {
                using var document = JsonDocument.Parse(json);
                document.RootElement.WriteTo(writer);
            }

            return Encoding.UTF8.GetString(buffer.WrittenSpan);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>Java's <c>UUID.nameUUIDFromBytes</c>: a version 3 (MD5) UUID of the bytes.</summary>
    private static string NameUuid(byte[] bytes)
    {
#pragma warning disable CA5351 // MD5 is what Java's nameUUIDFromBytes uses; this reproduces a value, it protects nothing.
        var md5 = MD5.HashData(bytes);
#pragma warning restore CA5351
        md5[6] = (byte)((md5[6] & 0x0f) | 0x30);
        md5[8] = (byte)((md5[8] & 0x3f) | 0x80);
        return new Guid(md5, bigEndian: true).ToString("D");
    }
}
