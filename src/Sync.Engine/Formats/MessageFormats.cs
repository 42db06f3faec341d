namespace Sync.Engine.Formats;

/// <summary>The message formats a materializer can name in its config (<c>format:</c>).</summary>
public static class MessageFormats
{
    /// <summary>Debezium change events as Kafka Connect's JsonConverter writes them: <see cref="DebeziumJsonDecoder"/>.</summary>
    public const string DebeziumJson = "debezium-json";

    /// <summary>Plain JSON rows keyed by the message key, upserted; a null or empty value deletes: <see cref="JsonRowDecoder"/>.</summary>
    public const string Json = "json";

    /// <summary>Debezium change events flattened by the ExtractNewRecordState SMT: the row itself,
    /// deletes as null values, tombstones or <c>__deleted: "true"</c>: <see cref="DebeziumFlatDecoder"/>.</summary>
    public const string DebeziumFlat = "debezium-flat";

    /// <summary>Every known format name.</summary>
    public static IReadOnlyList<string> Names { get; } = [DebeziumJson, Json, DebeziumFlat];

    /// <summary>A new decoder for <paramref name="name"/>. Each decoder keeps its own schema cache
    /// and is used from one thread at a time.</summary>
    /// <exception cref="ArgumentException">The format is unknown.</exception>
    public static IMessageDecoder Create(string name, DecoderOptions options)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(options);
        return name switch
        {
            DebeziumJson => new DebeziumJsonDecoder(options),
            Json => new JsonRowDecoder(options),
            DebeziumFlat => new DebeziumFlatDecoder(options),
            _ => throw new ArgumentException($"unknown message format '{name}'; known formats: {string.Join(", ", Names)}", nameof(name)),
        };
    }
}
