namespace Sync.Engine.Sources;

/// <summary>One message as a source delivers it, before decoding: the same shape for a Pulsar
/// topic and a changelog file.</summary>
public sealed class SourceMessage
{
    public required string Topic { get; init; }

    public required StreamPosition Position { get; init; }

    public MessageKey Key { get; init; }

    /// <summary>The value bytes (UTF-8 JSON for the formats we decode). Empty for a tombstone.</summary>
    public ReadOnlyMemory<byte> Value { get; init; }

    /// <summary>False for a null value (Pulsar null_value, or <c>"value": null</c> in a changelog file).</summary>
    public bool HasValue { get; init; } = true;

    public IReadOnlyDictionary<string, string> Properties { get; init; } = Origin.EmptyProperties;

    public DateTimeOffset? PublishTime { get; init; }

    public DateTimeOffset? EventTime { get; init; }

    /// <summary>How the message carried key and value (Pulsar KeyValue schemas); <see cref="KeyValueEncoding.None"/> when not known.</summary>
    public KeyValueEncoding KeyValueEncoding { get; init; }

    /// <summary>For an INLINE KeyValue message, its payload and message key as they travelled
    /// (<see cref="Key"/> and <see cref="Value"/> hold what the payload carried); null otherwise.</summary>
    public InlineKeyValue? Inline { get; init; }

    /// <summary>True when the message deletes its key: a null or empty value.</summary>
    public bool IsTombstone => !HasValue || Value.IsEmpty;

    /// <summary>The stream position held by a property (a copy's property naming the message it
    /// copies); null when the message does not carry it.</summary>
    public StreamPosition? PositionProperty(string name) =>
        Properties.Count != 0 && Properties.TryGetValue(name, out var position) ? StreamPosition.Parse(position) : null;

    /// <summary>This message, as it travelled, marked as carried in <paramref name="encoding"/>
    /// (with <paramref name="inline"/> for an INLINE one).</summary>
    public SourceMessage WithKeyValueEncoding(KeyValueEncoding encoding, InlineKeyValue? inline = null) => new()
    {
        Topic = Topic,
        Position = Position,
        Key = Key,
        Value = Value,
        HasValue = HasValue,
        Properties = Properties,
        PublishTime = PublishTime,
        EventTime = EventTime,
        KeyValueEncoding = encoding,
        Inline = inline,
    };

    /// <summary>Where the message came from, for error messages: <c>topic @ position</c>.</summary>
    public string Describe() => $"{Topic} @ {Position}";

    public Origin ToOrigin() => new()
    {
        Topic = Topic,
        Position = Position,
        Key = Key,
        PublishTime = PublishTime,
        EventTime = EventTime,
        Properties = Properties,
    };
}
