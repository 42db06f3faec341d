namespace Sync.Engine.Checks;

/// <summary>What one component's pre-flight check looks at: the component and the materializers
/// that read from it (a source) or write into it (a sink), in file order.</summary>
public sealed record CheckScope(ComponentConfig Component, IReadOnlyList<KeyValuePair<string, MaterializerOptions>> Materializers, SyncConfig Config);
