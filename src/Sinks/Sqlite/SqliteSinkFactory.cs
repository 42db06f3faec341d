namespace Sync.Sinks.Sqlite;

/// <summary>Opens <c>type: sqlite</c> sinks.</summary>
public sealed class SqliteSinkFactory : ISinkFactory, Sync.Engine.Checks.IPreflightCheck
{
    public ValueTask<IReadOnlyList<Sync.Engine.Checks.CheckFinding>> CheckAsync(Sync.Engine.Checks.CheckScope scope, CancellationToken cancellationToken) =>
        new SqlitePreflightCheck().CheckAsync(scope, cancellationToken);

    public string Type => "sqlite";

    public Type OptionsType => typeof(SqliteSinkOptions);

    public bool KeepsDeadLetterTable => true;

    public async ValueTask<ISink> OpenAsync(ComponentConfig sink, CancellationToken cancellationToken) =>
        await SqliteSink.OpenAsync(sink.Name, (SqliteSinkOptions)sink.Options, cancellationToken);
}
