namespace Sync.Sinks.Postgres;

/// <summary>Opens <c>type: postgres</c> sinks.</summary>
public sealed class PostgresSinkFactory : ISinkFactory, Sync.Engine.Checks.IPreflightCheck
{
    public ValueTask<IReadOnlyList<Sync.Engine.Checks.CheckFinding>> CheckAsync(Sync.Engine.Checks.CheckScope scope, CancellationToken cancellationToken) =>
        new PostgresPreflightCheck().CheckAsync(scope, cancellationToken);

    public string Type => "postgres";

    public Type OptionsType => typeof(PostgresSinkOptions);

    public Type? TargetOptionsType => typeof(PostgresTargetOptions);

    public bool KeepsDeadLetterTable => true;

    public async ValueTask<ISink> OpenAsync(ComponentConfig sink, CancellationToken cancellationToken) =>
        await PostgresSink.OpenAsync(sink.Name, (PostgresSinkOptions)sink.Options, cancellationToken);
}
