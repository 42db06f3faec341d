namespace Sync.Engine.Formats;

/// <summary>Turns one source message into one change. Decoders are stateless apart from caches
/// and safe to call from one thread at a time.</summary>
public interface IMessageDecoder
{
    /// <summary>Decodes <paramref name="message"/>. Throws <see cref="DecodeException"/> naming what is wrong.</summary>
    ChangeEvent Decode(SourceMessage message);
}

/// <summary>Options every decoder understands.</summary>
public sealed record DecoderOptions
{
    /// <summary>Key columns to take from the row image when a message has no key (tables without a
    /// primary key, or a plain JSON stream keyed by a field). Null: the message key is required.</summary>
    public IReadOnlyList<string>? KeyColumns { get; init; }

    /// <summary>The connector's <c>binary.handling.mode</c> (<c>bytes</c>, <c>base64</c>,
    /// <c>base64-url-safe</c>, <c>hex</c>): how a binary column whose source type the schema names
    /// (<c>column.propagate.source.type</c>) was sent as text. Default <c>bytes</c>.</summary>
    public string BinaryHandlingMode { get; init; } = "bytes";

    /// <summary>Name of the single key column when a plain <c>json</c> message key is not a JSON object. Default <c>key</c>.</summary>
    public string ScalarKeyColumn { get; init; } = "key";

    /// <summary>The connector's <c>unavailable.value.placeholder</c>: a row column holding it (in the
    /// form Debezium gives the column's type) decodes as <see cref="FieldValue.Unavailable"/>. Default
    /// Debezium's <c>__debezium_unavailable_value</c>.</summary>
    public string UnavailableValuePlaceholder { get; init; } = "__debezium_unavailable_value";
}

/// <summary>A message that cannot be decoded. The message says what and where (field path); the
/// runtime adds topic and position and sends the message to the dead-letter target.</summary>
public class DecodeException : Exception
{
    public DecodeException(string message)
        : base(message)
    {
    }

    public DecodeException(string message, Exception inner)
        : base(message, inner)
    {
    }

    public DecodeException()
    {
    }
}
