namespace Sync.Compliance.Erasure.Steps;

/// <summary>A materializer the subject is bound to: the binding (its subject column) and the materializer's options.</summary>
public sealed record BoundMaterializer(SubjectBinding Binding, MaterializerOptions Options)
{
    public string Materializer => Binding.Materializer;

    public string Sink => Options.Sink;

    /// <summary>The sink target the materializer writes.</summary>
    public TargetSpec Target => new(Options.Table) { Options = Options.Target };

    /// <summary>The subject column as the report names it.</summary>
    public string Match => Binding.Key is { } key ? $"key column {key}" : $"column {Binding.Field}";
}
