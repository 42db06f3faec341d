namespace Sync.Sinks;

/// <summary>What every sink factory shares: its config <c>type</c>, the options types the config
/// binds, its <c>sync check</c> and the cast of the bound options; a sink says only how it opens and
/// what differs from the defaults.</summary>
/// <typeparam name="TOptions">The sink's options (the <c>sinks.&lt;name&gt;</c> block).</typeparam>
/// <typeparam name="TCheck">The sink's preflight check for <c>sync check</c>.</typeparam>
public abstract class SinkFactory<TOptions, TCheck>(string type, Type? targetOptionsType = null) : ISinkFactory, IPreflightCheck
    where TCheck : IPreflightCheck, new()
{
    public string Type => type;

    public Type OptionsType => typeof(TOptions);

    public Type? TargetOptionsType => targetOptionsType;

    public virtual bool KeepsDeadLetterTable => false;

    public virtual bool RebuildsWhenEmpty => false;

    public ValueTask<IReadOnlyList<CheckFinding>> CheckAsync(CheckScope scope, CancellationToken cancellationToken) =>
        new TCheck().CheckAsync(scope, cancellationToken);

    public ValueTask<ISink> OpenAsync(ComponentConfig sink, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(sink);
        return OpenAsync(sink.Name, (TOptions)sink.Options, cancellationToken);
    }

    protected abstract ValueTask<ISink> OpenAsync(string name, TOptions options, CancellationToken cancellationToken);
}

/// <summary>How every sink opens: its arguments and options are checked the way the config loader
/// checks them, and a sink whose first work fails (connect, create its state) is disposed, so that
/// nothing it half-opened outlives the failure.</summary>
internal static class SinkOpening
{
    /// <summary>Throws <see cref="ArgumentException"/> listing every problem of the options of sink
    /// <paramref name="name"/>; otherwise creates the sink and runs <paramref name="firstWork"/> on it.</summary>
    public static async Task<TSink> OpenAsync<TSink>(string name, IValidatable options, TimeProvider time, Func<TSink> create, Func<TSink, Task> firstWork)
        where TSink : IAsyncDisposable
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(time);
        var problems = options.Validate("sinks." + name);
        if (problems.Count > 0)
        {
            throw new ArgumentException(string.Join("; ", problems), nameof(options));
        }

        var sink = create();
        try
        {
            await firstWork(sink);
        }
        catch
        {
            await sink.DisposeAsync();
            throw;
        }

        return sink;
    }
}
