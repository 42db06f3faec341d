using Sync.Engine.Ledger;

namespace Sync.Sinks.Postgres;

/// <summary>Opens <c>type: postgres</c> sinks; a materializer's <c>target:</c> block binds to <see cref="PostgresTargetOptions"/>.</summary>
public sealed class PostgresSinkFactory() : SinkFactory<PostgresSinkOptions, PostgresPreflightCheck>("postgres", typeof(PostgresTargetOptions)), ISinkFactory
{
    public bool HostsLedger => true;

    public bool AppliesTransactions => true;

    public ISuppressionLedger OpenLedger(ComponentConfig sink, string schema)
    {
        ArgumentNullException.ThrowIfNull(sink);
        return new PostgresSuppressionLedger(sink.Name, (PostgresSinkOptions)sink.Options, schema);
    }

    public override bool KeepsDeadLetterTable => true;

    protected override async ValueTask<ISink> OpenAsync(string name, PostgresSinkOptions options, CancellationToken cancellationToken) =>
        await PostgresSink.OpenAsync(name, options, cancellationToken);
}
