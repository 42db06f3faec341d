using Sync.Engine.Formats;

namespace Sync.Compliance.Erasure.Steps;

/// <summary>A subject binding with what it takes to read its materializer's messages. <see cref="For"/>,
/// <see cref="Reads"/> and <see cref="ChangeOf"/> are the one place erasure decides which topics a
/// materializer reads and decodes a message as it would; the rest asks them.</summary>
public sealed class BindingReader
{
    private readonly MaterializerReading _reading;

    private BindingReader(SubjectBinding binding, MaterializerReading reading)
    {
        Binding = binding;
        _reading = reading;
    }

    public SubjectBinding Binding { get; }

    /// <summary>The materializer's message format, which a scrub re-encodes.</summary>
    public string Format => _reading.Options.Format;

    public static BindingReader For(BoundMaterializer bound, SyncConfig config, SyncComponents components)
    {
        ArgumentNullException.ThrowIfNull(bound);
        return new(bound.Binding, MaterializerReading.Of(config, components, bound.Binding.Materializer, bound.Options));
    }

    /// <summary>True for the materializer's topics, by name or, for a partition, by its topic's name.</summary>
    public bool Reads(string topic) => _reading.Reads(topic);

    /// <summary>The message decoded and mapped as its materializer would; null when it does not decode or map.</summary>
    public ChangeEvent? ChangeOf(SourceMessage message)
    {
        try
        {
            return _reading.Decode(message);
        }
        catch (Exception e) when (e is DecodeException or MapException)
        {
            return null;
        }
    }

    /// <summary>The requested subjects that own the message's key (<see cref="SubjectValues.Owning"/>),
    /// and those named only in the before image of an upsert that belongs to someone else; both
    /// empty for a tombstone or a message that does not decode.</summary>
    public SubjectClaims ClaimsIn(SourceMessage message, HashSet<string> keys)
    {
        ArgumentNullException.ThrowIfNull(message);
        ArgumentNullException.ThrowIfNull(keys);
        if (message.IsTombstone || ChangeOf(message) is not { } change)
        {
            return new([], [], null);
        }

        var owning = SubjectValues.Owning(change, Binding).Where(keys.Contains).ToHashSet(StringComparer.Ordinal);
        if (owning.Count > 0 || !SubjectValues.IsUpsert(change))
        {
            return new(owning, [], change);
        }

        return new(owning, SubjectValues.In(change.Before, Binding).Where(keys.Contains).ToHashSet(StringComparer.Ordinal), change);
    }

    /// <summary>The requested subjects the message references (none for a tombstone or a message that does not decode).</summary>
    public IReadOnlyCollection<string> SubjectsIn(SourceMessage message, HashSet<string> keys)
    {
        ArgumentNullException.ThrowIfNull(message);
        return message.IsTombstone ? [] : SubjectsInLetter(message, keys) ?? [];
    }

    /// <summary>As <see cref="SubjectsIn"/> for a dead letter, whose key alone (a tombstone's) may
    /// name a subject; null when the letter does not decode or map.</summary>
    public IReadOnlyCollection<string>? SubjectsInLetter(SourceMessage message, HashSet<string> keys)
    {
        ArgumentNullException.ThrowIfNull(keys);
        return ChangeOf(message) is { } change ? [.. SubjectValues.Of(change, Binding).Where(keys.Contains).Distinct(StringComparer.Ordinal)] : null;
    }
}

/// <summary>What one message claims of the requested subjects (see <see cref="BindingReader.ClaimsIn"/>).</summary>
/// <param name="Owning">Subjects whose current state the message is: its key gets a tombstone.</param>
/// <param name="BeforeOnly">Subjects named only in the before image of a row now someone else's: the message is scrubbed.</param>
/// <param name="Change">The decoded change; null for a tombstone or a message that does not decode.</param>
public sealed record SubjectClaims(IReadOnlyCollection<string> Owning, IReadOnlyCollection<string> BeforeOnly, ChangeEvent? Change);
