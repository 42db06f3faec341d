namespace Sync.Compliance.Erasure.Steps;

/// <summary>A topic of a source, as the erasure's steps key their findings.</summary>
public sealed record TopicRef(string Source, string Topic);

/// <summary>What the plan found on one topic.</summary>
public sealed class TopicPlan(ComponentConfig source)
{
    public ComponentConfig Source { get; } = source;

    /// <summary>Keys whose current state names a subject: they get a tombstone.</summary>
    public HashSet<MessageKey> Keys { get; } = [];

    /// <summary>Keys whose latest message names a subject only in the before image of a row that
    /// now belongs to someone else: that message is re-published without its before image.</summary>
    public Dictionary<MessageKey, Scrub> Scrubs { get; } = [];

    /// <summary>Keys already deleted whose history names a subject: compacted only.</summary>
    public HashSet<MessageKey> Deleted { get; } = [];

    public HashSet<string> Materializers { get; } = new(StringComparer.Ordinal);

    /// <summary>The requested subjects its messages reference.</summary>
    public HashSet<string> Subjects { get; } = new(StringComparer.Ordinal);

    /// <summary>Every key compaction must reach: tombstoned, deleted and scrubbed.</summary>
    public IReadOnlyCollection<MessageKey> KeysToCompact => [.. Keys, .. Deleted, .. Scrubs.Keys];
}

/// <summary>A key's latest message to re-publish without its before image, in the format it was read in.</summary>
public sealed record Scrub(SourceMessage Message, string Format);
