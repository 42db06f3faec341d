namespace Sync.Engine.Config;

/// <summary>The top-level sections of a config file: the one list that the loader accepts and the
/// JSON Schema (<see cref="ConfigSchema"/>) describes.</summary>
public static class ConfigSections
{
    public const string Sources = "sources";
    public const string Sinks = "sinks";
    public const string Materializers = "materializers";
    public const string Subjects = "subjects";
    public const string Erasure = "erasure";
    public const string Errors = "errors";
    public const string Consistency = "consistency";

    /// <summary>Every section, in the order the documentation shows them, with what it holds.</summary>
    public static IReadOnlyList<(string Name, bool Required, string Description)> All { get; } =
    [
        (Sources, true, "Where changes come from: names mapped to a `type` (`file` or `pulsar`) and its settings."),
        (Sinks, true, "Where changes go: names mapped to a `type` (`postgres`, `redis`, `sqlite`, `elasticsearch`) and its settings."),
        (Materializers, true, "Names mapped to one source's topics, decoded with one format, written into one sink target."),
        (Subjects, false, "Kinds of data subject (e.g. `customer`) for `sync erase`: materializer names mapped to `{ key: COLUMN }` or `{ field: COLUMN }`."),
        (Erasure, false, "Settings of `sync erase` and of suppression in the runtime."),
        (Errors, false, "The error policy of every materializer (each may override it)."),
        (Consistency, false, "Consistency groups: names mapped to a transaction topic and the materializers that apply each source transaction whole, in one sink transaction."),
    ];

    public static IReadOnlyList<string> Names { get; } = [.. All.Select(s => s.Name)];
}
