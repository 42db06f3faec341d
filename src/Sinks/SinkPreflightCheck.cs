namespace Sync.Sinks;

/// <summary>What every sink's <c>sync check</c> starts with: the sink's name and its bound options.</summary>
/// <typeparam name="TOptions">The sink's options (the <c>sinks.&lt;name&gt;</c> block).</typeparam>
public abstract class SinkPreflightCheck<TOptions> : IPreflightCheck
{
    public ValueTask<IReadOnlyList<CheckFinding>> CheckAsync(CheckScope scope, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(scope);
        return CheckAsync(scope, scope.Component.Name, (TOptions)scope.Component.Options, cancellationToken);
    }

    /// <param name="scope">The sink and the materializers that write to it.</param>
    /// <param name="name">The sink's name, for the config paths findings point at.</param>
    /// <param name="options">The sink's options.</param>
    protected abstract ValueTask<IReadOnlyList<CheckFinding>> CheckAsync(CheckScope scope, string name, TOptions options, CancellationToken cancellationToken);
}
