namespace Sync.Sinks.Sqlite;

/// <summary>Opens <c>type: sqlite</c> sinks.</summary>
public sealed class SqliteSinkFactory() : SinkFactory<SqliteSinkOptions, SqlitePreflightCheck>("sqlite"), ISinkFactory
{
    public bool AppliesTransactions => true;

    public override bool KeepsDeadLetterTable => true;

    protected override async ValueTask<ISink> OpenAsync(string name, SqliteSinkOptions options, CancellationToken cancellationToken) =>
        await SqliteSink.OpenAsync(name, options, cancellationToken);
}
