namespace Sync.Engine.Config;

/// <summary>A source or sink from the config: its name, type and bound options.</summary>
public sealed record ComponentConfig(string Name, string Type, object Options, int Line);

/// <summary>How one materializer identifies a data subject: by the message key's column or by a row column.</summary>
public sealed record SubjectBinding(string Materializer, string? Key, string? Field);

/// <summary>A kind of data subject (e.g. <c>customer</c>) and where it lives.</summary>
public sealed record SubjectConfig(string Name, IReadOnlyList<SubjectBinding> Bindings);

/// <summary>A loaded, validated config.</summary>
public sealed class SyncConfig
{
    public required string FilePath { get; init; }

    /// <summary>Folder that relative paths in the config are resolved against: the config file's folder.</summary>
    public required string BaseDirectory { get; init; }

    public required IReadOnlyDictionary<string, ComponentConfig> Sources { get; init; }

    public required IReadOnlyDictionary<string, ComponentConfig> Sinks { get; init; }

    /// <summary>Materializers in file order.</summary>
    public required IReadOnlyList<KeyValuePair<string, MaterializerOptions>> Materializers { get; init; }

    public required IReadOnlyDictionary<string, SubjectConfig> Subjects { get; init; }

    public ErasureOptions Erasure { get; init; } = new();

    /// <summary>The top-level error policy (<c>errors:</c>), which each materializer's own <c>errors</c> keys override.</summary>
    public ErrorsOptions Errors { get; init; } = new();

    /// <summary>Consistency groups (<c>consistency:</c>) by name, in file order.</summary>
    public IReadOnlyList<KeyValuePair<string, ConsistencyGroupOptions>> ConsistencyGroups { get; init; } = [];

    /// <summary>The consistency group <paramref name="materializer"/> belongs to, or null.</summary>
    public string? ConsistencyGroupOf(string materializer) =>
        ConsistencyGroups.FirstOrDefault(g => g.Value.Materializers.Contains(materializer, StringComparer.Ordinal)).Key;

    /// <summary>The error policy a materializer runs with.</summary>
    public ErrorPolicy ErrorPolicyOf(MaterializerOptions options) => ErrorPolicy.Of(Errors, options?.Errors);

    /// <summary>The suppression ledger file, for a <see cref="LedgerKind.File"/> ledger.</summary>
    public string LedgerPath => Erasure.Ledger.File ?? Path.Combine(BaseDirectory, "sync-ledger.db");

    /// <summary>The subjects a materializer carries, with how each is identified in it.</summary>
    public IEnumerable<(string Subject, SubjectBinding Binding)> SubjectsOf(string materializer) =>
        Subjects.Values.SelectMany(s => s.Bindings.Where(b => b.Materializer == materializer).Select(b => (s.Name, b)));

    public string DeadLetterPath(string materializer, MaterializerOptions options) =>
        options.DeadLetter ?? Path.Combine(BaseDirectory, $"{materializer}.deadletter.jsonl");

    /// <summary>The materializer's dead-letter target: as configured, else a topic on a source with
    /// topics (unless a <c>deadLetter</c> file is named) and a file on any other source.</summary>
    public DeadLetterKind DeadLetterKindOf(MaterializerOptions options) =>
        options.DeadLetterTarget
        ?? (options.DeadLetter is null && Sources.TryGetValue(options.Source, out var source) && source.Options is ITopicSourceOptions
            ? DeadLetterKind.Topic
            : DeadLetterKind.File);
}

/// <summary>The known source and sink types and their options types.</summary>
public sealed class ComponentTypes
{
    public Dictionary<string, Type> Sources { get; } = new(StringComparer.Ordinal);

    public Dictionary<string, Type> Sinks { get; } = new(StringComparer.Ordinal);

    /// <summary>Per sink type, the options type of a materializer's <c>target:</c> block.</summary>
    public Dictionary<string, Type> SinkTargets { get; } = new(StringComparer.Ordinal);

    /// <summary>Sink types that keep a dead-letter table (<c>deadLetterTarget: table</c>).</summary>
    public HashSet<string> DeadLetterTableSinks { get; } = new(StringComparer.Ordinal);

    /// <summary>Sink types that can keep a shared suppression ledger (<c>erasure.ledger.postgres</c>).</summary>
    public HashSet<string> LedgerSinks { get; } = new(StringComparer.Ordinal);

    /// <summary>Sink types that apply several materializers' batches in one transaction (consistency groups).</summary>
    public HashSet<string> TransactionalSinks { get; } = new(StringComparer.Ordinal);

    /// <summary>Names of the message formats that can be decoded.</summary>
    public List<string> Formats { get; } = [];

    /// <summary>The source types whose materializers read topics (<see cref="ITopicSourceOptions"/>).</summary>
    public IEnumerable<string> TopicSources =>
        Sources.Where(s => s.Value.IsAssignableTo(typeof(ITopicSourceOptions))).Select(s => s.Key).Order(StringComparer.Ordinal);
}
