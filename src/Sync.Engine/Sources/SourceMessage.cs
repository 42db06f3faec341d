using System.Diagnostics.CodeAnalysis;

namespace Sync.Engine.Sources;

/// <summary>One message as a source delivers it, before decoding: the same shape for a Pulsar
/// topic and a changelog file.</summary>
public sealed class SourceMessage
{
    // The origin every change decoded from this message carries, held instead of a copy of each
    // of its parts (one object per message where there were two). A message built from an origin
    // shares it until an initialiser changes one of its parts, which then fills in a copy.
    private Origin _origin;
    private bool _originShared;

    public SourceMessage() => _origin = Origin.Unfilled();

    /// <summary>A message whose topic, position, key, times and properties are those of <paramref name="origin"/>.</summary>
    // The required parts live in the origin, which the compiler's nullable analysis cannot see.
#pragma warning disable CS8618
    [SetsRequiredMembers]
    public SourceMessage(Origin origin)
    {
        ArgumentNullException.ThrowIfNull(origin);
        _origin = origin;
        _originShared = true;
    }
#pragma warning restore CS8618

    public required string Topic { get => _origin.Topic; init => Unshared().Fill(value); }

    public required StreamPosition Position { get => _origin.Position; init => Unshared().Fill(value); }

    public MessageKey Key { get => _origin.Key; init => Unshared().Fill(value); }

    /// <summary>The value bytes (UTF-8 JSON for the formats we decode). Empty for a tombstone.</summary>
    public ReadOnlyMemory<byte> Value { get; init; }

    /// <summary>False for a null value (Pulsar null_value, or <c>"value": null</c> in a changelog file).</summary>
    public bool HasValue { get; init; } = true;

    public IReadOnlyDictionary<string, string> Properties { get => _origin.Properties; init => Unshared().Fill(value); }

    public DateTimeOffset? PublishTime { get => _origin.PublishTime; init => Unshared().FillPublishTime(value); }

    public DateTimeOffset? EventTime { get => _origin.EventTime; init => Unshared().FillEventTime(value); }

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
    public SourceMessage WithKeyValueEncoding(KeyValueEncoding encoding, InlineKeyValue? inline = null) => new(_origin)
    {
        Value = Value,
        HasValue = HasValue,
        KeyValueEncoding = encoding,
        Inline = inline,
    };

    /// <summary>This message with copies of its bytes, for one kept after its batch is acknowledged:
    /// a source may then reuse the buffer its bytes lie in (<see cref="ISourceReader.AcknowledgeAsync"/>).</summary>
    public SourceMessage Detached() => new(_origin)
    {
        Value = Value.ToArray(),
        HasValue = HasValue,
        KeyValueEncoding = KeyValueEncoding,
        Inline = Inline is { } inline ? inline with { Payload = inline.Payload.ToArray() } : null,
    };

    /// <summary>Where the message came from, for error messages: <c>topic @ position</c>.</summary>
    public string Describe() => $"{Topic} @ {Position}";

    /// <summary>Where the message came from, as the changes decoded from it carry it (one object per message).</summary>
    public Origin ToOrigin() => _origin;

    private Origin Unshared()
    {
        if (_originShared)
        {
            _origin = _origin.Copy();
            _originShared = false;
        }

        return _origin;
    }
}
