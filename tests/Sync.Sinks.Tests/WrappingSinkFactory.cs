namespace Sync.Sinks.Tests;

/// <summary>Opens the sinks of <paramref name="inner"/> wrapped by <paramref name="wrap"/> (a test's
/// interference: a restore, a refusal), and describes them as <paramref name="inner"/> does, so that the
/// config is validated and the run goes as with the plain sink.</summary>
public sealed class WrappingSinkFactory(ISinkFactory inner, Func<ISink, ISink> wrap) : ISinkFactory
{
    public string Type => inner.Type;

    public Type OptionsType => inner.OptionsType;

    public Type? TargetOptionsType => inner.TargetOptionsType;

    public bool KeepsDeadLetterTable => inner.KeepsDeadLetterTable;

    public bool RebuildsWhenEmpty => inner.RebuildsWhenEmpty;

    public bool AppliesTransactions => inner.AppliesTransactions;

    public async ValueTask<ISink> OpenAsync(ComponentConfig sink, CancellationToken cancellationToken) =>
        wrap(await inner.OpenAsync(sink, cancellationToken));
}
